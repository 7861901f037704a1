"""Least privilege of the deployed template on moto, for deploy/local-e2e.sh (after
deploy/iam_from_template.py deploy): each function reads its own secret and never the other one
(the HTTP and scheduler functions never the worker's, which holds the NCP key that changes
shares; the worker never the HTTP one, which holds the inbound signing secrets); only the worker
and the scheduler write checkpoints to the Object Lock bucket, and they cannot delete one; Object
Lock in compliance mode refuses even the administrator a delete of a locked version.

Usage: python deploy/least_privilege_check.py OUT/deploy.env   (AWS_ENDPOINT_URL set; the
administrator's keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
"""

import shlex
import sys

import boto3
import botocore.config


def main():
    env = {}
    with open(sys.argv[1]) as f:
        for line in f:
            name, _, value = line.rstrip("\n").partition("=")
            env[name] = shlex.split(value)[0] if value else ""

    config = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})

    def client(service, fn=None):
        keys = {}
        if fn:
            keys = {
                "aws_access_key_id": env[f"{fn.upper()}_ACCESS_KEY_ID"],
                "aws_secret_access_key": env[f"{fn.upper()}_SECRET_ACCESS_KEY"],
            }
        return boto3.client(service, config=config, **keys)

    def refused(what, call):
        try:
            call()
        except Exception as e:  # noqa: BLE001 - the refusal's text says which
            if "AccessDenied" not in str(e):
                raise
            print(f"refused, as it must be: {what}")
        else:
            raise SystemExit(f"least_privilege_check: allowed, but must be refused: {what}")

    http_secret, worker_secret = env["HttpSecret_REF"], env["WorkerSecret_REF"]
    bucket = env["CheckpointBucket_REF"]

    for fn, own, other in [
        ("http", http_secret, worker_secret),
        ("scheduler", http_secret, worker_secret),
        ("worker", worker_secret, http_secret),
    ]:
        sm = client("secretsmanager", fn)
        sm.get_secret_value(SecretId=own)
        name = other.rsplit(":", 1)[1]
        refused(f"{fn} reads {name}", lambda: sm.get_secret_value(SecretId=other))

    note = b"ncp-share-approver\n1\nAAAA\n\n- e2e\n"
    for fn in ("worker", "scheduler"):
        s3 = client("s3", fn)
        key = f"checkpoints/e2e-{fn}.checkpoint"
        # Object Lock buckets take uploads with a checksum only (S3 requires one; moto does not).
        s3.put_object(Bucket=bucket, Key=key, Body=note, ContentType="text/plain", ChecksumAlgorithm="SHA256")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == note
        print(f"{fn} wrote and read s3://{bucket}/{key}")
        refused(f"{fn} deletes a checkpoint", lambda: s3.delete_object(Bucket=bucket, Key=key))
    s3 = client("s3", "http")
    refused(
        "http writes a checkpoint",
        lambda: s3.put_object(Bucket=bucket, Key="checkpoints/x", Body=note, ChecksumAlgorithm="SHA256"),
    )

    admin = client("s3")
    key = "checkpoints/e2e-worker.checkpoint"
    version = admin.list_object_versions(Bucket=bucket, Prefix=key)["Versions"][0]["VersionId"]
    # (moto answers GetObjectRetention of a default retention with a 500; HeadObject shows it.)
    head = admin.head_object(Bucket=bucket, Key=key, VersionId=version)
    assert head.get("ObjectLockMode") == "COMPLIANCE", head
    print(f"s3://{bucket}/{key} is locked in compliance mode until {head['ObjectLockRetainUntilDate']}")
    refused(
        "the administrator deletes a locked version (Object Lock, compliance mode)",
        lambda: admin.delete_object(Bucket=bucket, Key=key, VersionId=version),
    )


if __name__ == "__main__":
    main()
