#!/usr/bin/env bash
# Throughput of signed share requests with one and with two `serve` replicas on one PostgreSQL
# (and, for reference, one `serve` on the embedded SQLite store), side by side: the `share`
# saturation scenario of bench/load.sh (signed `/share-image 1234567 with userN@partner.example
# ...` slash commands over CONNECTIONS closed-loop connections: NCP image lookup on the
# simulator, policy, one store transaction with the ledger records and the approval card owed),
# the generator spreading connections round robin over the replicas as a load balancer would.
# Runs alternate (SQLite, 1 replica, 2 replicas; PAIRS times) so each sees the same machine load;
# every PostgreSQL run starts on a fresh schema.
#
# Usage: bench/replicas-load.sh      (release build; honours CARGO_TARGET_DIR)
# Knobs: PAIRS=2 CONNECTIONS=32 DURATION=20 WARMUP=2 LOADGEN_THREADS=1, BIN/LOADGEN (prebuilt).
# PostgreSQL: TEST_POSTGRES_URL if set, else a throwaway cluster of its own (.ci/postgres.sh,
# fsync on). Writes bench/results/replicas-load.{md,json}. Loopback only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${PAIRS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
LOADGEN_THREADS="${LOADGEN_THREADS:-1}"
. bench/lib.sh
bench_need python3 curl jq
bench_build
bench_tmp
chmod 755 "$tmp"

if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    PG_URL=$TEST_POSTGRES_URL
else
    echo "== PostgreSQL: a throwaway cluster in $tmp/pg (fsync on)"
    pg_env=$(.ci/postgres.sh start "$tmp/pg")
    eval "$pg_env"
    PG_URL=$TEST_POSTGRES_URL
    trap '.ci/postgres.sh stop "$tmp/pg"; bench_cleanup' EXIT
fi
PG_VERSION=$(psql "$PG_URL" -qAt -c 'SHOW server_version' | cut -d' ' -f1)
# What one WAL flush costs on this disk: commits that append to the ledger wait for it one after
# another (the ledger head's row lock is held until the commit is flushed).
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
FSYNC_DIR=$(mktemp -d -p "$tmp")
FDATASYNC=$("$PG_BIN/pg_test_fsync" -s 2 -f "$FSYNC_DIR/probe" 2>/dev/null | awk '$1 == "fdatasync" {print $2 " ops/s, " $4 " µs"; exit}')
rm -rf "$FSYNC_DIR"

sim_port="$(bench_free_port)"; slack_port="$(bench_free_port)"
bench_serve_env replicas "$sim_port" "$slack_port" "$(bench_free_port)" "$tmp/store.db"
export POSTGRES_PASSWORD
POSTGRES_PASSWORD=$(python3 -c 'import sys; from urllib.parse import urlsplit; print(urlsplit(sys.argv[1]).password or "")' "$PG_URL")
BARE_URL=$(python3 -c 'import sys; from urllib.parse import urlsplit, urlunsplit; u = urlsplit(sys.argv[1]); print(urlunsplit(u._replace(netloc=f"{u.username}@{u.hostname}:{u.port}")))' "$PG_URL")
unset NSA_STORE__PATH
bench_start_peers "$sim_port" "$slack_port"

# config-sqlite.toml and config-postgres-SCHEMA.toml, both from bench_serve_env's config.toml.
store_config() { # KIND [SCHEMA]
    local out="$tmp/config-$1${2:+-$2}.toml"
    if [ "$1" = sqlite ]; then
        sed "s|^kind = \"sqlite\"|kind = \"sqlite\"\npath = \"$tmp/store-$RANDOM.db\"|" "$tmp/config.toml" > "$out"
    elif [ "$1" = postgres-async ]; then
        # The same, with commits not waiting for the WAL flush (what `synchronous = NORMAL` is
        # to the SQLite store: durable across a process crash, not an OS crash).
        sed "s|^kind = \"sqlite\"|kind = \"postgres\"\nurl = \"$BARE_URL?options=-c%20synchronous_commit%3Doff\"\nschema = \"$2\"|" "$tmp/config.toml" > "$out"
    else
        sed "s|^kind = \"sqlite\"|kind = \"postgres\"\nurl = \"$BARE_URL\"\nschema = \"$2\"|" "$tmp/config.toml" > "$out"
    fi
    echo "$out"
}

