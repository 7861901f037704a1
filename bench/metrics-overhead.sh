#!/usr/bin/env bash
# What metrics cost: signed Slack `help` commands against `serve` (release build, embedded
# SQLite store) with metrics on (`[metrics] listen`, the Prometheus recorder, and a scraper
# reading GET /metrics every second, as Prometheus would) and off (`listen = "off"`: no
# recorder, every metric call a no-op), side by side. Runs alternate on/off (the order swapped
# every round, each on a fresh server and store) so that a machine whose load drifts treats both
# alike; the table gives each mode's median over the rounds.
#
# Usage: bench/metrics-overhead.sh     (about 3 minutes after the release build)
# Knobs (environment): ROUNDS=4 DURATION=10 WARMUP=2 CONNECTIONS=32 HELP_RATE=200
#                      SCRAPE_SECS=1 (how often GET /metrics is read while on; 0: never)
#                      BIN=path LOADGEN=path (prebuilt, no build); KEEP_TMP=1
# Writes bench/results/metrics-overhead.md (and prints it), raw runs in metrics-overhead.json.
# Everything on 127.0.0.1, bounded in time.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
HELP_RATE="${HELP_RATE:-200}"
SCRAPE_SECS="${SCRAPE_SECS:-1}"
command_line="CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} ROUNDS=$ROUNDS DURATION=$DURATION SCRAPE_SECS=$SCRAPE_SECS bench/metrics-overhead.sh"

. bench/lib.sh
bench_need python3 curl jq
bench_build
bench_tmp

sim_port="$(bench_free_port)"; slack_port="$(bench_free_port)"; port="$(bench_free_port)"
metrics_port="$(bench_free_port)"
bench_serve_env metrics "$sim_port" "$slack_port" "$port" "$tmp/store.db"
echo "== starting the NCP simulator and the fake Slack"
bench_start_peers "$sim_port" "$slack_port"
loadavg_start="$(bench_loadavg)"

: >"$tmp/runs.jsonl"
run() { # ROUND MODE: a fresh server and store, the two help scenarios
    local round="$1" mode="$2" listen="off" scraper=""
    [ "$mode" = on ] && listen="127.0.0.1:$metrics_port"
    rm -f "$tmp/store.db"*
    bench_spawn "serve-$round-$mode" env RUST_LOG=warn NSA_METRICS__LISTEN="$listen" \
        "$bin" --config "$tmp/config.toml" serve
    local pid=$spawned_pid
    bench_wait_ok "http://127.0.0.1:$port/readyz" "$pid" "serve-$round-$mode"
    if [ "$mode" = on ]; then
        bench_wait_ok "http://127.0.0.1:$metrics_port/metrics" "$pid" metrics
    fi
    if [ "$mode" = on ] && [ "$SCRAPE_SECS" != 0 ]; then
        # Prometheus's part: a scrape every SCRAPE_SECS for the whole run.
        (while kill -0 "$pid" 2>/dev/null; do
            curl -sf -o /dev/null "http://127.0.0.1:$metrics_port/metrics" || true
            sleep "$SCRAPE_SECS"
        done) &
        scraper=$!
    fi
    local scenario
    for scenario in "saturation:--connections $CONNECTIONS" "fixed rate:--rate $HELP_RATE"; do
        # shellcheck disable=SC2086 # the scenario's arguments are split on purpose
        timeout 120 "$loadgen" run --url "http://127.0.0.1:$port" --label "${scenario%%:*}" \
            --kind help ${scenario#*:} --duration "$DURATION" --warmup "$WARMUP" \
            --response-url-base "http://127.0.0.1:$slack_port/response" \
            --server-pid "$pid" --clk-tck "$(getconf CLK_TCK)" \
            | jq -c --arg mode "$mode" --argjson round "$round" '. + {mode: $mode, round: $round}' \
            | tee -a "$tmp/runs.jsonl" \
            | jq -c '{mode: .mode, round: .round, label: .label, requests, errors, throughput_rps, p50_ms, p99_ms, server_cpu_pct}'
    done
    if [ "$mode" = on ]; then
        # The exposition has the run's counts: metrics were really on.
        # (Read whole first: `grep -q` would close the pipe on curl, a failure under pipefail.)
        local exposition
        exposition="$(curl -sf "http://127.0.0.1:$metrics_port/metrics")"
        grep -q 'nsa_requests_received_total{front="slack",result="ok"} [1-9]' <<<"$exposition" \
            || { echo "metrics on, but no slack requests counted" >&2; exit 1; }
        [ -z "$scraper" ] || kill "$scraper" 2>/dev/null || true
    fi
    bench_stop "$pid"
}

for round in $(seq "$ROUNDS"); do
    # on, off; then off, on: neither mode always runs first.
    if [ $((round % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for mode in $order; do run "$round" "$mode"; done
done
loadavg_end="$(bench_loadavg)"

mkdir -p bench/results
jq -s . "$tmp/runs.jsonl" >bench/results/metrics-overhead.json
python3 - "$tmp/runs.jsonl" "$command_line" "$loadavg_start" "$loadavg_end" <<'PY' | tee bench/results/metrics-overhead.md
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
cmd, la_start, la_end = sys.argv[2], sys.argv[3], sys.argv[4]
print("# Metrics on and off: signed `help` against `serve`\n")
print(f"`{cmd}`; load average at start {la_start}, at the end {la_end}. "
      f"{len({r['round'] for r in runs})} alternating rounds per mode, each on a fresh server "
      "and store; medians over the rounds. On: the Prometheus recorder and a scrape of "
      "GET /metrics every second; off: `[metrics] listen = \"off\"` (no recorder).\n")
print("| scenario | metrics | requests (median run) | errors | throughput (req/s) | p50 (ms) | p99 (ms) | server CPU |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
summary = []
for label in ["saturation", "fixed rate"]:
    med = {}
    for mode in ["on", "off"]:
        rs = [r for r in runs if r["label"] == label and r["mode"] == mode]
        m = {k: statistics.median(r.get(k, 0) for r in rs)
             for k in ["requests", "errors", "throughput_rps", "p50_ms", "p99_ms", "server_cpu_pct"]}
        med[mode] = m
        print(f"| {label} | {mode} | {m['requests']:.0f} | {m['errors']:.0f} | {m['throughput_rps']:.0f} | "
              f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['server_cpu_pct']:.0f}% |")
    on, off = med["on"], med["off"]
    dt = 100.0 * (on["throughput_rps"] - off["throughput_rps"]) / off["throughput_rps"]
    dp = 100.0 * (on["p99_ms"] - off["p99_ms"]) / off["p99_ms"]
    print(f"| {label} | on vs off | | | {dt:+.1f}% | | {dp:+.1f}% | |")
    summary.append(f"{label}: throughput {dt:+.1f}%, p99 {dp:+.1f}%")
print("\nOn vs off (the budget: within 3%): " + "; ".join(summary) + ".")
PY
