#!/usr/bin/env bash
# Two `serve` replicas on one PostgreSQL database under load, one killed with kill -9 in the
# middle. REQUESTS approved share requests (default 200) over IMAGES images (default 20) are
# sent through both replicas as a load balancer would (round robin; a request whose replica does
# not answer goes to the other, as a load balancer's health check does), each approved at once
# by the rule's approver through the other replica. When KILL_AFTER requests (default half) are
# acknowledged, replica A is killed with SIGKILL, and is not restarted: B alone finishes what A
# left (its image leases and outbox lanes expire, B's poll finds the work).
#
# Afterwards: every acknowledged request ended exactly once (one `succeeded` or `failed` ledger
# record, at most one successful NCP change for its target), 0 lost, every message owed reached
# the Slack stand-in (the card showing the final state, the requester's DM, the thread reply),
# nothing pending or failed in the outbox, `audit verify` green. Messages posted twice (a kill
# after Slack took a post but before the outbox recorded it: Slack has no idempotency key) are
# counted, not failed.
#
#   bench/replicas.sh                                  # 200 requests, 20 images, debug build
#   REQUESTS=40 IMAGES=8 RESULTS=/dev/null bench/replicas.sh   # short, for CI
#   REPLICAS_PROFILE=release bench/replicas.sh
#
# PostgreSQL: TEST_POSTGRES_URL if set (a schema of its own is made in it), else a throwaway
# cluster of its own (.ci/postgres.sh). Writes bench/results/replicas.md (or $RESULTS). Only
# loopback addresses are used; everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-200}
IMAGES=${IMAGES:-20}
KILL_AFTER=${KILL_AFTER:-$((REQUESTS / 2))}
PARALLEL=${PARALLEL:-8}
RESULTS=${RESULTS:-bench/results/replicas.md}
SLACK_LATENCY_MS=${SLACK_LATENCY_MS:-30}
NCP_LATENCY_MS=${NCP_LATENCY_MS:-40}
PROFILE=${REPLICAS_PROFILE:-debug}
. bench/lib.sh
LOADAVG_BEFORE=$(bench_loadavg)

if [ "$PROFILE" = release ]; then
    # With the load generator, as bench/lib.sh builds it: the same features, so the release
    # build of the other benchmarks is reused rather than made again.
    cargo build --quiet --release --locked --bin ncp-share-approver --example loadgen
else
    cargo build --quiet --locked --bin ncp-share-approver
fi
BIN="$target_dir/$PROFILE/ncp-share-approver"
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
bench_tmp
WORK=$tmp
chmod 755 "$WORK"

SCHEMA="replicas_$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    PG_URL=$TEST_POSTGRES_URL
else
    echo "== PostgreSQL: a throwaway cluster in $WORK/pg"
    pg_env=$(.ci/postgres.sh start "$WORK/pg")
    eval "$pg_env"
    PG_URL=$TEST_POSTGRES_URL
    trap '.ci/postgres.sh stop "$WORK/pg"; bench_cleanup' EXIT
fi
psql_q() { psql "$PG_URL" -qAt -c "SET search_path = $SCHEMA" -c "$1"; }

SIM_PORT=$(bench_free_port)
SLACK_PORT=$(bench_free_port)
PORT_A=$(bench_free_port)
PORT_B=$(bench_free_port)

# IMAGES images named bench-NN, every NCP call NCP_LATENCY_MS slow (so that the kill lands
# mid-execution).
python3 - "$WORK/seed.toml" "$IMAGES" "$NCP_LATENCY_MS" <<'PY'
import sys
path, n, latency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = ['[[accounts]]', 'login_id = "owner@corp.example"', 'access_key = "NCPSIMACCESSKEY00001"',
       'secret_key = "ncp-sim-demo-secret-key-000000000000001"', '']
for i in range(1, n + 1):
    out += ['[[images]]', f'no = "{7000000 + i}"', f'name = "bench-{i:02d}"', 'owner = "owner@corp.example"',
            f'hypervisor = "{"XEN" if i % 2 else "KVM"}"', 'status = "CREAT"', '']
