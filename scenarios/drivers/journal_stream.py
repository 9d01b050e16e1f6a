"""The second seed recipe's consumer side, unmodified clients against the emulator at argv[1]
after the AWS CLI has made Kinesis stream argv[2] and started journal stream argv[3] of ledger
argv[4] into it (aggregation on): documents inserted and updated through pyqldb (3.2.3 with boto3
1.40.60), then the Kinesis records read with boto3 and de-aggregated with the published
aws-kinesis-agg library, and QLDB's records found in them: CONTROL CREATED, a BLOCK_SUMMARY per
block, the documents' REVISION_DETAILS in version order. Prints the id of the document it
updated."""

import base64
import sys
import time

import amazon.ion.simpleion as ion
import boto3
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from pyqldb.driver.qldb_driver import QldbDriver

URL, STREAM_ARN, JOURNAL_STREAM_ID, LEDGER = sys.argv[1:5]
ARGS = dict(region_name="us-east-1", endpoint_url=URL,
            aws_access_key_id="AKIDBOTO3", aws_secret_access_key="secret")
kinesis = boto3.client("kinesis", **ARGS)
driver = QldbDriver(LEDGER, region_name="us-east-1", endpoint_url=URL,
                    aws_access_key_id="AKIDBOTO3", aws_secret_access_key="secret")

driver.execute_lambda(lambda t: t.execute_statement("CREATE TABLE Vehicle"))
ids = driver.execute_lambda(lambda t: [r["documentId"] for r in t.execute_statement(
    "INSERT INTO Vehicle ?", [{"VIN": "1N4AL11D75C109151", "Owner": "Alice"},
                              {"VIN": "KM8SRDHF6EU074761", "Owner": "Bob"}])])
for owner in ["Carol", "Dave"]:
    driver.execute_lambda(lambda t: t.execute_statement(
        "UPDATE Vehicle SET Owner = ? WHERE VIN = '1N4AL11D75C109151'", owner))
updated = ids[0]


def read_all():
    shards = kinesis.list_shards(StreamARN=STREAM_ARN)["Shards"]
    raw, users = [], []
    for shard in shards:
        it = kinesis.get_shard_iterator(StreamARN=STREAM_ARN, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = kinesis.get_records(ShardIterator=it, StreamARN=STREAM_ARN)
            raw.extend(page["Records"])
            for user in iter_deaggregate_records(page["Records"], data_format="Boto3"):
                # A user record taken out of a KPL aggregate comes back base64-encoded, as
                # Lambda delivers records; one that was not aggregated is boto3's raw bytes.
                data = user["kinesis"]["data"]
                users.append(base64.b64decode(data) if user["kinesis"].get("aggregated") else data)
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            it = page.get("NextShardIterator")
    return raw, [ion.loads(u) for u in users]


# The journal stream runs once a second: wait for the last update to arrive.
deadline = time.time() + 30
while True:
    raw, records = read_all()
    versions = [r["payload"]["revision"]["metadata"]["version"] for r in records
                if r["recordType"] == "REVISION_DETAILS"
                and r["payload"]["revision"]["metadata"]["id"] == updated]
    if versions == [0, 1, 2]:
        break
    assert time.time() < deadline, f"the stream has {len(records)} records, versions {versions}"
    time.sleep(0.5)

assert all(r["Data"][:4] == b"\xf3\x89\x9a\xc2" for r in raw), "a record is not KPL-aggregated"
assert len(records) > len(raw), (len(records), len(raw))
controls = [r["payload"]["controlRecordType"] for r in records if r["recordType"] == "CONTROL"]
assert controls == ["CREATED"], controls
arns = {r["qldbStreamArn"] for r in records}
assert arns == {f"arn:aws:qldb:us-east-1:000000000000:stream/{LEDGER}/{JOURNAL_STREAM_ID}"}, arns
summaries = [r["payload"] for r in records if r["recordType"] == "BLOCK_SUMMARY"]
seqs = [s["blockAddress"]["sequenceNo"] for s in summaries]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
details = [r["payload"] for r in records if r["recordType"] == "REVISION_DETAILS"]
owners = [d["revision"]["data"]["Owner"] for d in details
          if d["revision"]["metadata"]["id"] == updated]
assert owners == ["Alice", "Carol", "Dave"], owners
assert all(d["tableInfo"]["tableName"] == "Vehicle" for d in details
           if d["revision"]["metadata"]["id"] in ids)
summary_docs = {s["documentId"] for p in summaries for s in p["revisionSummaries"] if "documentId" in s}
assert set(ids) <= summary_docs
driver.close()
print(updated)
print("journal stream consumer: ok")
