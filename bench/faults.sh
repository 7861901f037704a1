#!/usr/bin/env bash
# Fault suite, kill -9 part: the real binary is killed at random points 20 times while approved
# requests execute and while the outbox delivers their Slack messages, and restarted each time.
# Afterwards every acknowledged request must have ended exactly once (one `succeeded` or `failed`
# ledger record, at most one successful NCP change per target), `audit verify` must be green,
# and every message owed must have reached the Slack stand-in: the approval card (showing the
# request's final state), the requester's direct message and the reply in the card's thread;
# nothing may be left pending or failed in the outbox. Messages posted twice (a kill after
# Slack took a `chat.postMessage` but before the outbox recorded it: Slack has no idempotency
# key for a post) are counted, not failed.
#
#   bench/faults.sh              # 20 kills, 5 requests per round
#   ROUNDS=50 PER_ROUND=10 bench/faults.sh
#   ROUNDS=5 PER_ROUND=3 RESULTS=/dev/null bench/faults.sh   # short, for CI
#
# The Slack stand-in (`slack-fake`, 30 ms per answer) is a process of its own, so it survives
# the kills and keeps every call. Writes bench/results/faults.md (or $RESULTS). Only loopback
# addresses are used; everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
PER_ROUND=${PER_ROUND:-5}
RESULTS=${RESULTS:-bench/results/faults.md}
SLACK_LATENCY_MS=${SLACK_LATENCY_MS:-30}
# debug (default) or release (bench/all.sh reuses the release build of the other benchmarks).
PROFILE=${FAULTS_PROFILE:-debug}
. bench/lib.sh
LOADAVG_BEFORE=$(bench_loadavg)

if [ "$PROFILE" = release ]; then
    cargo build --quiet --release --locked --bin ncp-share-approver
else
    cargo build --quiet
fi
BIN="$target_dir/$PROFILE/ncp-share-approver"
bench_tmp
WORK=$tmp
SIM_PORT=$(bench_free_port)
SLACK_PORT=$(bench_free_port)
PORT=$(bench_free_port)

# The demo seed with 40 ms of latency on every NCP call, so that kills land mid-execution.
sed 's/^latency_ms = .*/latency_ms = 40/' examples/ncp-sim-seed.toml > "$WORK/seed.toml"
grep -q '^\[faults\]' "$WORK/seed.toml" || printf '\n[faults]\nlatency_ms = 40\n' >> "$WORK/seed.toml"
BOT_TOKEN="xoxb-faults-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
LEDGER_KEY=$("$BIN" audit key --generate --origin ncp-share-approver 2>/dev/null)
python3 - "$WORK/secrets.json" "$BOT_TOKEN" "$LEDGER_KEY" <<'PY'
import json, secrets, sys
json.dump({"NCP_ACCESS_KEY": "NCPSIMACCESSKEY00001",
           "NCP_SECRET_KEY": "ncp-sim-demo-secret-key-000000000000001",
           "SLACK_SIGNING_SECRET": secrets.token_hex(16),
           "SLACK_BOT_TOKEN": sys.argv[2],
           "LEDGER_SIGNING_KEY": sys.argv[3]}, open(sys.argv[1], "w"))
PY
# One approval by alice, and an approval channel: every request owes the approval card (posted,
# then updated when approved, executing and done), a direct message to carol and a thread reply.
cat > "$WORK/policy.toml" <<'TOML'
[people]
alice = { slack = "U012ALICE" }
carol = { slack = "U056CAROL" }

[[rules]]
name = "fault suite"
images = ["no:3456789"]
targets = ["*@corp.example"]
requesters = ["carol"]
approvers = ["alice"]
approval_channel = "C0FAULTS"
TOML
cat > "$WORK/config.toml" <<TOML
listen = "127.0.0.1:$PORT"
policy = "$WORK/policy.toml"
[store]
path = "$WORK/store.db"
[ncp]
endpoint = "http://127.0.0.1:$SIM_PORT"
max_attempts = 3
backoff_base_ms = 20
backoff_max_ms = 200
[metrics]
listen = "127.0.0.1:0"
[secrets]
source = "file:$WORK/secrets.json"
[slack]
api_base_url = "http://127.0.0.1:$SLACK_PORT/api"
response_url_hosts = ["127.0.0.1"]
[worker]
poll_interval_secs = 1
lease_ttl_secs = 2
[outbox]
slack_interval_ms = 50
backoff_base_ms = 50
backoff_max_secs = 1
lane_lease_secs = 2
TOML

