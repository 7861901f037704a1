#!/usr/bin/env bash
# The AWS deployment end to end on this machine, without AWS, with IAM as AWS enforces it:
#   moto_server (DynamoDB, SQS, Secrets Manager, S3, IAM) checking every call against IAM
#   + template.yaml deployed on it by deploy/iam_from_template.py (the SAM transform, then the
#     tables, queues, both secrets and the Object Lock checkpoint bucket of the template, and one
#     IAM user per function holding exactly its role's policies) + the NCP simulator + the policy in an S3 object (NSA_POLICY=s3://...)
#   + the HTTP, worker and scheduler functions, each under its own `cargo lambda watch` with its
#     own user's keys and the environment the template gives it (store.create_tables stays off).
# Least privilege is checked first: each function reads only its own secret (the HTTP and
# scheduler functions never the worker's, which holds the NCP key that changes shares), only the
# worker and scheduler write checkpoints, nobody deletes one, and Object Lock refuses even the
# administrator a delete of a locked version.
# A signed Slack command goes in through the emulator's Function URL; the request is found in
# DynamoDB; the queued SQS message is received, handed to the worker with `cargo lambda invoke`
# and deleted with the worker's keys (as the SQS event source mapping does with its role); the
# share is read back from the simulator; the scheduler's sweep (it queries the by_grant_end
# index) and reconcile run; the ledger is verified in DynamoDB.
#
# IAM_DROP=FUNCTION:ACTION[@RESOURCE_SUFFIX] runs the same with one permission taken from one
# role (e.g. scheduler:dynamodb:Query@/index/by_grant_end, worker:sqs:DeleteMessage,
# http:secretsmanager:GetSecretValue): the run must then fail with AccessDenied, and the script
# exits 0 only if it did.
#
# Needs on PATH: cargo-lambda and a Python with moto, boto3 and aws-sam-translator (.ci/run
# installs them in a venv; by hand: `pip install 'moto[server]' aws-sam-translator cargo-lambda`).
# Uses loopback addresses only, and a moto_server of its own (IAM enforcement is process-wide).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
PIDS=()
DROP=${IAM_DROP:-}
unset IAM_DROP
if [[ -n $DROP ]]; then
    # Everything the run prints is kept, to find the AccessDenied in it.
    exec > >(tee "$WORK/e2e.log") 2>&1
fi

