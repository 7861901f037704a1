#!/usr/bin/env bash
# Load benchmark: signed Slack slash commands against `ncp-share-approver serve` (release build)
# with the embedded SQLite store, the NCP simulator (demo seed) and the crate's fake Slack Web API
# (so the notifier really posts approval cards). Everything on 127.0.0.1, bounded in time.
#
# Usage: bench/load.sh            (about 2 minutes after the build; honours CARGO_TARGET_DIR)
# Knobs (environment): HELP_RATE=200 SHARE_RATE=50 CONNECTIONS=32 DURATION=20 WARMUP=2
#                      COLD_RUNS=10 LOADGEN_THREADS=1 KEEP_TMP=1 (keep the store and logs)
#                      CATCHUP_TRIES=600 (polls, ~0.1 s apart, for the approval cards to catch up)
#   BIN=path LOADGEN=path: prebuilt server and load generator (no build; e.g. another commit's
#                      server, driven by this commit's generator); REV=label: the commit named in
#                      the results (default: this checkout's); NAME=load: results file name.
# Writes bench/results/$NAME.md (and prints it); raw JSON next to it in bench/results/$NAME.json.
#
# Scenarios, in this order, against one server and one store:
#   help  @ HELP_RATE req/s (open loop)  and over CONNECTIONS connections (closed loop)
#   GET /healthz over CONNECTIONS connections (closed loop): the HTTP stack's floor, for help
#   share @ SHARE_RATE req/s (open loop) and over CONNECTIONS connections (closed loop)
#   help  @ HELP_RATE req/s again, on the store the load left behind
# `help` is verify + de-dup (a SQLite write) + parse: the fixed cost of every command.
# `share` is `1234567 with userN@partner.example for 7d because load`: NCP image lookup on the
# simulator + policy + store + ledger + notifier (approval card to the fake Slack).
# Every request is signed at send time with a unique body (the service de-duplicates on the
# signature). Cold start: spawn `serve` to the first verified `help` answered, COLD_RUNS times,
# on a new empty store and again on the store the load left behind.
set -euo pipefail

cd "$(dirname "$0")/.."
HELP_RATE="${HELP_RATE:-200}"
SHARE_RATE="${SHARE_RATE:-50}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
COLD_RUNS="${COLD_RUNS:-10}"
LOADGEN_THREADS="${LOADGEN_THREADS:-1}"
NAME="${NAME:-load}"
command_line="${LOAD_SH_COMMAND:-CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} bench/load.sh}"

. bench/lib.sh
bench_need python3 sqlite3 curl jq
bench_build
bench_tmp

sim_port="$(bench_free_port)"; slack_port="$(bench_free_port)"; port="$(bench_free_port)"
db="$tmp/store.db"

bench_serve_env load "$sim_port" "$slack_port" "$port" "$db"

echo "== starting the NCP simulator (demo seed) and the fake Slack"
bench_start_peers "$sim_port" "$slack_port"

echo "== cold start on a new store, $COLD_RUNS runs"
mkdir -p "$tmp/cold"
timeout 120 "$loadgen" cold-start --healthz-first --bin "$bin" --config "$tmp/config.toml" --runs "$COLD_RUNS" \
    --fresh-store-dir "$tmp/cold" --label "new empty store" >"$tmp/cold-empty.json"
cat "$tmp/cold-empty.json"

echo "== starting serve on 127.0.0.1:$port"
bench_spawn serve "$bin" --config "$tmp/config.toml" serve; serve_pid=$spawned_pid
bench_wait_ok "http://127.0.0.1:$port/healthz" "$serve_pid" serve
startup_rss_kib="$(awk '/VmRSS:/ {print $2}' "/proc/$serve_pid/status")"