bench_spawn sim "$BIN" ncp-sim --listen "127.0.0.1:$SIM_PORT" --seed "$WORK/seed.toml"; SIM_PID=$spawned_pid
bench_spawn slack "$BIN" slack-fake --listen "127.0.0.1:$SLACK_PORT" --token "$BOT_TOKEN" --latency-ms "$SLACK_LATENCY_MS"
SLACK_PID=$spawned_pid
bench_wait_ok "http://127.0.0.1:$SLACK_PORT/_fake/calls" "$SLACK_PID" slack

# Not bench_spawn: the server is killed with -9 and restarted, and appends to one log.
start_serve() {
    RUST_LOG=warn "$BIN" --config "$WORK/config.toml" serve >> "$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    bench_pids+=("$SERVE_PID")
    bench_wait_ok "http://127.0.0.1:$PORT/healthz" "$SERVE_PID" serve
}

: > "$WORK/acked"
: > "$WORK/kills"
pending() {
    "$BIN" --config "$WORK/config.toml" outbox list --json --limit 100000 2>/dev/null | grep -c '"status":"pending"' || true
}
n=0
for round in $(seq 1 "$ROUNDS"); do
    start_serve
    for _ in $(seq 1 "$PER_ROUND"); do
        n=$((n + 1))
        # alice approves each request at once, so it goes to the worker while its card and the
        # updates of it are still being delivered.
        if reply=$("$BIN" --config "$WORK/config.toml" send command --as U056CAROL "3456789 with k$n@corp.example for 1h because fault suite" 2>/dev/null); then
            if id=$(echo "$reply" | grep -o 'SR-[0-9A-Z]\{8\}' | head -1) && [ -n "$id" ]; then
                echo "$id" >> "$WORK/acked"
                "$BIN" --config "$WORK/config.toml" send click --as U012ALICE approve "$id" > /dev/null 2>&1 || true
            fi
        fi
    done
    # Kill at a random point of execution or delivery: 0 to 999 ms after the last approval.
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
    owed=$(pending)
    kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
    echo "$owed" >> "$WORK/kills"
    printf 'round %2d: killed with %d requests acknowledged so far, %d messages pending\n' "$round" "$(wc -l < "$WORK/acked")" "$owed"
done

# Restart once more and let the worker and the outbox finish whatever the kills interrupted.
start_serve
DRAIN_START=$(date +%s.%N)
for _ in $(seq 1 600); do
    left=$("$BIN" --config "$WORK/config.toml" requests list --json --limit 100000 | python3 -c 'import sys, json; print(sum(1 for l in sys.stdin if json.loads(l)["state"] in ("pending", "approved", "executing")))')
    [ "$left" = 0 ] && [ "$(pending)" = 0 ] && break
    sleep 0.5
done
DRAIN_SECS=$(python3 -c "import time; print(round(time.time() - $DRAIN_START, 1))")
kill -INT "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""

"$BIN" --config "$WORK/config.toml" requests list --json --limit 100000 > "$WORK/requests.jsonl"
"$BIN" --config "$WORK/config.toml" audit export --format jsonl > "$WORK/ledger.jsonl"
if "$BIN" --config "$WORK/config.toml" audit verify > "$WORK/verify.txt" 2>&1; then VERIFIED=yes; else VERIFIED=no; fi
curl -sf "http://127.0.0.1:$SIM_PORT/_sim/calls" > "$WORK/calls.json"
curl -sf "http://127.0.0.1:$SLACK_PORT/_fake/calls" > "$WORK/slack_calls.json"
curl -sf "http://127.0.0.1:$SLACK_PORT/_fake/messages" > "$WORK/slack_messages.json"

mkdir -p "$(dirname "$RESULTS")"
LOADAVG_AFTER=$(bench_loadavg)
export PROFILE LOADAVG_BEFORE LOADAVG_AFTER DRAIN_SECS SLACK_LATENCY_MS
python3 - "$WORK" "$ROUNDS" "$VERIFIED" "$PER_ROUND" <<'PY' | tee "$RESULTS"
import json, sys, collections, platform, os, re, sqlite3
work, rounds, verified, per_round = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
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

# The outbox as the store has it, and what the Slack stand-in received.
kills = [int(l) for l in open(f"{work}/kills") if l.strip()]
db = sqlite3.connect(f"file:{work}/store.db?mode=ro", uri=True)
entries = [(rid, status, json.loads(body)) for rid, status, body in
           db.execute("SELECT request_id, status, body FROM outbox")]
by_status = collections.Counter(status for _, status, _ in entries)
card_refs = {rid: ref.split() for rid, ref in
             db.execute("SELECT request_id, reference FROM message_refs WHERE kind = 'slack_card'")}
