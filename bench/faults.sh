#!/usr/bin/env bash
# Fault suite, kill -9 part: the real binary is killed at random points 20 times while approved
# requests execute, and restarted each time. Afterwards every acknowledged request must have
# ended exactly once (one `succeeded` or `failed` ledger record, at most one successful NCP
# change per target), and `audit verify` must be green.
#
#   bench/faults.sh              # 20 kills, 5 requests per round
#   ROUNDS=50 PER_ROUND=10 bench/faults.sh
#
# Writes bench/results/faults.md. Only loopback addresses are used; everything it starts is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
PER_ROUND=${PER_ROUND:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# debug (default) or release (bench/all.sh reuses the release build of the other benchmarks).
PROFILE=${FAULTS_PROFILE:-debug}
LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "$PROFILE" = release ]; then
    cargo build --quiet --release --locked --bin ncp-share-approver
else
    cargo build --quiet
fi
BIN="$TARGET_DIR/$PROFILE/ncp-share-approver"
WORK=$(mktemp -d)
SIM_PID=""
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null || true
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIM_PORT=$(free_port)
PORT=$(free_port)

# The demo seed with 40 ms of latency on every NCP call, so that kills land mid-execution.
sed 's/^latency_ms = .*/latency_ms = 40/' examples/ncp-sim-seed.toml > "$WORK/seed.toml"
grep -q '^\[faults\]' "$WORK/seed.toml" || printf '\n[faults]\nlatency_ms = 40\n' >> "$WORK/seed.toml"
python3 - "$WORK/secrets.json" <<'PY'
import json, secrets, sys
json.dump({"NCP_ACCESS_KEY": "NCPSIMACCESSKEY00001",
           "NCP_SECRET_KEY": "ncp-sim-demo-secret-key-000000000000001",
           "SLACK_SIGNING_SECRET": secrets.token_hex(16)}, open(sys.argv[1], "w"))
PY
cat > "$WORK/config.toml" <<TOML
listen = "127.0.0.1:$PORT"
policy = "$PWD/examples/policy.toml"
[store]
path = "$WORK/store.db"
[ncp]
endpoint = "http://127.0.0.1:$SIM_PORT"
max_attempts = 3
backoff_base_ms = 20
backoff_max_ms = 200
[secrets]
source = "file:$WORK/secrets.json"
[worker]
poll_interval_secs = 1
lease_ttl_secs = 2
TOML

"$BIN" ncp-sim --listen "127.0.0.1:$SIM_PORT" --seed "$WORK/seed.toml" > "$WORK/sim.log" 2>&1 &
SIM_PID=$!

start_serve() {
    RUST_LOG=warn "$BIN" --config "$WORK/config.toml" serve >> "$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "serve did not start; log:" >&2; tail -20 "$WORK/serve.log" >&2; exit 1
}

: > "$WORK/acked"
n=0
for round in $(seq 1 "$ROUNDS"); do
    start_serve
    for _ in $(seq 1 "$PER_ROUND"); do
        n=$((n + 1))
        # The sandbox rule approves corp targets at once, so each request goes straight to the worker.
        if reply=$("$BIN" --config "$WORK/config.toml" send command --as U056CAROL "3456789 with k$n@corp.example for 1h because fault suite" 2>/dev/null); then
            echo "$reply" | grep -o 'SR-[0-9A-Z]\{8\}' | head -1 >> "$WORK/acked" || true
        fi
    done
    # Kill at a random point of execution: 0 to 400 ms after the last request.
    sleep "0.$(printf '%03d' $((RANDOM % 400)))"
    kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
    printf 'round %2d: killed with %d requests acknowledged so far\n' "$round" "$(wc -l < "$WORK/acked")"
done

# Restart once more and let the worker finish whatever the kills interrupted.
start_serve
for _ in $(seq 1 120); do
    left=$("$BIN" --config "$WORK/config.toml" requests list --json --limit 100000 | python3 -c 'import sys, json; print(sum(1 for l in sys.stdin if json.loads(l)["state"] in ("approved", "executing")))')
    [ "$left" = 0 ] && break
    sleep 0.5
done
kill -INT "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""

"$BIN" --config "$WORK/config.toml" requests list --json --limit 100000 > "$WORK/requests.jsonl"
"$BIN" --config "$WORK/config.toml" audit export --format jsonl > "$WORK/ledger.jsonl"
if "$BIN" --config "$WORK/config.toml" audit verify > "$WORK/verify.txt" 2>&1; then VERIFIED=yes; else VERIFIED=no; fi
curl -sf "http://127.0.0.1:$SIM_PORT/_sim/calls" > "$WORK/calls.json"

mkdir -p bench/results
LOADAVG_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
export PROFILE LOADAVG_BEFORE LOADAVG_AFTER
python3 - "$WORK" "$ROUNDS" "$VERIFIED" <<'PY' | tee bench/results/faults.md
import json, sys, collections, platform, os, subprocess
work, rounds, verified = sys.argv[1], int(sys.argv[2]), sys.argv[3]
acked = [l.strip() for l in open(f"{work}/acked") if l.strip()]
reqs = {r["id"]: r for r in map(json.loads, open(f"{work}/requests.jsonl"))}
ends = collections.Counter()
resumed = set()
for rec in map(json.loads, open(f"{work}/ledger.jsonl")):
    if rec["event"] in ("succeeded", "failed") and rec.get("request_id"):
        ends[rec["request_id"]] += 1
    if rec["event"] == "executing" and "resumed" in rec.get("detail", ""):
        resumed.add(rec["request_id"])
adds = collections.Counter()
for c in json.load(open(f"{work}/calls.json")):
    if c["operation"].startswith("add") and c["status"] == 200:
        for k, v in c["params"]:
            if k.startswith("targetLoginIdList."):
                adds[v] += 1
lost = [i for i in acked if i not in reqs or reqs[i]["state"] not in ("succeeded", "failed")]
twice_ledger = [i for i in acked if ends[i] > 1]
twice_ncp = [t for t, n in adds.items() if n > 1]
states = collections.Counter(reqs[i]["state"] for i in acked if i in reqs)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("# Fault suite: kill -9 during execution\n")
la = lambda v: v.replace(" ", " / ")
print(f"Machine: {os.cpu_count()} cores, {cpu}; load average (1 / 5 / 15 min) {la(os.environ['LOADAVG_BEFORE'])} before, "
      f"{la(os.environ['LOADAVG_AFTER'])} after. Command: `bench/faults.sh` (ROUNDS={rounds}, {os.environ['PROFILE']} build).\n")
print("| figure | value |\n| --- | --- |")
print(f"| kill -9 of the server at a random point | {rounds} times |")
print(f"| requests acknowledged to the requester | {len(acked)} |")
print(f"| executions cut by a kill and resumed after restart | {len(resumed)} |")
print(f"| succeeded | {states.get('succeeded', 0)} |")
print(f"| failed (reported, with NCP's code) | {states.get('failed', 0)} |")
print(f"| lost (acknowledged but not ended) | {len(lost)} |")
print(f"| executed twice (two end records, or two NCP changes for one target) | {len(twice_ledger) + len(twice_ncp)} |")
print(f"| `audit verify` | {'green' if verified == 'yes' else 'RED'} |")
ok = not lost and not twice_ledger and not twice_ncp and verified == "yes" and acked
if not ok:
    print(f"\nFAILED: lost={lost} twice={twice_ledger} twice_ncp={twice_ncp}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