: > "$tmp/runs.jsonl"
scenario() { # LABEL KIND REPLICAS PAIR
    local label="$1" kind="$2" n="$3" pair="$4" config schema="" pids=() urls=() port i
    [ "$kind" != sqlite ] && schema="load_$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
    config=$(store_config "$kind" "$schema")
    for i in $(seq 1 "$n"); do
        port=$(bench_free_port)
        bench_spawn "serve-$kind-$n-$pair-$i" env RUST_LOG=warn "$bin" --config "$config" serve --listen "127.0.0.1:$port"
        pids+=("$spawned_pid")
        urls+=(--url "http://127.0.0.1:$port")
        bench_wait_ok "http://127.0.0.1:$port/readyz" "$spawned_pid" "serve-$kind-$n-$pair-$i"
    done
    local server_pids=()
    for i in "${pids[@]}"; do server_pids+=(--server-pid "$i"); done
    echo "== $label (pair $pair): load average $(bench_loadavg)"
    timeout 180 "$loadgen" run "${urls[@]}" --label "$label" --kind share \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --threads "$LOADGEN_THREADS" \
        --response-url-base "http://127.0.0.1:$slack_port/response" \
        "${server_pids[@]}" --peer-pid "$sim_pid" --peer-pid "$slack_pid" \
        --clk-tck "$(getconf CLK_TCK)" \
        | jq -c --arg store "$kind" --argjson replicas "$n" --argjson pair "$pair" \
            '. + {store: $store, replicas: $replicas, pair: $pair}' \
        | tee -a "$tmp/runs.jsonl" \
        | jq -c '{label: .label, pair, requests, errors, throughput_rps, p50_ms, p99_ms, server_cpu_pct}'
    for i in "${pids[@]}"; do bench_stop "$i"; done
}

for pair in $(seq 1 "$PAIRS"); do
    scenario "SQLite, 1 process" sqlite 1 "$pair"
    scenario "PostgreSQL, 1 replica" postgres 1 "$pair"
    scenario "PostgreSQL, 2 replicas" postgres 2 "$pair"
    scenario "PostgreSQL without waiting for the WAL flush, 1 replica" postgres-async 1 "$pair"
    scenario "PostgreSQL without waiting for the WAL flush, 2 replicas" postgres-async 2 "$pair"
done

mkdir -p bench/results
jq -s '{runs: .}' "$tmp/runs.jsonl" > bench/results/replicas-load.json
bench_machine_env src Cargo.toml Cargo.lock
export PG_VERSION CONNECTIONS DURATION WARMUP LOADGEN_THREADS FDATASYNC
python3 - bench/results/replicas-load.json > bench/results/replicas-load.md <<'PY'
import json, os, statistics, sys
runs = json.load(open(sys.argv[1]))["runs"]
e = os.environ
la = lambda v: " / ".join(f"{x:.2f}" for x in v) if v else "n/a"
print("# Signed share requests: one and two `serve` replicas on PostgreSQL\n")
print(f"Command: `bench/replicas-load.sh` (commit {e['GIT_REV']}, release build, {e['RUSTC_VERSION']}).\n")
print(f"Machine: {e['MACHINE_NPROC']} cores, {e['MACHINE_CPU']}, {e['MACHINE_MEM']} RAM, Linux {e['MACHINE_KERNEL']}. "
      f"Everything shares these cores: the replicas, PostgreSQL {e['PG_VERSION']} (fsync on, defaults otherwise), "
      f"the NCP simulator, the fake Slack and the load generator ({e['LOADGEN_THREADS']} thread).\n")
print(f"Each run: `share` over {e['CONNECTIONS']} closed-loop connections (round robin over the replicas), "
      f"{e['WARMUP']} s warm-up, {e['DURATION']} s measured; every request a distinct signed slash command "
      "answered with its request id (NCP lookup, policy, one store transaction with two ledger records and the card owed). "
      "Server CPU is summed over the replicas, in % of one core. `postgres-async`: the same database with "
      "`options=-c synchronous_commit=off` in `store.url` (commits do not wait for the WAL flush: durable across a process "
      "crash, not an OS crash, as the SQLite store's `synchronous = NORMAL`). "
      f"One WAL flush (fdatasync, `pg_test_fsync`) on this disk: {e['FDATASYNC']}.\n")
print("| store | replicas | pair | requests | errors | throughput | p50 | p99 | server CPU | load avg at start |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in runs:
    print(f"| {r['store']} | {r['replicas']} | {r['pair']} | {r['requests']} | {r['errors'] + r.get('slow_acks', 0)} | "
          f"{r['throughput_rps']:.0f} req/s | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
          f"{r.get('server_cpu_pct', 0):.0f}% | {la(r.get('loadavg_before'))} |")
print("\nMedians over the pairs:\n")
print("| store | replicas | throughput | p50 | p99 | server CPU |")
print("|---|---:|---:|---:|---:|---:|")
for key in (("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres-async", 1), ("postgres-async", 2)):
    rs = [r for r in runs if (r["store"], r["replicas"]) == key]
    if rs:
        med = lambda k: statistics.median(r.get(k, 0) for r in rs)
        print(f"| {key[0]} | {key[1]} | {med('throughput_rps'):.0f} req/s | {med('p50_ms'):.2f} ms | "
              f"{med('p99_ms'):.2f} ms | {med('server_cpu_pct'):.0f}% |")
PY
cat bench/results/replicas-load.md
