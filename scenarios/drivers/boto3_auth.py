"""Authenticated serving through boto3 (1.40.60), unmodified, against the emulator at argv[1]
started with the credentials of scenarios/tests/it/auth.rs: each role does what it may and is
refused the rest with AWS's codes; a wrong secret and an unknown key are refused in the REST-XML,
query and JSON protocols; a presigned URL is printed for the test to fetch (and to fetch again
once the emulator's clock has passed its expiry; boto3 presigns with Signature Version 2 unless
told `s3v4`, and version 2 is refused). With argv[2], the URL is HTTPS and argv[2] is
the CA bundle to trust."""

import sys

import boto3
import botocore.exceptions
from botocore.config import Config

URL = sys.argv[1]
VERIFY = sys.argv[2] if len(sys.argv) > 2 else None
KEYS = {
    "auditor": ("AKIAALICEAUDITOR", "alice/Secret+Key0123456789"),
    "writer": ("AKIAINGESTWRITER", "ingest-secret"),
    "admin": ("AKIAOPSADMIN", "ops-secret"),
    "wrong": ("AKIAALICEAUDITOR", "not-her-secret"),
    "unknown": ("AKIANOBODY", "whatever"),
}


def client(service, who):
    key, secret = KEYS[who]
    return boto3.client(service, region_name="us-east-1", endpoint_url=URL,
                        aws_access_key_id=key, aws_secret_access_key=secret, verify=VERIFY,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": 1, "mode": "standard"}))


def refused(code, call, *args, **kw):
    try:
        call(*args, **kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{call.__name__}: expected {code}, got {got}: {e}"
        return
    raise AssertionError(f"{call.__name__} was not refused ({code} expected)")


client("s3", "admin").create_bucket(Bucket="evidence")
client("s3", "writer").put_object(Bucket="evidence", Key="a.txt", Body=b"hello")
client("s3", "writer").put_object(Bucket="evidence", Key="b.bin", Body=b"x" * 200_000,
                                  ChecksumAlgorithm="CRC32")
alice = client("s3", "auditor")
assert alice.get_object(Bucket="evidence", Key="a.txt")["Body"].read() == b"hello"
assert alice.head_object(Bucket="evidence", Key="b.bin")["ContentLength"] == 200_000
refused("AccessDenied", alice.put_object, Bucket="evidence", Key="c.txt", Body=b"no")
refused("AccessDenied", alice.delete_bucket, Bucket="evidence")
refused("AccessDenied", client("s3", "writer").delete_object, Bucket="evidence", Key="a.txt")
refused("AccessDeniedException", client("qldb", "auditor").create_ledger, Name="nope",
        PermissionsMode="STANDARD")
refused("AccessDeniedException", client("events", "auditor").put_events,
        Entries=[{"Source": "app", "DetailType": "t", "Detail": "{}"}])
me = client("sts", "auditor").get_caller_identity()
assert me["Arn"] == "arn:aws:iam::123456789012:user/alice", me

refused("SignatureDoesNotMatch", client("s3", "wrong").list_buckets)
refused("SignatureDoesNotMatch", client("sts", "wrong").get_caller_identity)
refused("SignatureDoesNotMatch", client("cloudtrail", "wrong").describe_trails)
refused("InvalidAccessKeyId", client("s3", "unknown").list_buckets)
refused("InvalidClientTokenId", client("sts", "unknown").get_caller_identity)
refused("InvalidClientTokenId", client("cloudtrail", "unknown").describe_trails)

print("presigned:", alice.generate_presigned_url(
    "get_object", Params={"Bucket": "evidence", "Key": "a.txt"}, ExpiresIn=60))
print("boto3 auth: ok")