out += ['[faults]', f'latency_ms = {latency}']
open(path, "w").write("\n".join(out) + "\n")
PY
BOT_TOKEN="xoxb-replicas-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
SIGNING_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
LEDGER_KEY=$("$BIN" audit key --generate --origin ncp-share-approver 2>/dev/null)
python3 - "$WORK/secrets.json" "$BOT_TOKEN" "$LEDGER_KEY" "$SIGNING_SECRET" "$PG_URL" <<'PY'
import json, sys
from urllib.parse import urlsplit
json.dump({"NCP_ACCESS_KEY": "NCPSIMACCESSKEY00001",
           "NCP_SECRET_KEY": "ncp-sim-demo-secret-key-000000000000001",
           "SLACK_SIGNING_SECRET": sys.argv[4],
           "SLACK_BOT_TOKEN": sys.argv[2],
           "LEDGER_SIGNING_KEY": sys.argv[3],
           # The database password from the secret source, as in production.
           "POSTGRES_PASSWORD": urlsplit(sys.argv[5]).password or ""}, open(sys.argv[1], "w"))
PY
# The URL in the configuration without its password.
BARE_URL=$(python3 -c 'import sys; from urllib.parse import urlsplit, urlunsplit; u = urlsplit(sys.argv[1]); print(urlunsplit(u._replace(netloc=f"{u.username}@{u.hostname}:{u.port}")))' "$PG_URL")
cat > "$WORK/policy.toml" <<'TOML'
[people]
alice = { slack = "U012ALICE" }
carol = { slack = "U056CAROL" }

[[rules]]
name = "replica suite"
images = ["name:bench-*"]
targets = ["*@corp.example"]
requesters = ["carol"]
approvers = ["alice"]
approval_channel = "C0REPLICAS"
TOML
cat > "$WORK/config.toml" <<TOML
policy = "$WORK/policy.toml"
[store]
kind = "postgres"
url = "$BARE_URL"
schema = "$SCHEMA"
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
lease_ttl_secs = 5
expire_interval_secs = 5
[outbox]
slack_interval_ms = 50
backoff_base_ms = 50
backoff_max_secs = 1
lane_lease_secs = 2
poll_ms = 2000
TOML

bench_spawn sim "$BIN" ncp-sim --listen "127.0.0.1:$SIM_PORT" --seed "$WORK/seed.toml"; SIM_PID=$spawned_pid
bench_spawn slack "$BIN" slack-fake --listen "127.0.0.1:$SLACK_PORT" --token "$BOT_TOKEN" --latency-ms "$SLACK_LATENCY_MS"
SLACK_PID=$spawned_pid
bench_wait_ok "http://127.0.0.1:$SLACK_PORT/_fake/calls" "$SLACK_PID" slack
bench_wait_any "http://127.0.0.1:$SIM_PORT/" "$SIM_PID" sim

bench_spawn serve-a env RUST_LOG=warn "$BIN" --config "$WORK/config.toml" serve --listen "127.0.0.1:$PORT_A"; PID_A=$spawned_pid
bench_spawn serve-b env RUST_LOG=warn "$BIN" --config "$WORK/config.toml" serve --listen "127.0.0.1:$PORT_B"; PID_B=$spawned_pid
bench_wait_ok "http://127.0.0.1:$PORT_A/readyz" "$PID_A" serve-a
bench_wait_ok "http://127.0.0.1:$PORT_B/readyz" "$PID_B" serve-b
echo "== two replicas on $SCHEMA: A on $PORT_A (pid $PID_A), B on $PORT_B (pid $PID_B); $REQUESTS requests over $IMAGES images, A killed after $KILL_AFTER"

