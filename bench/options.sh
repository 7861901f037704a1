#!/usr/bin/env bash
# Options benchmark: the request form's image picker (`POST /slack/options`) under load.
# Slack gives an options request 3 seconds; people type, so it is asked once per keystroke.
# Each request is a signed `block_suggestion` (verify + the policy's images from the cached
# catalog + filter by the typed prefix); the catalog comes from NCP through the worker's
# refresh, never per request. `serve` (release build) on SQLite, the NCP simulator seeded with
# IMAGES images (a large account), the fake Slack. Everything on 127.0.0.1, bounded in time.
#
# Usage: bench/options.sh      (about 1 minute after the build; honours CARGO_TARGET_DIR)
# Knobs: IMAGES=2000 RATE=200 CONNECTIONS=32 DURATION=20 WARMUP=2 LOADGEN_THREADS=1 KEEP_TMP=1
# Writes bench/results/options.md (and prints it); raw JSON in bench/results/options.json.
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGES="${IMAGES:-2000}"
RATE="${RATE:-200}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
LOADGEN_THREADS="${LOADGEN_THREADS:-1}"
command_line="${OPTIONS_SH_COMMAND:-CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} bench/options.sh}"

. bench/lib.sh
bench_need python3 curl jq
bench_build
bench_tmp

sim_port="$(bench_free_port)"; slack_port="$(bench_free_port)"; port="$(bench_free_port)"
bench_serve_env options "$sim_port" "$slack_port" "$port" "$tmp/store.db"

echo "== a simulator seed with $IMAGES images (golden-*, sandbox-*, other-*)"
python3 - "$IMAGES" >"$tmp/seed.toml" <<'PY'
import sys
n = int(sys.argv[1])
print('[[accounts]]\nlogin_id = "owner@corp.example"\naccess_key = "NCPSIMACCESSKEY00001"\n'
      'secret_key = "ncp-sim-demo-secret-key-000000000000001"\n')
kinds = ["golden", "sandbox", "other"]
for i in range(n):
    print(f'[[images]]\nno = "{1000000 + i}"\nname = "{kinds[i % 3]}-app-{i:05d}"\n'
          f'owner = "owner@corp.example"\nhypervisor = "{"XEN" if i % 2 else "KVM"}"\nstatus = "CREAT"\nshared_with = []\n')
PY

echo "== starting the NCP simulator and the fake Slack"
bench_spawn sim "$bin" ncp-sim --listen "127.0.0.1:$sim_port" --seed "$tmp/seed.toml"; sim_pid=$spawned_pid
bench_spawn slack "$loadgen" fake-slack --listen "127.0.0.1:$slack_port"; slack_pid=$spawned_pid
bench_wait_any "http://127.0.0.1:$sim_port/" "$sim_pid" sim
bench_wait_any "http://127.0.0.1:$slack_port/" "$slack_pid" slack

echo "== the catalog, as the worker refreshes it"
"$bin" --config "$tmp/config.toml" catalog refresh

echo "== starting serve on 127.0.0.1:$port"
bench_spawn serve "$bin" --config "$tmp/config.toml" serve; serve_pid=$spawned_pid
bench_wait_ok "http://127.0.0.1:$port/healthz" "$serve_pid" serve

: >"$tmp/runs.jsonl"
scenario() { # LABEL LOADGEN-ARGS...
    local label="$1"; shift
    echo "== $label"
    timeout 180 "$loadgen" run --url "http://127.0.0.1:$port" --label "$label" --kind options \
        --duration "$DURATION" --warmup "$WARMUP" --threads "$LOADGEN_THREADS" \
        --server-pid "$serve_pid" --clk-tck "$(getconf CLK_TCK)" "$@" \
        | tee -a "$tmp/runs.jsonl" \
        | jq -c '{label: .label, requests, ok, errors, throughput_rps, p50_ms, p99_ms, max_ms, server_cpu_pct, machine_busy_pct}'
}
scenario "options, fixed rate" --rate "$RATE"
scenario "options, saturation" --connections "$CONNECTIONS"
bench_stop "$serve_pid"

mkdir -p bench/results
jq -s '{runs: .}' "$tmp/runs.jsonl" >bench/results/options.json
bench_machine_env src Cargo.toml Cargo.lock
export COMMAND_LINE="$command_line" IMAGES LOADGEN_THREADS
python3 - bench/results/options.json >bench/results/options.md <<'PY'
import json, os, sys
data = json.load(open(sys.argv[1]))
env = os.environ
la = lambda v: " / ".join(f"{x:.2f}" for x in v) if v else "n/a"
print("# Options benchmark: the request form's image picker under load\n")
print(f"Command: `{env['COMMAND_LINE']}` (commit {env['GIT_REV']}, release build, {env['RUSTC_VERSION']}).\n")
print(f"Machine: {env['MACHINE_NPROC']} cores, {env['MACHINE_CPU']}, {env['MACHINE_MEM']} RAM, Linux {env['MACHINE_KERNEL']}; "
      f"the server, the simulator, the fake Slack and the load generator ({env['LOADGEN_THREADS']} thread) share them.\n")
print(f"Each request is a signed `block_suggestion` from a person the policy lets share the golden and sandbox images, "
      f"typing one of \"\", \"g\", \"go\", \"gol\", \"golden-\", \"sand\", \"1\", \"12\"; the account has {env['IMAGES']} images, "
      "so most answers carry Slack's maximum of 100 options. Slack allows 3 000 ms. Latency of the open-loop run is measured "
      "from each request's intended send time.\n")
print("| scenario | load | requests | errors | throughput | p50 | p99 | max | server CPU | load avg at start (1 / 5 / 15 min) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for r in data["runs"]:
    load = f"{r['rate']:g} req/s" if r["rate"] else f"{r['connections']} connections"
    print(f"| {r['label']} | {load} | {r['requests']} | {r['errors']} | {r['throughput_rps']:.0f} req/s | "
          f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['max_ms']:.2f} ms | {r.get('server_cpu_pct', 0):.0f}% | {la(r.get('loadavg_before'))} |")
PY
cat bench/results/options.md