q() { sqlite3 -cmd '.timeout 5000' "$db" "$1"; }
: >"$tmp/runs.jsonl"
scenario() { # LABEL LOADGEN-ARGS...
    local label="$1"; shift
    local deliveries requests
    deliveries="$(q 'SELECT count(*) FROM deliveries')"
    requests="$(q 'SELECT count(*) FROM requests')"
    echo "== $label"
    timeout 180 "$loadgen" run --url "http://127.0.0.1:$port" --label "$label" \
        --duration "$DURATION" --warmup "$WARMUP" --threads "$LOADGEN_THREADS" \
        --response-url-base "http://127.0.0.1:$slack_port/response" \
        --server-pid "$serve_pid" --peer-pid "$sim_pid" --peer-pid "$slack_pid" \
        --clk-tck "$(getconf CLK_TCK)" "$@" \
        | jq -c --argjson d "$deliveries" --argjson r "$requests" \
            '. + {deliveries_rows_before: $d, requests_before: $r}' \
        | tee -a "$tmp/runs.jsonl" \
        | jq -c '{label: .label, requests, ok, errors, slow_acks, throughput_rps, p50_ms, p99_ms, max_ms, server_cpu_pct, loadgen_cpu_pct, machine_busy_pct, send_lag_p99_ms, server_vm_hwm_kib, quarter_p50_ms}'
}

scenario "help, fixed rate" --kind help --rate "$HELP_RATE"
scenario "help, saturation" --kind help --connections "$CONNECTIONS"
scenario "healthz, saturation" --kind healthz --connections "$CONNECTIONS"
scenario "share, fixed rate" --kind share --rate "$SHARE_RATE"
# Let the notifier finish the fixed-rate cards so the saturation run starts from an idle server.
sleep 2
scenario "share, saturation" --kind share --connections "$CONNECTIONS"

# How far behind the notifier is when the load stops, and how long it takes to catch up.
share_total="$(q 'SELECT count(*) FROM requests')"
cards_at_end="$(q "SELECT count(*) FROM message_refs WHERE kind = 'slack_card'")"
catchup_start=$(date +%s.%N)
for _ in $(seq "${CATCHUP_TRIES:-600}"); do
    [ "$(q "SELECT count(*) FROM message_refs WHERE kind = 'slack_card'")" -ge "$share_total" ] && break
    sleep 0.1
done
catchup_s="$(python3 -c "import time; print(round(time.time() - $catchup_start, 1))")"
cards_after="$(q "SELECT count(*) FROM message_refs WHERE kind = 'slack_card'")"
# Messages still owed (a server with an outbox; its Slack lanes are paced, so the cards trail).
outbox_pending="n/a"
if [ "$(q "SELECT count(*) FROM sqlite_master WHERE name = 'outbox'")" = 1 ]; then
    outbox_pending="$(q "SELECT count(*) FROM outbox WHERE status = 'pending'")"
fi

# The same fixed-rate help run again, now that the load has left its rows behind: the difference
# to the first run is the cost that grows with the store.
scenario "help, fixed rate, after the load" --kind help --rate "$HELP_RATE"
final_hwm_kib="$(awk '/VmHWM:/ {print $2}' "/proc/$serve_pid/status")"
final_rss_kib="$(awk '/VmRSS:/ {print $2}' "/proc/$serve_pid/status")"

echo "== stopping serve; checking the store"
bench_stop "$serve_pid"
listed="$("$bin" --config "$tmp/config.toml" requests list --state pending --limit 1000000 --json | wc -l)"
store_counts="$(q "SELECT json_object(
    'requests', (SELECT count(*) FROM requests),
    'pending', (SELECT count(*) FROM requests WHERE state = 'pending'),
    'states', (SELECT json_group_object(state, n) FROM (SELECT state, count(*) n FROM requests GROUP BY state)),
    'audit_records', (SELECT count(*) FROM audit),
    'deliveries', (SELECT count(*) FROM deliveries),
    'cards', (SELECT count(*) FROM message_refs WHERE kind = 'slack_card'))")"
"$bin" --config "$tmp/config.toml" audit verify >"$tmp/audit-verify.txt" 2>&1 \
    && audit_ok=true || audit_ok=false
db_kib="$(du -k "$db" | cut -f1)"
echo "$store_counts; requests list --state pending: $listed; audit verify: $audit_ok"

