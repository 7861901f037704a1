#!/usr/bin/env bash
# Runs every criterion benchmark (ncp, policy, ledger, verify, sweep) and prints the median of each.
#
# Usage: bench/run.sh [criterion args...]   e.g. bench/run.sh 'policy evaluate'
# Honours CARGO_TARGET_DIR; results are read from ${CARGO_TARGET_DIR:-target}/criterion.
# Takes about three minutes on two cores (plus the bench build). Without arguments it also writes
# bench/results/criterion.md (the medians of this run, the machine and its load average).
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_marker

loadavg_before="$(bench_loadavg)"
cargo bench --bench ncp --bench policy --bench ledger --bench verify --bench sweep -- "$@"
export LOADAVG_BEFORE="$loadavg_before" LOADAVG_AFTER="$(bench_loadavg)"
bench_machine_env src benches Cargo.toml Cargo.lock
export WRITE_MD="$([ $# -eq 0 ] && echo bench/results/criterion.md || true)"

echo
echo "Medians (from ${target_dir}/criterion/**/new/estimates.json):"
python3 - "$target_dir/criterion" "$marker" <<'PY'
import json, os, sys

root, marker = sys.argv[1], sys.argv[2]
since = os.path.getmtime(marker)

def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.1f} ns"

rows = []
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    est_path = os.path.join(dirpath, "estimates.json")
    with open(est_path) as f:
        est = json.load(f)
    name = os.path.relpath(os.path.dirname(dirpath), root)
    throughput = None
    try:
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        name = bench.get("full_id", name)
        throughput = bench.get("throughput")
    except (OSError, ValueError):
        pass
    median = est["median"]["point_estimate"]
    extra = ""
    if throughput and "Elements" in throughput and throughput["Elements"] > 1:
        n = throughput["Elements"]
        extra = f"  ({fmt_ns(median / n)} per element, {n * 1e9 / median:,.0f} elements/s)"
    elif throughput and "Bytes" in throughput:
        extra = f"  ({throughput['Bytes'] * 1e9 / median / 2**20:,.1f} MiB/s)"
    stale = "" if os.path.getmtime(est_path) >= since else "  [not run now]"
    rows.append((name, median, extra, stale))

if not rows:
    sys.exit(f"no criterion results under {root}")
width = max(len(r[0]) for r in rows)
for name, median, extra, stale in sorted(rows):
    print(f"  {name:<{width}}  {fmt_ns(median):>12}{extra}{stale}")

out = os.environ.get("WRITE_MD")
if out:
    env = os.environ
    with open(out, "w") as f:
        f.write("# Criterion benchmarks: medians\n\n")
        f.write(f"Command: `bench/run.sh` (commit {env['GIT_REV']}, bench profile, {env['RUSTC_VERSION']}).\n\n")
        f.write(f"Machine: {env['MACHINE_NPROC']} cores, {env['MACHINE_CPU']}, {env['MACHINE_MEM']} RAM (shared); "
                f"load average (1 / 5 / 15 min) {env['LOADAVG_BEFORE'].replace(' ', ' / ')} before, "
                f"{env['LOADAVG_AFTER'].replace(' ', ' / ')} after.\n\n")
        f.write("| benchmark | median | per element / throughput |\n|---|---:|---|\n")
        for name, median, extra, stale in sorted(rows):
            if stale:
                continue
            f.write(f"| {name} | {fmt_ns(median)} | {extra.strip().strip('()')} |\n")
    print(f"\nwrote {out}")
PY
