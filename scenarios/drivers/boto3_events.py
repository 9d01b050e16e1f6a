"""EventBridge through boto3 (1.40.60), unmodified, against the emulator at argv[1]: a rule on
CloudTrail's StopLogging delivering to a queue, a rule -> topic -> queue chain through an input
transformer, read-only calls reaching only the rule that asked for them (state
ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS), an unreachable API destination ending in the
dead-letter queue, TestEventPattern, and the errors boto3 raises."""

import json
import socket
import sys
import time

import boto3
import botocore.exceptions

URL = sys.argv[1]
ARGS = dict(region_name="us-east-1", endpoint_url=URL,
            aws_access_key_id="AKIDBOTO3", aws_secret_access_key="secret")
events = boto3.client("events", **ARGS)
sqs = boto3.client("sqs", **ARGS)
sns = boto3.client("sns", **ARGS)
s3 = boto3.client("s3", **ARGS)
cloudtrail = boto3.client("cloudtrail", **ARGS)
ACCOUNT = "000000000000"


def queue(name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def first(url):
    """Waits for the deliveries, which leave the calls that made them at once."""
    for _ in range(200):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("nothing arrived on " + url)


def expect_error(code, call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
        return e.response["Error"]["Message"]
    raise AssertionError("expected " + code)


# A rule on StopLogging -> a queue; the same rule -> a topic through an input transformer ->
# a queue subscribed raw.
alerts_url, alerts_arn = queue("alerts")
fanout_url, fanout_arn = queue("fanout")
topic = sns.create_topic(Name="security")["TopicArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fanout_arn,
              Attributes={"RawMessageDelivery": "true"})
pattern = {"source": ["aws.cloudtrail"], "detail": {"eventName": ["StopLogging"]}}
arn = events.put_rule(Name="trail-stopped", EventPattern=json.dumps(pattern))["RuleArn"]
assert arn == "arn:aws:events:us-east-1:%s:rule/trail-stopped" % ACCOUNT, arn
put = events.put_targets(Rule="trail-stopped", Targets=[
    {"Id": "queue", "Arn": alerts_arn},
    {"Id": "topic", "Arn": topic, "InputTransformer": {
        "InputPathsMap": {"trail": "$.detail.requestParameters.name", "when": "$.time"},
        "InputTemplate": '{"trail": "<trail>", "at": "<when>"}'}},
])
assert put["FailedEntryCount"] == 0, put

# Read-only calls reach only the rule that asks for them.
reads = {}
for name, state in [("reads-all", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"), ("reads-plain", "ENABLED")]:
    reads[name], q_arn = queue(name)
    events.put_rule(Name=name, State=state,
                    EventPattern=json.dumps({"detail": {"eventName": ["DescribeTrails"]}}))
    events.put_targets(Rule=name, Targets=[{"Id": name, "Arn": q_arn}])
described = events.describe_rule(Name="reads-all")
assert described["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", described

s3.create_bucket(Bucket="trail-logs")
policy = {"Version": "2012-10-17", "Statement": [
    {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
     "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::trail-logs"},
    {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
     "Action": "s3:PutObject", "Resource": "arn:aws:s3:::trail-logs/AWSLogs/%s/*" % ACCOUNT,
     "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}]}
s3.put_bucket_policy(Bucket="trail-logs", Policy=json.dumps(policy))
cloudtrail.create_trail(Name="audit", S3BucketName="trail-logs")
cloudtrail.start_logging(Name="audit")
cloudtrail.describe_trails()
cloudtrail.stop_logging(Name="audit")

event = json.loads(first(alerts_url)[0]["Body"])
assert event["detail-type"] == "AWS API Call via CloudTrail", event
assert event["detail"]["eventName"] == "StopLogging", event
assert event["detail"]["userIdentity"]["accessKeyId"] == "AKIDBOTO3", event
transformed = json.loads(first(fanout_url)[0]["Body"])
assert transformed == {"trail": "audit", "at": event["time"]}, (transformed, event)
got = first(reads["reads-all"])
assert json.loads(got[0]["Body"])["detail"]["eventName"] == "DescribeTrails"
time.sleep(1.5)
assert sqs.receive_message(QueueUrl=reads["reads-plain"]).get("Messages", []) == []

# An API destination nobody answers, no retries: the event ends in the dead-letter queue.
dead_url, dead_arn = queue("undelivered")
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
closed = "http://127.0.0.1:%d/hook" % sock.getsockname()[1]
sock.close()
conn = events.create_connection(Name="siem", AuthorizationType="API_KEY", AuthParameters={
    "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"}})
dest = events.create_api_destination(Name="siem", ConnectionArn=conn["ConnectionArn"],
                                     InvocationEndpoint=closed, HttpMethod="POST")
events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}))
events.put_targets(Rule="orders", Targets=[{
    "Id": "siem", "Arn": dest["ApiDestinationArn"], "RoleArn": "arn:aws:iam::%s:role/invoke" % ACCOUNT,
    "RetryPolicy": {"MaximumRetryAttempts": 0}, "DeadLetterConfig": {"Arn": dead_arn}}])
put = events.put_events(Entries=[
    {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 7})},
    {"Source": "shop", "DetailType": "order"},
])
assert put["FailedEntryCount"] == 1, put
assert put["Entries"][1]["ErrorCode"] == "InvalidArgument", put
dead = first(dead_url)
assert json.loads(dead[0]["Body"])["detail"] == {"id": 7}
assert dead[0]["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "CONNECTION_FAILURE", dead

# TestEventPattern and errors.
assert events.test_event_pattern(
    EventPattern=json.dumps({"detail": {"state": [{"anything-but": "running"}]}}),
    Event=json.dumps({"id": "1", "account": ACCOUNT, "source": "ec2", "time": "2024-01-01T00:00:00Z",
                      "region": "us-east-1", "resources": [], "detail-type": "x",
                      "detail": {"state": "stopped"}}))["Result"] is True
message = expect_error("InvalidEventPatternException", events.put_rule, Name="bad",
                       EventPattern='{"detail": {"n": [{"numeric": [">", "x"]}]}}')
assert message.startswith("Event pattern is not valid. Reason: "), message
expect_error("ResourceNotFoundException", events.describe_rule, Name="nope")
expect_error("ValidationException", events.delete_rule, Name="orders")
names = events.list_rule_names_by_target(TargetArn=alerts_arn)["RuleNames"]
assert names == ["trail-stopped"], names
print("boto3 events flows: ok")