echo "== cold start on the loaded store, $COLD_RUNS runs"
timeout 120 "$loadgen" cold-start --healthz-first --bin "$bin" --config "$tmp/config.toml" --runs "$COLD_RUNS" \
    --label "store left by the load" >"$tmp/cold-loaded.json"
cat "$tmp/cold-loaded.json"

mkdir -p bench/results
jq -n --slurpfile runs "$tmp/runs.jsonl" --slurpfile ce "$tmp/cold-empty.json" \
    --slurpfile cl "$tmp/cold-loaded.json" --argjson store "$store_counts" \
    '{runs: $runs, cold_start: ($ce + $cl), store: $store}' >"bench/results/$NAME.json"

bench_machine_env src Cargo.toml Cargo.lock
export COMMAND_LINE="$command_line" LISTED="$listed" AUDIT_OK="$audit_ok" DB_KIB="$db_kib"
export STARTUP_RSS_KIB="$startup_rss_kib" FINAL_HWM_KIB="$final_hwm_kib" FINAL_RSS_KIB="$final_rss_kib"
export CARDS_AT_END="$cards_at_end" CARDS_AFTER="$cards_after" CATCHUP_S="$catchup_s"
export SHARE_TOTAL="$share_total" OUTBOX_PENDING="$outbox_pending" LOADGEN_THREADS
python3 - "bench/results/$NAME.json" >"bench/results/$NAME.md" <<'PY'
import json, os, sys

data = json.load(open(sys.argv[1]))
env = os.environ
mib = lambda kib: f"{kib / 1024:.1f} MiB" if kib is not None else "n/a"
la = lambda v: " / ".join(f"{x:.2f}" for x in v) if v else "n/a"

print("# Load benchmark: signed Slack slash commands against `serve`\n")
print(f"Command: `{env['COMMAND_LINE']}` (commit {env['GIT_REV']}, release build, {env['RUSTC_VERSION']}).\n")
print(f"Machine: {env['MACHINE_NPROC']} cores, {env['MACHINE_CPU']}, {env['MACHINE_MEM']} RAM, Linux {env['MACHINE_KERNEL']}. "
      f"The server, the NCP simulator, the fake Slack and the load generator ({env['LOADGEN_THREADS']} thread) share these cores.\n")
print("Server: `ncp-share-approver serve`, embedded SQLite store (WAL) in a temp dir, `examples/policy.toml`, "
      "NCP simulator (demo seed), fake Slack Web API for approval cards, `RUST_LOG=info` to a file. "
      "Every request is a distinct slash command signed at send time. Latency of the open-loop runs is "
      "measured from each request's *intended* send time (no coordinated omission). "
      "OK = HTTP 200 with the expected reply (`Usage:` for help, a request id for share); errors = anything else.\n")

print("| scenario | load | requests | errors | throughput | p50 | p99 | max | server CPU | server peak RSS | de-dup rows before | load avg at start (1 / 5 / 15 min) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in data["runs"]:
    load = f"{r['rate']:g} req/s" if r["rate"] else f"{r['connections']} connections"
    errs = r["errors"] + r.get("slow_acks", 0)
    print(f"| {r['label']} | {load} | {r['requests']} | {errs} | {r['throughput_rps']:.0f} req/s | "
          f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['max_ms']:.2f} ms | "
          f"{r.get('server_cpu_pct', 0):.0f}% | {mib(r.get('server_vm_hwm_kib'))} | {r['deliveries_rows_before']} | {la(r.get('loadavg_before'))} |")
print()
sat = {r["kind"]: r for r in data["runs"] if not r["rate"]}
if "help" in sat and "healthz" in sat and sat["healthz"]["throughput_rps"]:
    h, z = sat["help"], sat["healthz"]
    print(f"Signed `help` at saturation answers {h['throughput_rps']:.0f} req/s, "
          f"{100 * h['throughput_rps'] / z['throughput_rps']:.0f}% of the same server's `GET /healthz` "
          f"({z['throughput_rps']:.0f} req/s) with the same generator and {h['connections']} connections "
          f"(p99 {h['p99_ms']:.2f} ms against {z['p99_ms']:.2f} ms).\n")
