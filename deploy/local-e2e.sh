#!/usr/bin/env bash
# The AWS deployment end to end on this machine, without AWS:
#   moto_server (DynamoDB, SQS, Secrets Manager) + the NCP simulator
#   + the policy in an S3 object on moto (NSA_POLICY=s3://...)
#   + the HTTP function under `cargo lambda watch` (function role http)
#   + the worker function under a second `cargo lambda watch` (function role worker).
# A signed Slack command goes in through the emulator's Function URL; the request is found in
# DynamoDB; the queued SQS message is handed to the worker with `cargo lambda invoke` (as the
# SQS event source mapping would); the share is read back from the simulator and the ledger
# verified in DynamoDB.
#
# Needs on PATH: cargo-lambda and a Python with moto and boto3 (.ci/run installs them in a venv;
# by hand: `pip install 'moto[server]' cargo-lambda`). Uses loopback addresses only.
# MOTO_ENDPOINT=http://127.0.0.1:PORT reuses a running moto_server instead of starting one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
PIDS=()

stop() {
    for pid in "${PIDS[@]}"; do
        # Each background job runs in its own process group (set -m): stop the group.
        kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap stop EXIT
set -m

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL, seconds
    for _ in $(seq 1 "$(($2 * 10))"); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    return 1
}
step() { echo "== e2e: $*"; }

step "build the binary (debug, native)"
cargo build --locked --quiet --bin ncp-share-approver
BIN=$TARGET/debug/ncp-share-approver

if [[ -z "${MOTO_ENDPOINT:-}" ]]; then
    MOTO_PORT=$(free_port)
    "$PY" .ci/moto_server.py 127.0.0.1 "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
    PIDS+=($!)
    MOTO_ENDPOINT=http://127.0.0.1:$MOTO_PORT
fi
wait_http "$MOTO_ENDPOINT/moto-api/" 30

SIM_PORT=$(free_port)
"$BIN" ncp-sim --listen "127.0.0.1:$SIM_PORT" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)

export AWS_ENDPOINT_URL=$MOTO_ENDPOINT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
RUN=e2e$RANDOM$RANDOM
SIGNING_SECRET=e2e-signing-secret-$RANDOM$RANDOM

step "create the queue, the secret and the policy object in moto (the tables are created by the function: store.create_tables)"
QUEUE_URL=$("$PY" - "$RUN" "$SIGNING_SECRET" "$ROOT/examples/policy.toml" <<'EOF'
import json, sys, boto3
run, signing, policy = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=f"{run}-policy")
with open(policy, "rb") as f:
    s3.put_object(Bucket=f"{run}-policy", Key="policy.toml", Body=f.read())