# The load: PARALLEL clients; request i goes to replica i mod 2 (the other if it does not
# answer), its approval to the other replica. A is killed once KILL_AFTER are acknowledged.
LOAD_START=$(date +%s.%N)
python3 - "$WORK" "$REQUESTS" "$IMAGES" "$KILL_AFTER" "$PARALLEL" "$PORT_A" "$PORT_B" "$PID_A" "$SIGNING_SECRET" "$SLACK_PORT" <<'PY'
import hashlib, hmac, json, os, re, signal, sys, threading, time, urllib.parse, urllib.request
from concurrent.futures import ThreadPoolExecutor
work, n, images, kill_after, parallel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ports, pid_a, secret, slack_port = [sys.argv[6], sys.argv[7]], int(sys.argv[8]), sys.argv[9].encode(), sys.argv[10]
lock = threading.Lock()
acked, killed, failovers, answer_lost = [], [], [0], [0]
ID = re.compile(r"SR-[0-9A-Z]{8}")

def post(port, path, fields):
    body = urllib.parse.urlencode(fields).encode()
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers={
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts, "x-slack-signature": sig})
    with urllib.request.urlopen(req, timeout=15) as r:
        return r.read().decode()

def balanced(first, path, fields):
    # A load balancer: the chosen replica, or the other when it does not answer.
    for k in (first, 1 - first):
        try:
            return post(ports[k], path, fields)
        except OSError:
            with lock:
                failovers[0] += 1
    raise RuntimeError("no replica answered")

def seen_by_slack(matches, within=120):
    # The first request id in a call the Slack stand-in received that `matches`.
    until = time.time() + within
    while time.time() < until:
        with urllib.request.urlopen(f"http://127.0.0.1:{slack_port}/_fake/calls", timeout=15) as r:
            for c in json.load(r):
                if matches(c):
                    m = ID.search(json.dumps(c["body"]))
                    if m:
                        return m
        time.sleep(0.5)
    return None

def one(i):
    image = 7000000 + (i % images) + 1
    reply = balanced(i % 2, "/slack/commands", {
        "team_id": "T1", "channel_id": "C1", "user_id": "U056CAROL", "command": "/share-image",
        "text": f"{image} with r{i}@corp.example for 1h because replica suite",
        "response_url": f"http://127.0.0.1:{slack_port}/response/cmd-{i}"})
    m = ID.search(reply)
    if not m and "Working on it" in reply:
        # The submission outlasted Slack's 3 s (a loaded machine): the service finishes it from
        # the outbox and answers on the response_url, as Slack would show it.
        m = seen_by_slack(lambda c: c["method"] == f"response/cmd-{i}")
    if not m and "already received" in reply:
        # A stored the request and died before it answered; the command sent again to B is a
        # repeat (de-duplicated by its signature). The request's approval card shows it.
        m = seen_by_slack(lambda c: c["method"] == "chat.postMessage" and c["body"].get("channel") == "C0REPLICAS"
                          and f"r{i}@corp.example" in json.dumps(c["body"]))
        with lock:
            answer_lost[0] += 1
    if not m:
        raise RuntimeError(f"no request id in {reply!r}")
    rid = m.group(0)
    payload = {"type": "block_actions", "user": {"id": "U012ALICE", "username": "alice", "team_id": "T1"},
               "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0REPLICAS"},
               "channel": {"id": "C0REPLICAS", "name": "replicas"},
               "response_url": f"http://127.0.0.1:{slack_port}/response/click-{i}",
               "actions": [{"type": "button", "action_id": "approve", "block_id": "b", "value": rid}]}
    balanced(1 - i % 2, "/slack/interactions", {"payload": json.dumps(payload)})
    with lock:
        acked.append(rid)
        if len(acked) >= kill_after and not killed:
            os.kill(pid_a, signal.SIGKILL)
            killed.append((len(acked), time.time()))

with ThreadPoolExecutor(parallel) as pool:
    errors = [f for f in [pool.submit(one, i) for i in range(n)] if f.exception()]
for f in errors[:3]:
    print("error:", f.exception(), file=sys.stderr)
open(f"{work}/acked", "w").write("".join(f"{a}\n" for a in acked))
json.dump({"killed_after": killed[0][0] if killed else None, "killed_at": killed[0][1] if killed else None,
           "failovers": failovers[0], "answer_lost": answer_lost[0], "errors": len(errors)}, open(f"{work}/load.json", "w"))
print(f"acknowledged {len(acked)} of {n}; A killed after {killed[0][0] if killed else '-'}; "
      f"{failovers[0]} sends went to the other replica; {len(errors)} errors")