print(f"Each run: {data['runs'][0]['warmup_s']:g} s warm-up (not counted), then {data['runs'][0]['duration_s']:g} s measured. "
      "Server CPU is % of one core over the run. Peak RSS is `VmHWM`, reset through `/proc/PID/clear_refs` before each run, "
      f"so it is that run's peak; RSS right after start {mib(int(env['STARTUP_RSS_KIB']))}, "
      f"at the end {mib(int(env['FINAL_RSS_KIB']))}.\n")

print("Where the time and CPU went. Q1-Q4: median latency per quarter of the measured run (a cost that grows "
      "with the store shows here). CPU: % of one core over the run; other processes: CPU used by anything else on the machine "
      "(it is shared), in % of one core; machine: % of all cores busy. "
      "Send lag: how late the generator sent open-loop requests against their schedule (already included in the latencies above).\n")
print("| scenario | Q1 | Q2 | Q3 | Q4 | req/s 1st s → last s | server | NCP sim | fake Slack | load generator | other processes | machine | send lag p99 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
busiest_other = 0.0
for r in data["runs"]:
    q = r["quarter_p50_ms"]
    peers = r.get("peer_cpu_pct", [])
    peer = lambda i: f"{peers[i]:.0f}%" if len(peers) > i else "n/a"
    lag = f"{r['send_lag_p99_ms']:.2f} ms" if r["rate"] else "n/a"
    ours = r.get("server_cpu_pct", 0) + sum(peers) + r["loadgen_cpu_pct"]
    other = max(0.0, r["machine_busy_pct"] * int(env["MACHINE_NPROC"]) - ours)
    busiest_other = max(busiest_other, other)
    ps = r["per_second"]
    print(f"| {r['label']} | " + " | ".join(f"{x:.2f} ms" for x in q) + f" | {ps[0]} → {ps[-1]}"
          + f" | {r.get('server_cpu_pct', 0):.0f}% | {peer(0)} | {peer(1)} | {r['loadgen_cpu_pct']:.0f}% | {other:.0f}% | {r['machine_busy_pct']:.0f}% | {lag} |")
print()
if busiest_other > 20:
    print(f"**Caveat:** other processes used up to {busiest_other:.0f}% of a core during these runs (the machine is shared), "
          "so saturation numbers are lower and tails longer than on an idle machine; fixed-rate medians and the server's "
          "own CPU per request are the more robust figures.\n")

print("Cold start: spawn of the release binary to the first verified `help` answered (median of runs):\n")
print("| store | runs | median | min | max | median to /healthz | load avg at start |")
print("|---|---:|---:|---:|---:|---:|---|")
for c in data["cold_start"]:
    print(f"| {c['label']} | {c['runs']} | {c['median_ms']:.1f} ms | {c['min_ms']:.1f} ms | {c['max_ms']:.1f} ms | {c['median_to_healthz_ms']:.1f} ms | {la(c.get('loadavg_before'))} |")
print()

s = data["store"]
print(f"Store after the load: {s['requests']} requests ({s['pending']} pending; `requests list --state pending` lists {env['LISTED']}), "
      f"{s['audit_records']} audit records (`audit verify`: {'ok' if env['AUDIT_OK'] == 'true' else 'FAILED'}), "
      f"{s['deliveries']} de-dup rows, {s['cards']} approval cards posted; database {int(env['DB_KIB']) / 1024:.1f} MiB.")
share_ok = sum(r["ok"] for r in data["runs"] if r["kind"] == "share")
share_all = sum(r["requests_incl_warmup"] for r in data["runs"] if r["kind"] == "share")
print(f"Share commands sent (warm-up included): {share_all}; stored: {s['requests']}.")
print(f"Notifier backlog when the load stopped: {env['CARDS_AT_END']} of {env['SHARE_TOTAL']} approval cards posted; "
      f"{env['CARDS_AFTER']} after {env['CATCHUP_S']} s more"
      + (f"; outbox messages still pending then: {env['OUTBOX_PENDING']}." if env["OUTBOX_PENDING"] != "n/a" else "."))
PY
cat "bench/results/$NAME.md"