sqs = boto3.client("sqs")
dlq = sqs.create_queue(QueueName=f"{run}-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
url = sqs.create_queue(QueueName=f"{run}-work", Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
boto3.client("secretsmanager").create_secret(Name=f"{run}-secret", SecretString=json.dumps({
    "NCP_ACCESS_KEY": "NCPSIMACCESSKEY00001",
    "NCP_SECRET_KEY": "ncp-sim-demo-secret-key-000000000000001",
    "SLACK_SIGNING_SECRET": signing,
}))
print(url)
EOF
)

cat >"$WORK/function.env" <<EOF
AWS_ENDPOINT_URL=$MOTO_ENDPOINT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=info
NSA_POLICY=s3://$RUN-policy/policy.toml
NSA_STORE__KIND=dynamodb
NSA_STORE__TABLE=$RUN-state
NSA_STORE__LEDGER_TABLE=$RUN-ledger
NSA_STORE__CREATE_TABLES=true
NSA_QUEUE__KIND=sqs
NSA_QUEUE__URL=$QUEUE_URL
NSA_SECRETS__SOURCE=aws:$RUN-secret
NCP_API_ENDPOINT=http://127.0.0.1:$SIM_PORT
EOF

HTTP_PORT=$(free_port)
WORKER_PORT=$(free_port)
step "start the HTTP function (cargo lambda watch on 127.0.0.1:$HTTP_PORT)"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$HTTP_PORT" --ignore-changes \
    --env-file "$WORK/function.env" --env-var NSA_LAMBDA__FUNCTION=http >"$WORK/http.log" 2>&1 &
PIDS+=($!)
FN_URL=http://127.0.0.1:$HTTP_PORT/lambda-url/ncp-share-approver
wait_http "http://127.0.0.1:$HTTP_PORT/" 300
# The emulator starts the function process on its first invocation: the first answer includes
# process start and initialisation (configuration, secret from Secrets Manager, clients).
COLD=$(curl -sf -o /dev/null -w '%{time_total}' "$FN_URL/healthz") || { cat "$WORK/http.log"; exit 1; }
WARM=$(curl -sf -o /dev/null -w '%{time_total}' "$FN_URL/healthz")
echo "first request (process start to answer): ${COLD}s; the next: ${WARM}s"

step "start the worker function (cargo lambda watch on 127.0.0.1:$WORKER_PORT)"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WORKER_PORT" --ignore-changes \
    --env-file "$WORK/function.env" --env-var NSA_LAMBDA__FUNCTION=worker >"$WORK/worker.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$WORKER_PORT/" 300

step "a signed Slack command through the Function URL"
NSA_SECRETS__SOURCE=env SLACK_SIGNING_SECRET=$SIGNING_SECRET \
    "$BIN" send --url "$FN_URL" command --as U056CAROL 3456789 with dev@corp.example for 1h \
    | tee "$WORK/send.out"

step "the request is in DynamoDB, approved"
"$PY" - "$RUN-state" approved <<'EOF'
import json, sys, boto3
table, want = sys.argv[1], sys.argv[2]
items = [i for i in boto3.client("dynamodb").scan(TableName=table)["Items"] if i["sk"]["S"] == "request"]
assert len(items) == 1, items
body = json.loads(items[0]["body"]["S"])
print(f"{body['id']}: {body['state']} (version {body['version']})")
assert body["state"] == want, body["state"]
EOF

step "the queued message goes to the worker function (cargo lambda invoke)"
"$PY" - "$QUEUE_URL" "$WORK/event.json" <<'EOF'
import json, sys, boto3
url, out = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs")
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                           AttributeNames=["All"]).get("Messages", [])
assert len(msgs) == 1, msgs
records = [{
    "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
    "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
    "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
} for m in msgs]
json.dump({"Records": records}, open(out, "w"))
print("message:", msgs[0]["Body"])
EOF
cargo lambda invoke ncp-share-approver --invoke-address 127.0.0.1 --invoke-port "$WORKER_PORT" --data-file "$WORK/event.json" \
    | tee "$WORK/invoke.out"
echo
grep -q '"batchItemFailures":\[\]' "$WORK/invoke.out"

step "the request succeeded, the share is on the simulator, and the ledger verifies"
"$PY" - "$RUN-state" succeeded <<'EOF'
import json, sys, boto3
table, want = sys.argv[1], sys.argv[2]
items = [i for i in boto3.client("dynamodb").scan(TableName=table)["Items"] if i["sk"]["S"] == "request"]
body = json.loads(items[0]["body"]["S"])
print(f"{body['id']}: {body['state']} (version {body['version']})")
assert body["state"] == want, body["state"]
EOF
SHARES=$(NCP_API_ENDPOINT=http://127.0.0.1:$SIM_PORT NSA_SECRETS__SOURCE=env \
    NCP_ACCESS_KEY=NCPSIMACCESSKEY00001 NCP_SECRET_KEY=ncp-sim-demo-secret-key-000000000000001 \
    "$BIN" shares 3456789)
echo "$SHARES"
grep -q "dev@corp.example" <<<"$SHARES"
NSA_STORE__KIND=dynamodb NSA_STORE__TABLE=$RUN-state NSA_STORE__LEDGER_TABLE=$RUN-ledger \
    "$BIN" audit verify
step "passed"
