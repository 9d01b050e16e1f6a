"""SQS and SNS through boto3 (1.40.60, the JSON protocol for SQS, the query protocol for SNS),
unmodified, against the emulator at argv[1] (started with clock control on): a topic delivering
to a queue through a filter policy, receive and delete, a visibility timeout expiring when the
emulator's clock moves, redrive to a dead-letter queue, FIFO deduplication, an HTTP subscriber
confirming and getting a notification, and the errors boto3 raises."""

import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from queue import Queue

import boto3
import botocore.exceptions

URL = sys.argv[1]
ARGS = dict(region_name="us-east-1", endpoint_url=URL,
            aws_access_key_id="AKIDBOTO3", aws_secret_access_key="secret")
sqs = boto3.client("sqs", **ARGS)
sns = boto3.client("sns", **ARGS)


def advance(seconds):
    req = urllib.request.Request(URL + "/_veritrail/clock", method="POST",
                                 data=json.dumps({"advanceSeconds": seconds}).encode())
    urllib.request.urlopen(req).read()


def arn_of(url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(url, **kw):
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                               MessageSystemAttributeNames=["All"], **kw).get("Messages", [])


# Topic -> queue through a filter policy.
topic = sns.create_topic(Name="findings")["TopicArn"]
queue = sqs.create_queue(QueueName="findings")["QueueUrl"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn_of(queue),
              Attributes={"FilterPolicy": json.dumps({"severity": [{"anything-but": "LOW"}]})})
for severity in ["LOW", "CRITICAL"]:
    sns.publish(TopicArn=topic, Message="finding " + severity, Subject="Finding",
                MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}})
got = receive(queue, VisibilityTimeout=30)
assert len(got) == 1, got
envelope = json.loads(got[0]["Body"])
assert envelope["Message"] == "finding CRITICAL", envelope
assert envelope["MessageAttributes"]["severity"]["Value"] == "CRITICAL", envelope
# boto3 checks the MD5 of bodies and attributes itself; the message comes back after 30 s.
assert receive(queue) == []
advance(30)
again = receive(queue)
assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2", again
sqs.delete_message(QueueUrl=queue, ReceiptHandle=again[0]["ReceiptHandle"])

# Redrive to a dead-letter queue.
dlq = sqs.create_queue(QueueName="findings-dead")["QueueUrl"]
sqs.set_queue_attributes(QueueUrl=queue, Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn_of(dlq), "maxReceiveCount": 1}),
    "VisibilityTimeout": "10"})
sqs.send_message(QueueUrl=queue, MessageBody="poison",
                 MessageAttributes={"n": {"DataType": "Number", "StringValue": "7"}})
assert receive(queue)[0]["Body"] == "poison"
advance(10)
assert receive(queue) == []
dead = receive(dlq)
assert dead[0]["Body"] == "poison" and dead[0]["MessageAttributes"]["n"]["StringValue"] == "7", dead
assert dead[0]["Attributes"]["DeadLetterQueueSourceArn"].endswith(":findings"), dead

# FIFO deduplication.
fifo = sqs.create_queue(QueueName="findings.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
one = sqs.send_message(QueueUrl=fifo, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d")
two = sqs.send_message(QueueUrl=fifo, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="d")
assert one["MessageId"] == two["MessageId"]
assert [m["Body"] for m in receive(fifo)] == ["x"]

# An HTTP subscriber: the confirmation, then a notification.
seen = Queue()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        seen.put((self.headers["x-amz-sns-message-type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = "http://127.0.0.1:%d/hook" % server.server_port
assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)["SubscriptionArn"] == "pending confirmation"
kind, confirmation = seen.get(timeout=20)
assert kind == "SubscriptionConfirmation", kind
urllib.request.urlopen(confirmation["SubscribeURL"]).read()
sns.publish(TopicArn=topic, Message="to the hook",
            MessageAttributes={"severity": {"DataType": "String", "StringValue": "HIGH"}})
kind, notification = seen.get(timeout=20)
assert kind == "Notification" and notification["Message"] == "to the hook", notification
server.shutdown()

# Errors as boto3 raises them.
try:
    sqs.get_queue_url(QueueName="missing")
    raise AssertionError("no error")
except sqs.exceptions.QueueDoesNotExist as e:
    assert e.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue", e.response
try:
    sns.publish(TopicArn=topic, Message="")
    raise AssertionError("no error")
except sns.exceptions.InvalidParameterException as e:
    assert e.response["Error"]["Message"] == "Invalid parameter: Empty message", e.response
try:
    sqs.send_message(QueueUrl=queue, MessageBody="x" * (1024 * 1024 + 1))
    raise AssertionError("no error")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterValue", e.response
print("boto3 sqs/sns flows: ok")
