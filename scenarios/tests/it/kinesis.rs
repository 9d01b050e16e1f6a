//! Kinesis Data Streams through the AWS SDK for Rust (`aws-sdk-kinesis`), unmodified: a stream
//! made and described, records put and read back in order per partition key, paging through
//! shards, and Kinesis's errors as the SDK's typed errors.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StreamMode, StreamModeDetails, StreamStatus};
use veritrail_scenarios::{sdk_config, spawn};

fn kinesis_client(url: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config(url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_makes_a_stream_puts_records_and_reads_them_back_in_order() {
    let emulator = spawn().await.unwrap();
    let k = kinesis_client(&emulator.url);
    k.create_stream()
        .stream_name("journal")
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let summary = k
        .describe_stream_summary()
        .stream_name("journal")
        .send()
        .await
        .unwrap();
    let summary = summary.stream_description_summary().unwrap();
    assert_eq!(summary.stream_status(), &StreamStatus::Active);
    assert_eq!(summary.open_shard_count(), 4);
    let arn = summary.stream_arn().to_owned();

    // Ten versions of each of three documents: each document's records stay in order.
    let mut puts = Vec::new();
    for version in 0..10 {
        for doc in ["a", "b", "c"] {
            puts.push(
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(doc)
                    .data(Blob::new(format!("{doc}:{version}")))
                    .build()
                    .unwrap(),
            );
        }
    }
    let put = k
        .put_records()
        .stream_arn(&arn)
        .set_records(Some(puts))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_record_count(), Some(0));
    assert_eq!(put.records().len(), 30);
    let one = k
        .put_record()
        .stream_name("journal")
        .partition_key("a")
        .data(Blob::new("a:10"))
        .send()
        .await
        .unwrap();
    assert!(one.sequence_number().len() == 56);

    let shards = k
        .list_shards()
        .stream_name("journal")
        .max_results(3)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = shards
        .shards()
        .iter()
        .map(|s| s.shard_id().to_owned())
        .collect();
    let more = k
        .list_shards()
        .next_token(shards.next_token().unwrap())
        .send()
        .await
        .unwrap();
    ids.extend(more.shards().iter().map(|s| s.shard_id().to_owned()));
    assert_eq!(ids.len(), 4);

    let mut seen: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    let mut total = 0;
    for shard in &ids {
        let mut it = k
            .get_shard_iterator()
            .stream_name("journal")
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_owned);
        let mut last_seq = String::new();
        while let Some(token) = it {
            let page = k
                .get_records()
                .shard_iterator(token)
                .limit(4)
                .send()
                .await
                .unwrap();
            for r in page.records() {
                assert!(r.sequence_number() > last_seq.as_str());
                last_seq = r.sequence_number().to_owned();
                let text = String::from_utf8(r.data().as_ref().to_vec()).unwrap();
                let (doc, version) = text.split_once(':').unwrap();
                assert_eq!(doc, r.partition_key());
                seen.entry(doc.to_owned())
                    .or_default()
                    .push(version.parse().unwrap());
                total += 1;
            }
            if page.records().is_empty() {
                assert_eq!(page.millis_behind_latest(), Some(0));
                break;
            }
            it = page.next_shard_iterator().map(str::to_owned);
        }
    }
    assert_eq!(total, 31);
    for (doc, versions) in &seen {
        let want: Vec<u32> = (0..versions.len() as u32).collect();
        assert_eq!(versions, &want, "{doc}");
    }

    // Kinesis's errors, typed.
    let e = k
        .create_stream()
        .stream_name("journal")
        .shard_count(1)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_in_use_exception(), "{e:?}");
    let e = k
        .describe_stream()
        .stream_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = k
        .get_records()
        .shard_iterator("bm90IGFuIGl0ZXJhdG9y")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    k.delete_stream()
        .stream_name("journal")
        .send()
        .await
        .unwrap();
    let streams = k.list_streams().send().await.unwrap();
    assert!(streams.stream_names().is_empty());
}
