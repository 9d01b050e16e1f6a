"""Kinesis Data Streams through boto3 (1.40.60, the JSON protocol), unmodified, against the
emulator at argv[1] (started with clock control on): the stream_exists waiter, records put and
read back with every iterator type, an iterator expiring when the emulator's clock moves five
minutes, and the errors boto3 raises."""

import json
import sys
import urllib.request

import boto3

URL = sys.argv[1]
ARGS = dict(region_name="us-east-1", endpoint_url=URL,
            aws_access_key_id="AKIDBOTO3", aws_secret_access_key="secret")
kinesis = boto3.client("kinesis", **ARGS)


def advance(seconds):
    req = urllib.request.Request(URL + "/_veritrail/clock", method="POST",
                                 data=json.dumps({"advanceSeconds": seconds}).encode())
    urllib.request.urlopen(req).read()


kinesis.create_stream(StreamName="orders", ShardCount=2)
kinesis.get_waiter("stream_exists").wait(StreamName="orders", WaiterConfig={"Delay": 1})
desc = kinesis.describe_stream(StreamName="orders")["StreamDescription"]
assert desc["StreamStatus"] == "ACTIVE", desc
assert [s["ShardId"] for s in desc["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]

first = kinesis.put_record(StreamName="orders", PartitionKey="order-1", Data=b"created")
second = kinesis.put_record(StreamName="orders", PartitionKey="order-1", Data=b"paid")
assert first["ShardId"] == second["ShardId"]
assert int(first["SequenceNumber"]) < int(second["SequenceNumber"])
shard = first["ShardId"]

batch = kinesis.put_records(StreamName="orders", Records=[
    {"PartitionKey": "order-1", "Data": b"shipped"},
    {"PartitionKey": "x", "Data": b"low", "ExplicitHashKey": "0"},
])
assert batch["FailedRecordCount"] == 0, batch


def read(kind, **kw):
    it = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard, ShardIteratorType=kind, **kw)
    return kinesis.get_records(ShardIterator=it["ShardIterator"])


got = [r["Data"] for r in read("TRIM_HORIZON")["Records"] if r["PartitionKey"] == "order-1"]
assert got == [b"created", b"paid", b"shipped"], got
got = read("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=first["SequenceNumber"])["Records"]
assert got[0]["Data"] == b"paid", got
got = read("AT_SEQUENCE_NUMBER", StartingSequenceNumber=first["SequenceNumber"])["Records"]
assert got[0]["Data"] == b"created", got
assert read("LATEST")["Records"] == []
arrival = got[0]["ApproximateArrivalTimestamp"]
got = read("AT_TIMESTAMP", Timestamp=arrival)["Records"]
assert got[0]["Data"] == b"created", got

it = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard,
                                 ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
advance(301)
try:
    kinesis.get_records(ShardIterator=it)
    raise AssertionError("an iterator older than five minutes was accepted")
except kinesis.exceptions.ExpiredIteratorException:
    pass

try:
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    raise AssertionError("a second stream of the same name was made")
except kinesis.exceptions.ResourceInUseException as e:
    assert "already exists" in str(e), e
try:
    kinesis.describe_stream_summary(StreamName="gone")
    raise AssertionError("a missing stream was described")
except kinesis.exceptions.ResourceNotFoundException:
    pass

kinesis.delete_stream(StreamName="orders")
assert kinesis.list_streams()["StreamNames"] == []
print("boto3 kinesis flows: ok")
