#!/usr/bin/env bash
# Side by side, in one run: `ncp-share-approver serve` (release build, embedded SQLite store, NCP
# simulator, fake Slack) and the usual alternative, a Python Slack Bolt app (bench/peer/app.py,
# gunicorn + Bolt's WSGI adapter; twice: with Bolt's defaults, and with `process_before_response`
# which answers without Bolt's 10 ms ack polling), all verifying the Slack signature of `/share-image help` and
# acknowledging it with an ephemeral reply. Everything on 127.0.0.1, bounded in time.
#
# Usage: bench/compare.sh          (about 4 minutes after the build; honours CARGO_TARGET_DIR)
# Knobs (environment): RATE=200 CONNECTIONS=32 DURATION=20 WARMUP=2 COLD_RUNS=10
#                      PEER_WORKERS=2 PEER_THREADS=4 (gunicorn -w / --threads) KEEP_TMP=1
#                      BIN=path LOADGEN=path (prebuilt server and load generator; no build)
# Writes bench/results/compare.md (and prints it); raw JSON in bench/results/compare.json.
#
#   cold start: spawn to the first verified `help` answered (probing `help` every ~1 ms), new
#               process each time (ours on a new empty store), the three alternating, COLD_RUNS each
#   warm:       `help` at RATE req/s (open loop, latency from the intended send time) and over
#               CONNECTIONS connections (closed loop, saturation); ours, peer, peer-sync in turn
# Each `help` is signed at send time with a unique body (ours de-duplicates on the signature, a
# SQLite write; the peer does not de-duplicate). Peak RSS of the peer is the sum of the peaks of
# gunicorn's master and workers.
set -euo pipefail

cd "$(dirname "$0")/.."
root="$PWD"
RATE="${RATE:-200}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
COLD_RUNS="${COLD_RUNS:-10}"
PEER_WORKERS="${PEER_WORKERS:-2}"
PEER_THREADS="${PEER_THREADS:-4}"
command_line="${COMPARE_SH_COMMAND:-CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} bench/compare.sh}"

. bench/lib.sh
bench_need python3 curl jq python3-venv

echo "== the peer's virtualenv (bench/peer/.venv)"
venv="$root/bench/peer/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r bench/peer/requirements.txt
peer_versions="$("$venv/bin/python" -c 'import importlib.metadata as m, sys; print("Python", sys.version.split()[0] + ", slack-bolt", m.version("slack-bolt") + ", slack-sdk", m.version("slack-sdk") + ", gunicorn", m.version("gunicorn"))')"

bench_build

bench_tmp

sim_port="$(bench_free_port)"; slack_port="$(bench_free_port)"; port="$(bench_free_port)"; peer_port="$(bench_free_port)"
sync_port="$(bench_free_port)"
bench_serve_env compare "$sim_port" "$slack_port" "$port" "$tmp/store.db"
ours_cmd="$bin --config $tmp/config.toml serve --listen 127.0.0.1:{port}"
peer_cmd="$venv/bin/gunicorn --chdir $root/bench/peer --no-control-socket -w $PEER_WORKERS -k gthread --threads $PEER_THREADS -b 127.0.0.1:{port} app:api"

echo "== starting the NCP simulator and the fake Slack (for ours)"
bench_start_peers "$sim_port" "$slack_port"

echo "== cold start, $COLD_RUNS each, alternating"
: >"$tmp/cold-ours.jsonl"; : >"$tmp/cold-peer.jsonl"; : >"$tmp/cold-peer-sync.jsonl"
for i in $(seq "$COLD_RUNS"); do
    mkdir -p "$tmp/cold-$i"
    timeout 60 "$loadgen" cold-start --exec "$ours_cmd" --fresh-store-dir "$tmp/cold-$i" --runs 1 \
        --label ours >>"$tmp/cold-ours.jsonl"
    timeout 60 "$loadgen" cold-start --exec "$peer_cmd" --runs 1 \
        --label peer >>"$tmp/cold-peer.jsonl"
    PEER_PROCESS_BEFORE_RESPONSE=1 timeout 60 "$loadgen" cold-start --exec "$peer_cmd" --runs 1 \
        --label peer-sync >>"$tmp/cold-peer-sync.jsonl"
    echo "  run $i: ours $(jq -r '.median_ms | floor' <(tail -1 "$tmp/cold-ours.jsonl")) ms, peer $(jq -r '.median_ms | floor' <(tail -1 "$tmp/cold-peer.jsonl")) ms, peer-sync $(jq -r '.median_ms | floor' <(tail -1 "$tmp/cold-peer-sync.jsonl")) ms"
done

