#!/usr/bin/env bash
# The sweep's store queries at 100,000 rows (benches/sweep.rs), now (index ranges) and before
# (every open grant or pending request read and filtered), side by side in one run; writes
# bench/results/sweep.md with the medians, the ratios, the machine and its load average.
#
# Usage: bench/sweep.sh   (about a minute on two cores after the bench build; honours CARGO_TARGET_DIR)
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_marker

export UPTIME_BEFORE="$(uptime)"
cargo bench --bench sweep
export UPTIME_AFTER="$(uptime)"
bench_machine_env src benches Cargo.toml Cargo.lock

python3 - "$target_dir/criterion" "$marker" <<'PY'
import json, os, sys

root, marker = sys.argv[1], sys.argv[2]
since = os.path.getmtime(marker)
group = "sweep queries, SQLite (100,000 rows each, 10 due)"
pairs = [
    ("`grants_ending_by` (100,000 open grants, 10 due)",
     "grants_ending_by: index range", "grants_ending_by: every open grant read and filtered"),
    ("`pending_due`, a page of 200 (100,000 pending requests, 10 due)",
     "pending_due (page of 200): index range", "pending_due (page of 200): every pending request read and filtered"),
]

def median(group_name, bench):
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        if b.get("group_id") == group_name and b.get("function_id") == bench:
            est = os.path.join(dirpath, "estimates.json")
            if os.path.getmtime(est) < since:
                sys.exit(f"{group_name}/{bench} was not run now")
            with open(est) as f:
                return json.load(f)["median"]["point_estimate"]
    sys.exit(f"no result for {group_name}/{bench} under {root}")

def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.1f} ns"

env = os.environ
lines = [
    "# The sweep's store queries at 100,000 rows\n",
    f"Command: `bench/sweep.sh` (`cargo bench --bench sweep`; commit {env['GIT_REV']}, bench profile, {env['RUSTC_VERSION']}). "
    "SQLite on a temporary file; both ways run in the same process on the same file. "
    "Before = the previous `SqliteStore::grants_ending_by` (every open grant read and filtered in process) and the "
    "previous `DynamoStore::pending_due` algorithm (every pending request read from the state index and filtered in "
    "process), run on SQLite; now = the range of an index (`grants_due`, `requests_due`).\n",
    f"Machine: {env['MACHINE_NPROC']} cores, {env['MACHINE_CPU']}, {env['MACHINE_MEM']} RAM (shared). "
    f"`uptime` before: `{env['UPTIME_BEFORE'].strip()}`; after: `{env['UPTIME_AFTER'].strip()}`.\n",
    "| query | now: index range (median) | before: read all and filter (median) | before ÷ now |",
    "|---|---:|---:|---:|",
]
for label, now_b, before_b in pairs:
    now = median(group, now_b)
    before = median(group + ", before", before_b)
    lines.append(f"| {label} | {fmt(now)} | {fmt(before)} | {before / now:,.0f}× |")
out = "bench/results/sweep.md"
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
print(f"\nwrote {out}")
PY