calls = json.load(open(f"{work}/slack_calls.json"))
messages = {(m["channel"], m["ts"]): m["body"] for m in json.load(open(f"{work}/slack_messages.json"))}
ID = re.compile(r"SR-[0-9A-Z]{8}")
posted = collections.defaultdict(collections.Counter)   # request -> kind -> posts Slack took
for c in calls:
    if c["method"] != "chat.postMessage" or not c["ok"]:
        continue
    b = c["body"]
    m = ID.search(json.dumps(b))
    if not m:
        continue
    kind = ("dm" if b.get("channel") == "U056CAROL"
            else "thread reply" if b.get("thread_ts") else "card")
    posted[m.group(0)][kind] += 1
updates = sum(1 for c in calls if c["method"] == "chat.update" and c["ok"])
END = {"succeeded": "shared", "failed": "failed"}
missing = collections.defaultdict(list)
for i in acked:
    p = posted[i]
    for kind in ("card", "dm", "thread reply"):
        if p[kind] == 0:
            missing[i].append(kind)
    ref = card_refs.get(i)
    card = messages.get(tuple(ref)) if ref and len(ref) == 2 else None
    state = reqs.get(i, {}).get("state")
    if card is None or f"Share request {i} {END.get(state, state)}" not in card.get("text", ""):
        missing[i].append("final card state")
owed_expected = 4 * len(acked)                      # card, its final state, the DM, the thread reply
lost_msgs = sum(len(v) for v in missing.values())
dups = {kind: sum(max(0, posted[i][kind] - 1) for i in acked) for kind in ("card", "dm", "thread reply")}
still_pending, failed_msgs = by_status.get("pending", 0), by_status.get("failed", 0)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("# Fault suite: kill -9 during execution and delivery\n")
la = lambda v: v.replace(" ", " / ")
print(f"Machine: {os.cpu_count()} cores, {cpu}; load average (1 / 5 / 15 min) {la(os.environ['LOADAVG_BEFORE'])} before, "
      f"{la(os.environ['LOADAVG_AFTER'])} after. Command: `bench/faults.sh` (ROUNDS={rounds}, PER_ROUND={per_round}, {os.environ['PROFILE']} build); "
      f"Slack stand-in answering in {os.environ.get('SLACK_LATENCY_MS', '30')} ms, `slack_interval_ms = 50`.\n")
print("| figure | value |\n| --- | --- |")
print(f"| kill -9 of the server at a random point | {rounds} times |")
print(f"| kills that landed with Slack messages pending in the outbox | {sum(1 for k in kills if k > 0)} (median {sorted(kills)[len(kills) // 2] if kills else 0} pending) |")
print(f"| requests acknowledged to the requester | {len(acked)} |")
print(f"| executions cut by a kill and resumed after restart | {len(resumed)} |")
print(f"| succeeded | {states.get('succeeded', 0)} |")
print(f"| failed (reported, with NCP's code) | {states.get('failed', 0)} |")
print(f"| lost (acknowledged but not ended) | {len(lost)} |")
print(f"| executed twice (two end records, or two NCP changes for one target) | {len(twice_ledger) + len(twice_ncp)} |")
print(f"| `audit verify` | {'green' if verified == 'yes' else 'RED'} |")
print(f"| Slack messages owed (card, its final state, DM to the requester, thread reply; per request) | {owed_expected} |")
print(f"| delivered | {owed_expected - lost_msgs} |")
print(f"| lost (never posted, or the card not showing the final state) | {lost_msgs} |")
print(f"| outbox entries written | {len(entries)}: {by_status.get('delivered', 0)} delivered, {by_status.get('superseded', 0)} superseded (coalesced card updates), {still_pending} pending, {failed_msgs} failed |")
print(f"| `chat.update` calls Slack took | {updates} |")
print(f"| posted twice: approval card | {dups['card']} |")
print(f"| posted twice: direct message | {dups['dm']} |")
print(f"| posted twice: thread reply | {dups['thread reply']} |")
print(f"| time to deliver everything after the last restart | {os.environ.get('DRAIN_SECS', '?')} s |")
ok = (not lost and not twice_ledger and not twice_ncp and verified == "yes" and acked
      and not lost_msgs and not still_pending and not failed_msgs)
if not ok:
    print(f"\nFAILED: lost={lost} twice={twice_ledger} twice_ncp={twice_ncp} "
          f"messages missing={dict(missing)} pending={still_pending} failed={failed_msgs}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