PY
LOAD_SECS=$(python3 -c "import time; print(round(time.time() - $LOAD_START, 1))")
wait "$PID_A" 2>/dev/null || true

# B alone finishes what is left: requests, and every message owed.
DRAIN_START=$(date +%s.%N)
for _ in $(seq 1 600); do
    left=$(psql_q "SELECT count(*) FROM requests WHERE state IN ('pending', 'approved', 'executing')")
    owed=$(psql_q "SELECT count(*) FROM outbox WHERE status = 'pending'")
    [ "$left" = 0 ] && [ "$owed" = 0 ] && break
    sleep 0.5
done
DRAIN_SECS=$(python3 -c "import time; print(round(time.time() - $DRAIN_START, 1))")
kill -TERM "$PID_B"
B_EXIT=0
wait "$PID_B" 2>/dev/null || B_EXIT=$?

"$BIN" --config "$WORK/config.toml" requests list --json --limit 100000 > "$WORK/requests.jsonl"
"$BIN" --config "$WORK/config.toml" audit export --format jsonl > "$WORK/ledger.jsonl"
if "$BIN" --config "$WORK/config.toml" audit verify > "$WORK/verify.txt" 2>&1; then VERIFIED=yes; else VERIFIED=no; fi
psql_q "SELECT status, count(*) FROM outbox GROUP BY status" > "$WORK/outbox_status.txt"
psql_q "SELECT request_id || ' ' || reference FROM message_refs WHERE kind = 'slack_card'" > "$WORK/card_refs.txt"
psql_q "SELECT count(*) FROM leases" > "$WORK/leases.txt"
curl -sf "http://127.0.0.1:$SIM_PORT/_sim/calls" > "$WORK/calls.json"
curl -sf "http://127.0.0.1:$SLACK_PORT/_fake/calls" > "$WORK/slack_calls.json"
curl -sf "http://127.0.0.1:$SLACK_PORT/_fake/messages" > "$WORK/slack_messages.json"

mkdir -p "$(dirname "$RESULTS")"
LOADAVG_AFTER=$(bench_loadavg)
PG_VERSION=$(psql_q "SHOW server_version" | cut -d' ' -f1)
export PROFILE LOADAVG_BEFORE LOADAVG_AFTER DRAIN_SECS LOAD_SECS SLACK_LATENCY_MS NCP_LATENCY_MS B_EXIT PG_VERSION
python3 - "$WORK" "$REQUESTS" "$IMAGES" "$VERIFIED" <<'PY' | tee "$RESULTS"
import collections, json, os, re, sys
work, n, images, verified = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
acked = [l.strip() for l in open(f"{work}/acked") if l.strip()]
load = json.load(open(f"{work}/load.json"))
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
            if v.endswith("@corp.example") and v.startswith("r"):
                adds[v] += 1
target_of = {i: r["targets"][0] for i, r in reqs.items()}
lost = [i for i in acked if i not in reqs or reqs[i]["state"] not in ("succeeded", "failed")]
twice_ledger = [i for i in acked if ends[i] > 1]
twice_ncp = [t for t, k in adds.items() if k > 1]
states = collections.Counter(reqs[i]["state"] for i in acked if i in reqs)
by_status = dict(l.split("|") for l in open(f"{work}/outbox_status.txt").read().split() if "|" in l)
by_status = {k: int(v) for k, v in by_status.items()}
card_refs = {}
for l in open(f"{work}/card_refs.txt"):
    parts = l.split()
    if len(parts) == 3:
        card_refs[parts[0]] = (parts[1], parts[2])
calls = json.load(open(f"{work}/slack_calls.json"))
messages = {(m["channel"], m["ts"]): m["body"] for m in json.load(open(f"{work}/slack_messages.json"))}
ID = re.compile(r"SR-[0-9A-Z]{8}")
posted = collections.defaultdict(collections.Counter)
for c in calls:
    if c["method"] != "chat.postMessage" or not c["ok"]:
        continue
    b = c["body"]
    m = ID.search(json.dumps(b))
    if not m:
        continue
    kind = "dm" if b.get("channel") == "U056CAROL" else "thread reply" if b.get("thread_ts") else "card"
    posted[m.group(0)][kind] += 1
