#!/usr/bin/env bash
# Approval click to share applied and posted: from the last approval click (the second of a
# 2-of-2 rule in examples/policy.toml) to (a) the share present on the NCP simulator and (b) the
# final card posted to the fake Slack, with 0 ms and 150 ms of latency on every NCP call, against
# the release `serve` with the embedded store. Compared with the floor: the NCP round trips of
# that path (counted from the simulator's call log, `GET /_sim/calls`) times the latency.
#
# Usage: bench/approval.sh         (under a minute after the build; honours CARGO_TARGET_DIR)
# Knobs (environment): RUNS=20 LATENCIES="0 150"
#                      BIN=path LOADGEN=path (prebuilt server and load generator; no build)
# Writes bench/results/approval.md (and prints it); raw JSON in bench/results/approval.json.
# `loadgen approval` (examples/loadgen/approval.rs) does the work: the simulator and the fake
# Slack run inside it, `serve` in its own process; only 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-20}"
LATENCIES="${LATENCIES:-0 150}"
command_line="${APPROVAL_SH_COMMAND:-CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} bench/approval.sh}"

. bench/lib.sh
bench_build

lat_args=()
for l in $LATENCIES; do lat_args+=(--latency-ms "$l"); done
echo "== approvals: $RUNS per latency (${LATENCIES// /, } ms), after one warm-up each"
mkdir -p bench/results
timeout 600 "$loadgen" approval --bin "$bin" --policy examples/policy.toml --runs "$RUNS" \
    "${lat_args[@]}" >bench/results/approval.json

bench_machine_env src Cargo.toml Cargo.lock examples
export COMMAND_LINE="$command_line"
python3 - bench/results/approval.json >bench/results/approval.md <<'PY'
import json, os, sys

d = json.load(open(sys.argv[1]))
env = os.environ
la = lambda v: " / ".join(f"{x:.2f}" for x in v)
print("# Approval click to share applied and posted\n")
print(f"Command: `{env['COMMAND_LINE']}` (commit {env['GIT_REV']}, release build, {env['RUSTC_VERSION']}).\n")
print(f"Machine: {env['MACHINE_NPROC']} cores, {env['MACHINE_CPU']}, {env['MACHINE_MEM']} RAM (shared); "
      f"load average (1 / 5 / 15 min) {la(d['loadavg_before'])} before, {la(d['loadavg_after'])} after.\n")
print("`serve` (release, embedded SQLite store, `examples/policy.toml`: image 1234567 to `*@partner.example` needs 2 of alice and bob), "
      "the NCP simulator (demo seed) with the given latency added to every call, and the fake Slack. "
      "Each run: carol asks for a share to a new partner login, alice approves; then the clock starts as bob's click (the second of 2) is sent. "
      "(a) the share is present on the simulator (polled every 100 µs), (b) the final card (`chat.update` \"… shared\") reaches the fake Slack. "
      f"{d['runs_per_phase']} runs per latency after one warm-up; median and p90 (nearest rank).\n")
print("| NCP latency | load avg at start | click answered (p50) | (a) share present: p50 | p90 | floor (a) | (b) final card: p50 | p90 | floor (b) | NCP round trips (a) / (b) |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for p in d["phases"]:
    print(f"| {p['latency_ms']} ms | {la(p['loadavg_before'])} | {p['click_ack']['median_ms']:.2f} ms | {p['share_present']['median_ms']:.2f} ms | {p['share_present']['p90_ms']:.2f} ms | "
          f"{p['floor_share_ms']} ms | {p['final_card']['median_ms']:.2f} ms | {p['final_card']['p90_ms']:.2f} ms | {p['floor_card_ms']} ms | "
          f"{p['round_trips_to_share']} / {p['round_trips']} |")
print()
for p in d["phases"]:
    over_a = p['share_present']['median_ms'] - p['floor_share_ms']
    over_b = p['final_card']['median_ms'] - p['floor_card_ms']
    print(f"- {p['latency_ms']} ms: above the floor by {over_a:.2f} ms (a) and {over_b:.2f} ms (b) at the median; "
          f"round trips in each run: {sorted(set(p['round_trips_each_run']))}; "
          f"calls in order: {' → '.join(p['operations'][0]) if p['operations'] else 'none'}"
          + (f" ({len(p['operations'])} different sequences)" if len(p['operations']) > 1 else "") + ".")
PY
cat bench/results/approval.md