stop() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        # Each background job runs in its own process group (set -m): stop the group.
        kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    done
    # Only these: a bare `wait` would also wait for the `tee` below, which ends after us.
    wait "${PIDS[@]}" 2>/dev/null || true
    if [[ -n $DROP ]]; then
        if [[ $rc == 0 ]]; then
            echo "== e2e: FAILED: passed although IAM_DROP=$DROP took a permission away" >&2
            rc=1
        elif grep -q AccessDenied "$WORK"/*.log; then
            grep -h -o 'not authorized to perform: [^"\\]*' "$WORK"/*.log | sort -u | head -3
            echo "== e2e: failed with AccessDenied, as IAM_DROP=$DROP must (exit $rc): passed"
            rc=0
        else
            echo "== e2e: FAILED: IAM_DROP=$DROP failed (exit $rc), but not with AccessDenied" >&2
            rc=1
        fi
    fi
    rm -rf "$WORK"
    exit "$rc"
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
wait_port() { # PORT, seconds: a connection only (a request to the emulator invokes the function)
    for _ in $(seq 1 "$(($2 * 10))"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for 127.0.0.1:$1" >&2
    return 1
}
step() { echo "== e2e: $*"; }

step "build the binary (debug, native)"
cargo build --locked --quiet --bin ncp-share-approver
BIN=$TARGET/debug/ncp-share-approver

# moto checks IAM from its fourth call on: the first three create the administrator
# (deploy/iam_from_template.py); the managed policies SAM attaches (AWSLambdaBasicExecutionRole,
# AWSLambdaSQSQueueExecutionRole) are loaded so that they can be attached by ARN.
MOTO_PORT=$(free_port)
INITIAL_NO_AUTH_ACTION_COUNT=3 MOTO_IAM_LOAD_MANAGED_POLICIES=true \
    "$PY" .ci/moto_server.py 127.0.0.1 "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
MOTO_ENDPOINT=http://127.0.0.1:$MOTO_PORT
wait_http "$MOTO_ENDPOINT/moto-api/" 30

SIM_PORT=$(free_port)
"$BIN" ncp-sim --listen "127.0.0.1:$SIM_PORT" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)

export AWS_ENDPOINT_URL=$MOTO_ENDPOINT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE
RUN=e2e$RANDOM$RANDOM
SIGNING_SECRET=e2e-signing-secret-$RANDOM$RANDOM
# The HTTP (and scheduler) secret and the worker's, as the README says to fill them. The simulator
# has no read-only sub-accounts, so both hold the demo key here; the HTTP and scheduler functions
# refuse share changes in code (ncp::ReadOnly) whatever their key may do.
# Every function signs the ledger records it writes with the same key, held in both secrets.
LEDGER_KEY=$("$BIN" audit key --generate --origin ncp-share-approver 2>"$WORK/ledger-vkey.txt")
LEDGER_VKEY=$(tail -1 "$WORK/ledger-vkey.txt")
cat >"$WORK/http-secret.json" <<EOF
{"NCP_ACCESS_KEY": "NCPSIMACCESSKEY00001", "NCP_SECRET_KEY": "ncp-sim-demo-secret-key-000000000000001",
 "SLACK_SIGNING_SECRET": "$SIGNING_SECRET", "LEDGER_SIGNING_KEY": "$LEDGER_KEY"}
EOF
cat >"$WORK/worker-secret.json" <<EOF
{"NCP_ACCESS_KEY": "NCPSIMACCESSKEY00001", "NCP_SECRET_KEY": "ncp-sim-demo-secret-key-000000000000001",
 "LEDGER_SIGNING_KEY": "$LEDGER_KEY"}
EOF

step "deploy template.yaml on moto: tables, queues, secrets, checkpoint bucket, policy object; one IAM user per function role${DROP:+ (IAM_DROP=$DROP)}"
IAM_DROP=$DROP "$PY" deploy/iam_from_template.py deploy --endpoint "$MOTO_ENDPOINT" --run "$RUN" \
    --policy-path "s3://$RUN-policy/policy.toml" --policy-file "$ROOT/examples/policy.toml" \
    --secret "HttpSecret=$WORK/http-secret.json" --secret "WorkerSecret=$WORK/worker-secret.json" \
    --out "$WORK/deploy"
# shellcheck disable=SC1091
source "$WORK/deploy/deploy.env"
STATE_TABLE=$StateTable_REF LEDGER_TABLE=$LedgerTable_REF QUEUE_URL=$WorkQueue_REF
# Everything this script does itself (checks, the event source mapping's polling) is signed too.
export AWS_ACCESS_KEY_ID=$ADMIN_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET_ACCESS_KEY

step "least privilege: each function reads its own secret only; checkpoints are written once, deleted never"
"$PY" deploy/least_privilege_check.py "$WORK/deploy/deploy.env"

# The local additions to each function's environment from the template (its own keys included).
for fn in http worker scheduler; do
    cat >>"$WORK/deploy/$fn.env" <<EOF
AWS_ENDPOINT_URL=$MOTO_ENDPOINT
AWS_REGION=us-east-1
AWS_EC2_METADATA_DISABLED=true
NCP_API_ENDPOINT=http://127.0.0.1:$SIM_PORT
EOF
done

start_function() { # FUNCTION PORT: cargo lambda watch with that function's environment and keys
    local keys
    keys=$(grep -E '^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)=' "$WORK/deploy/$1.env")
    # shellcheck disable=SC2086
    env $keys cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$2" --ignore-changes \
        --env-file "$WORK/deploy/$1.env" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
}

HTTP_PORT=$(free_port)
WORKER_PORT=$(free_port)
SCHEDULER_PORT=$(free_port)
step "start the HTTP, worker and scheduler functions (cargo lambda watch on 127.0.0.1:$HTTP_PORT, :$WORKER_PORT, :$SCHEDULER_PORT)"
start_function http "$HTTP_PORT"
start_function worker "$WORKER_PORT"
start_function scheduler "$SCHEDULER_PORT"
FN_URL=http://127.0.0.1:$HTTP_PORT/lambda-url/ncp-share-approver
wait_port "$HTTP_PORT" 300
# The emulator starts the function process on its first invocation: the first answer includes
# process start and initialisation (configuration, secret from Secrets Manager, clients). A
# function that fails to start leaves the request unanswered: hence the time limits.
COLD=$(curl -sf -m 60 -o /dev/null -w '%{time_total}' "$FN_URL/healthz") || { cat "$WORK/http.log"; exit 1; }
WARM=$(curl -sf -m 30 -o /dev/null -w '%{time_total}' "$FN_URL/healthz")
echo "first request (process start to answer): ${COLD}s; the next: ${WARM}s"
wait_port "$WORKER_PORT" 300
wait_port "$SCHEDULER_PORT" 300

step "a signed Slack command through the Function URL"
NSA_SECRETS__SOURCE=env SLACK_SIGNING_SECRET=$SIGNING_SECRET \
    timeout 120 "$BIN" send --url "$FN_URL" command --as U056CAROL 3456789 with dev@corp.example for 1h \
    | tee "$WORK/send.out"

request_state() { # WANT: the one request in the state table is in that state
    "$PY" - "$STATE_TABLE" "$1" <<'EOF'
import json, sys, boto3
table, want = sys.argv[1], sys.argv[2]
items = [i for i in boto3.client("dynamodb").scan(TableName=table)["Items"] if i["sk"]["S"] == "request"]
assert len(items) == 1, items
body = json.loads(items[0]["body"]["S"])
print(f"{body['id']}: {body['state']} (version {body['version']})")
assert body["state"] == want, body["state"]
EOF
}

step "the request is in DynamoDB, approved"
request_state approved || { cat "$WORK/http.log"; exit 1; }

step "the queued message goes to the worker function (received, invoked, deleted with the worker's keys, as the event source mapping does with its role)"
AWS_ACCESS_KEY_ID=$WORKER_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$WORKER_SECRET_ACCESS_KEY \
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
timeout 120 cargo lambda invoke ncp-share-approver --invoke-address 127.0.0.1 --invoke-port "$WORKER_PORT" \
    --data-file "$WORK/event.json" | tee "$WORK/invoke.out" || { cat "$WORK/worker.log"; exit 1; }
echo
grep -q '"batchItemFailures":\[\]' "$WORK/invoke.out" || { cat "$WORK/worker.log"; exit 1; }
AWS_ACCESS_KEY_ID=$WORKER_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$WORKER_SECRET_ACCESS_KEY \
    "$PY" - "$QUEUE_URL" "$WORK/event.json" <<'EOF'
import json, sys, boto3
url, event = sys.argv[1], json.load(open(sys.argv[2]))
sqs = boto3.client("sqs")
for r in event["Records"]:
    sqs.delete_message(QueueUrl=url, ReceiptHandle=r["receiptHandle"])
print(f"deleted {len(event['Records'])} message(s)")
EOF

step "the request succeeded, the share is on the simulator"
request_state succeeded || { cat "$WORK/worker.log"; exit 1; }
SHARES=$(NCP_API_ENDPOINT=http://127.0.0.1:$SIM_PORT NSA_SECRETS__SOURCE=env \
    NCP_ACCESS_KEY=NCPSIMACCESSKEY00001 NCP_SECRET_KEY=ncp-sim-demo-secret-key-000000000000001 \
    "$BIN" shares 3456789)
echo "$SHARES"
grep -q "dev@corp.example" <<<"$SHARES"

scheduled() { # TASK: invoke the scheduler function as EventBridge Scheduler would
    echo "{\"task\":\"$1\"}" >"$WORK/$1.json"
    timeout 120 cargo lambda invoke ncp-share-approver --invoke-address 127.0.0.1 --invoke-port "$SCHEDULER_PORT" \
        --data-file "$WORK/$1.json" | tee "$WORK/$1.out" || { cat "$WORK/scheduler.log"; exit 1; }
    echo
}
step "the scheduler's sweep (queries by_state, and by_grant_end for grants ending within remind_before)"
scheduled sweep
grep -q '"task":"sweep"' "$WORK/sweep.out" || { cat "$WORK/scheduler.log"; exit 1; }
step "the scheduler's reconcile (drift against the simulator, the ledger verified)"
scheduled reconcile
grep -q '"drift_findings":0' "$WORK/reconcile.out" || { cat "$WORK/scheduler.log"; exit 1; }

step "the worker published a signed checkpoint after the execution, to the Object Lock bucket"
"$PY" - "$CheckpointBucket_REF" "$WORK/published.checkpoint" <<'EOF'
import re, sys, boto3
bucket, out = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3")
# Tree sizes zero-padded to 20 digits (the least-privilege check leaves its own probe there too).
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="checkpoints/").get("Contents", [])
              if re.fullmatch(r"checkpoints/\d{20}\.checkpoint", o["Key"]))
assert keys, f"no checkpoint in s3://{bucket}/checkpoints/"
open(out, "wb").write(s3.get_object(Bucket=bucket, Key=keys[-1])["Body"].read())
print("published:", keys[-1])
EOF

step "the ledger verifies against the published checkpoint (audit verify --checkpoint, with the public key only)"
NSA_STORE__KIND=dynamodb NSA_STORE__TABLE=$STATE_TABLE NSA_STORE__LEDGER_TABLE=$LEDGER_TABLE \
    "$BIN" audit verify --public-key "$LEDGER_VKEY" --checkpoint "$WORK/published.checkpoint"
step "passed"