END = {"succeeded": "shared", "failed": "failed"}
missing = collections.defaultdict(list)
for i in acked:
    for kind in ("card", "dm", "thread reply"):
        if posted[i][kind] == 0:
            missing[i].append(kind)
    card = messages.get(card_refs.get(i, ("", "")))
    state = reqs.get(i, {}).get("state")
    if card is None or f"Share request {i} {END.get(state, state)}" not in card.get("text", ""):
        missing[i].append("final card state")
owed = 4 * len(acked)
lost_msgs = sum(len(v) for v in missing.values())
dups = {k: sum(max(0, posted[i][k] - 1) for i in acked) for k in ("card", "dm", "thread reply")}
pending, failed = by_status.get("pending", 0), by_status.get("failed", 0)
leases = int(open(f"{work}/leases.txt").read().strip() or 0)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
la = lambda v: v.replace(" ", " / ")
e = os.environ
print("# Two replicas on one PostgreSQL, one killed with kill -9\n")
print(f"Machine: {os.cpu_count()} cores, {cpu}; load average (1 / 5 / 15 min) {la(e['LOADAVG_BEFORE'])} before, "
      f"{la(e['LOADAVG_AFTER'])} after. Command: `bench/replicas.sh` (REQUESTS={n}, IMAGES={images}, {e['PROFILE']} build); "
      f"PostgreSQL {e['PG_VERSION']} on the same machine; NCP simulator answering in {e['NCP_LATENCY_MS']} ms, "
      f"Slack stand-in in {e['SLACK_LATENCY_MS']} ms; `lease_ttl_secs = 5`, `lane_lease_secs = 2`, `expire_interval_secs = 5`.\n")
print("| figure | value |\n| --- | --- |")
print(f"| replicas | 2 (A and B, one schema), requests round robin, each approval through the other replica |")
print(f"| A killed with SIGKILL | after {load['killed_after']} of {n} requests acknowledged; not restarted |")
print(f"| sends that found A dead and went to B | {load['failovers']} |")
print(f"| commands A stored but died before answering (sent again to B: a repeat, refused; the request found by its card) | {load['answer_lost']} |")
print(f"| requests acknowledged | {len(acked)} of {n} (load {e['LOAD_SECS']} s) |")
print(f"| executions cut by the kill and resumed by B | {len(resumed)} |")
print(f"| succeeded | {states.get('succeeded', 0)} |")
print(f"| failed (reported) | {states.get('failed', 0)} |")
print(f"| lost (acknowledged but not ended) | {len(lost)} |")
print(f"| executed twice (two end records, or two NCP changes for one target) | {len(twice_ledger) + len(twice_ncp)} |")
print(f"| `audit verify` | {'green' if verified == 'yes' else 'RED'} |")
print(f"| Slack messages owed (card, its final state, DM, thread reply; per request) | {owed} |")
print(f"| delivered | {owed - lost_msgs} |")
print(f"| lost | {lost_msgs} |")
print(f"| outbox entries | {sum(by_status.values())}: {by_status.get('delivered', 0)} delivered, {by_status.get('superseded', 0)} superseded, {pending} pending, {failed} failed |")
print(f"| posted twice (card / DM / thread reply) | {dups['card']} / {dups['dm']} / {dups['thread reply']} |")
print(f"| leases left in the store after B's SIGTERM | {leases} (B exited {e['B_EXIT']}) |")
print(f"| time for B to finish everything after the load | {e['DRAIN_SECS']} s |")
ok = (len(acked) == n and not lost and not twice_ledger and not twice_ncp and verified == "yes"
      and not lost_msgs and not pending and not failed and e["B_EXIT"] == "0" and load["killed_after"])
if not ok:
    print(f"\nFAILED: acked={len(acked)}/{n} lost={lost} twice={twice_ledger} twice_ncp={twice_ncp} "
          f"messages missing={dict(missing)} pending={pending} failed={failed} b_exit={e['B_EXIT']}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
