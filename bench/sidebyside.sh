#!/usr/bin/env bash
# bench/load.sh against two prebuilt servers, alternating (A, B, A, B, ...) so both see the same
# machine load, driven by one load generator; then a table of the saturation runs side by side.
#
# Usage: A_BIN=old/ncp-share-approver A_REV=d22398a B_BIN=new/ncp-share-approver B_REV=9c27b38 \
#        LOADGEN=target/release/examples/loadgen bench/sidebyside.sh
# Knobs: PAIRS=2, and every knob of bench/load.sh (CONNECTIONS, DURATION, COLD_RUNS, ...).
# Writes bench/results/side/load-REV-N.{md,json} (every run) and bench/results/load-side-by-side.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${PAIRS:-2}"
. bench/lib.sh
bench_tmp
: "${A_BIN:?}" "${A_REV:?}" "${B_BIN:?}" "${B_REV:?}" "${LOADGEN:?}"
mkdir -p bench/results/side
names=()
for i in $(seq "$PAIRS"); do
    for who in A B; do
        bin_var="${who}_BIN"; rev_var="${who}_REV"
        name="side/load-${!rev_var}-$i"
        echo "== pair $i: ${!rev_var} (${!bin_var}); load average $(bench_loadavg)"
        BIN="${!bin_var}" LOADGEN="$LOADGEN" REV="${!rev_var}" NAME="$name" \
            LOAD_SH_COMMAND="BIN=${!bin_var} LOADGEN=$LOADGEN REV=${!rev_var} NAME=$name bench/load.sh (run by bench/sidebyside.sh)" \
            bench/load.sh >"$tmp/sidebyside-${!rev_var}-$i.log" 2>&1 || { cat "$tmp/sidebyside-${!rev_var}-$i.log"; exit 1; }
        names+=("$name")
    done
done

python3 - "$A_REV" "$B_REV" "${names[@]}" >bench/results/load-side-by-side.md <<'PY'
import json, os, statistics, sys

a_rev, b_rev, names = sys.argv[1], sys.argv[2], sys.argv[3:]
la = lambda v: " / ".join(f"{x:.2f}" for x in v) if v else "n/a"
runs = []
for n in names:
    d = json.load(open(f"bench/results/{n}.json"))
    rev = n.split("/")[-1].split("-")[1]
    pair = n.rsplit("-", 1)[1]
    for r in d["runs"]:
        runs.append((rev, pair, r))

print("# Side by side: bench/load.sh against two commits, alternating\n")
print(f"Command: `{os.environ.get('SIDEBYSIDE_COMMAND', 'bench/sidebyside.sh')}`.\n")
print(f"Commits: {a_rev} (A) and {b_rev} (B), release builds, each driven by the same load generator "
      f"(`examples/loadgen` of {b_rev}), runs alternating A, B, A, B so both see the same machine load. "
      "Every row is one 20 s measured run (2 s warm-up); load average (1 / 5 / 15 min) at its start.\n")
print("| scenario | commit | pair | requests | errors | throughput | p50 | p99 | server CPU | server peak RSS | load avg at start |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for label in ("share, saturation", "help, saturation", "healthz, saturation"):
    for rev, pair, r in runs:
        if r["label"] != label:
            continue
        print(f"| {label} | {rev} | {pair} | {r['requests']} | {r['errors'] + r.get('slow_acks', 0)} | "
              f"{r['throughput_rps']:.0f} req/s | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
              f"{r.get('server_cpu_pct', 0):.0f}% | {r.get('server_vm_hwm_kib', 0) / 1024:.1f} MiB | {la(r.get('loadavg_before'))} |")
print()
print("Medians over the pairs:\n")
print("| scenario | commit | throughput | p50 | p99 | server peak RSS (max) | help ÷ healthz throughput |")
print("|---|---|---:|---:|---:|---:|---:|")
for label in ("share, saturation", "help, saturation", "healthz, saturation"):
    for rev in (a_rev, b_rev):
        rs = [r for v, _, r in runs if v == rev and r["label"] == label]
        if not rs:
            continue
        med = lambda k: statistics.median(r[k] for r in rs)
        ratio = ""
        if label == "help, saturation":
            per_pair = {}
            for v, p, r in runs:
                if v == rev and r["label"] in ("help, saturation", "healthz, saturation"):
                    per_pair.setdefault(p, {})[r["label"]] = r["throughput_rps"]
            ratios = [100 * x["help, saturation"] / x["healthz, saturation"] for x in per_pair.values()
                      if len(x) == 2 and x["healthz, saturation"]]
            if ratios:
                ratio = f"{statistics.median(ratios):.0f}% (" + ", ".join(f"{x:.0f}%" for x in ratios) + ")"
        print(f"| {label} | {rev} | {med('throughput_rps'):.0f} req/s | {med('p50_ms'):.2f} ms | {med('p99_ms'):.2f} ms | "
              f"{max(r.get('server_vm_hwm_kib', 0) for r in rs) / 1024:.1f} MiB | {ratio} |")
PY
cat bench/results/load-side-by-side.md