echo "== starting ours on 127.0.0.1:$port and the peer on 127.0.0.1:$peer_port"
bench_spawn serve "$bin" --config "$tmp/config.toml" serve; serve_pid=$spawned_pid
bench_spawn_group peer ${peer_cmd//\{port\}/$peer_port}; peer_pid=$spawned_pid
PEER_PROCESS_BEFORE_RESPONSE=1 bench_spawn_group peer-sync ${peer_cmd//\{port\}/$sync_port}; sync_pid=$spawned_pid
bench_wait_any "http://127.0.0.1:$port/healthz" "$serve_pid" serve
bench_wait_any "http://127.0.0.1:$peer_port/" "$peer_pid" peer
bench_wait_any "http://127.0.0.1:$sync_port/" "$sync_pid" peer-sync
# gunicorn answers once its master binds; give its workers a moment to import Bolt.
sleep 2
peer_procs="$(pgrep -c -g "$peer_pid" || true)"

: >"$tmp/runs.jsonl"
scenario() { # WHO URL PID LABEL LOADGEN-ARGS...
    local who="$1" url="$2" pid="$3" label="$4"; shift 4
    echo "== $who: $label"
    timeout 180 "$loadgen" run --url "$url" --label "$label" --kind help \
        --duration "$DURATION" --warmup "$WARMUP" --threads 1 \
        --server-pid "$pid" --server-tree --clk-tck "$(getconf CLK_TCK)" "$@" \
        | jq -c --arg who "$who" '. + {who: $who}' \
        | tee -a "$tmp/runs.jsonl" \
        | jq -c '{who, label: .label, requests, ok, errors, throughput_rps, p50_ms, p99_ms, server_cpu_pct, server_vm_hwm_kib, loadavg_before}'
}
scenario ours "http://127.0.0.1:$port" "$serve_pid" "fixed rate" --rate "$RATE"
scenario peer "http://127.0.0.1:$peer_port" "$peer_pid" "fixed rate" --rate "$RATE"
scenario peer-sync "http://127.0.0.1:$sync_port" "$sync_pid" "fixed rate" --rate "$RATE"
scenario ours "http://127.0.0.1:$port" "$serve_pid" "saturation" --connections "$CONNECTIONS"
scenario peer "http://127.0.0.1:$peer_port" "$peer_pid" "saturation" --connections "$CONNECTIONS"
scenario peer-sync "http://127.0.0.1:$sync_port" "$sync_pid" "saturation" --connections "$CONNECTIONS"

mkdir -p bench/results
jq -n --slurpfile runs "$tmp/runs.jsonl" --slurpfile co "$tmp/cold-ours.jsonl" \
    --slurpfile cp "$tmp/cold-peer.jsonl" --slurpfile cs "$tmp/cold-peer-sync.jsonl" \
    '{runs: $runs, cold_ours: $co, cold_peer: $cp, cold_peer_sync: $cs}' >bench/results/compare.json

bench_machine_env src Cargo.toml Cargo.lock examples bench/peer
export COMMAND_LINE="$command_line" PEER_VERSIONS="$peer_versions" PEER_PROCS="$peer_procs"
export PEER_WORKERS PEER_THREADS
python3 - bench/results/compare.json >bench/results/compare.md <<'PY'
import json, os, statistics, sys

d = json.load(open(sys.argv[1]))
env = os.environ
la = lambda v: " / ".join(f"{x:.2f}" for x in v) if v else "n/a"

def cold(rows):
    v = sorted(x for r in rows for x in r["to_first_command_ms"])
    return {"median": statistics.median(v), "min": v[0], "max": v[-1], "n": len(v),
            "load": [rows[0]["loadavg_before"], rows[-1]["loadavg_after"]]}

cold_of = {"ours": cold(d["cold_ours"]), "peer": cold(d["cold_peer"]), "peer-sync": cold(d["cold_peer_sync"])}
run = {(r["who"], r["label"]): r for r in d["runs"]}
peers = ("peer", "peer-sync")

print("# Ours vs the usual alternative (Python Slack Bolt): signed `/share-image help`\n")
print(f"Command: `{env['COMMAND_LINE']}` (commit {env['GIT_REV']}, release build, {env['RUSTC_VERSION']}).\n")
print(f"Machine: {env['MACHINE_NPROC']} cores, {env['MACHINE_CPU']}, {env['MACHINE_MEM']} RAM, Linux {env['MACHINE_KERNEL']}; "
      "shared with another engineer's builds, so the load average (1 / 5 / 15 min, from `/proc/loadavg` at the start of each figure) is given with every figure. "
      "The servers, the load generator (1 thread), the NCP simulator and the fake Slack share these cores.\n")
print("- **ours**: `ncp-share-approver serve`, embedded SQLite store (WAL), `examples/policy.toml`, NCP simulator, fake Slack, `RUST_LOG=info` to a file. "
      "For `help` it verifies the signature (HMAC-SHA256, 5-minute window), records the delivery in the de-dup table (a SQLite write), parses, and answers the usage text as an ephemeral reply.")
print(f"- **peer**: `bench/peer/app.py`, Slack Bolt for Python behind gunicorn (`-w {env['PEER_WORKERS']} -k gthread --threads {env['PEER_THREADS']}`, {env['PEER_PROCS']} processes), {env['PEER_VERSIONS']}, Bolt's defaults. "
      "Bolt verifies the signature (HMAC-SHA256, 5-minute window), parses, routes to the `/share-image` listener, which `ack`s the same usage text as an ephemeral reply. "
      "No de-dup, no store; `authorize` answers from memory so no call leaves the machine. "
      "With Bolt's defaults the listener runs on a thread pool and the request thread polls for its `ack` every 10 ms (`time.sleep(0.01)` in `slack_bolt/listener/thread_runner.py`).")
print("- **peer-sync**: the same app with `process_before_response=True` (`PEER_PROCESS_BEFORE_RESPONSE=1`): the `ack` is the answer, no polling. The fairer peer for latency.\n")
print("Latency of the fixed-rate runs is measured from each request's intended send time (no coordinated omission). "
      "Peak RSS: `VmHWM` reset before each run; for a peer the sum over gunicorn's master and workers. "
      "Server CPU: % of one core over the run (a peer: all its processes). Ratio = peer ÷ ours (for throughput: ours ÷ peer), so above 1 means ours is better.\n")

def ratio(p, o):
    return f"{p / o:.2f}×" if o else "n/a"

print("| figure | ours | peer (Bolt defaults) | ratio | peer-sync | ratio | load avg at start (ours; peer; peer-sync) |")
print("|---|---:|---:|---:|---:|---:|---|")
co = cold_of["ours"]
cells = [f"{co['median']:.1f} ms ({co['min']:.1f}–{co['max']:.1f})"]
for p in peers:
    c = cold_of[p]
    cells += [f"{c['median']:.1f} ms ({c['min']:.1f}–{c['max']:.1f})", ratio(c["median"], co["median"])]
print(f"| cold start: spawn to first verified `help` answered, median of {co['n']} (min–max) | " + " | ".join(cells)
      + " | " + "; ".join(la(cold_of[w]["load"][0]) for w in ("ours",) + peers) + " |")
for label in ("fixed rate", "saturation"):
    o = run[("ours", label)]
    ps = [run[(p, label)] for p in peers]
    load = f"{o['rate']:g} req/s" if o["rate"] else f"{o['connections']} connections"
    lav = "; ".join(la(r["loadavg_before"]) for r in [o] + ps)
    def row(name, f, better_high=False, fmt=lambda x: x):
        cells = [fmt(f(o))]
        for p in ps:
            cells += [fmt(f(p)), ratio(f(o), f(p)) if better_high else ratio(f(p), f(o))]
        print(f"| {label} ({load}): {name} | " + " | ".join(cells) + f" | {lav} |")
    row("p50", lambda r: r["p50_ms"], fmt=lambda x: f"{x:.2f} ms")
    row("p99", lambda r: r["p99_ms"], fmt=lambda x: f"{x:.2f} ms")
    row("throughput", lambda r: r["throughput_rps"], True, fmt=lambda x: f"{x:.0f} req/s")
    row("peak RSS", lambda r: r["server_vm_hwm_kib"] / 1024, fmt=lambda x: f"{x:.1f} MiB")
    row("server CPU (% of a core)", lambda r: r["server_cpu_pct"], fmt=lambda x: f"{x:.0f}%")
    row("server CPU per request", lambda r: 10000 * r["server_cpu_pct"] / r["throughput_rps"] if r["throughput_rps"] else 0,
        fmt=lambda x: f"{x:.0f} µs")
    cells = [f"{o['errors'] + o['slow_acks']} / {o['requests']}"]
    for p in ps:
        cells += [f"{p['errors'] + p['slow_acks']} / {p['requests']}", ""]
    print(f"| {label} ({load}): errors / requests | " + " | ".join(cells) + f" | {lav} |")
print()
for label in ("fixed rate", "saturation"):
    rs = [(w, run[(w, label)]) for w in ("ours",) + peers]
    print(f"- {label}: p99.9 " + ", ".join(f"{w} {r['p999_ms']:.2f} ms" for w, r in rs)
          + "; max " + ", ".join(f"{w} {r['max_ms']:.2f} ms" for w, r in rs)
          + "; machine busy (% of both cores) " + ", ".join(f"{w} {r['machine_busy_pct']:.0f}%" for w, r in rs)
          + "; load generator CPU (% of a core) " + ", ".join(f"{w} {r['loadgen_cpu_pct']:.0f}%" for w, r in rs) + ".")
print()
print("Cold start, every run (ms, in order; the three alternate): "
      + "; ".join(f"{w} " + ", ".join(f"{x:.1f}" for r in d[k] for x in r["to_first_command_ms"])
                  for w, k in (("ours", "cold_ours"), ("peer", "cold_peer"), ("peer-sync", "cold_peer_sync"))) + ".")
PY
cat bench/results/compare.md
