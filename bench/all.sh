#!/usr/bin/env bash
# Every benchmark in sequence, then the README's "Numbers" section regenerated from the results:
#   bench/run.sh (criterion) → bench/sweep.sh → bench/load.sh → bench/compare.sh → bench/approval.sh →
#   bench/options.sh → bench/faults.sh (kill -9 suite, on the release build) → bench/replicas.sh
#   (two replicas on PostgreSQL, one killed) → bench/replicas-load.sh (1 vs 2 replicas) →
#   bench/metrics-overhead.sh (metrics on vs off) → bench/readme_numbers.py
# About 30 minutes on 2 cores, builds included. Not run in CI. Honours CARGO_TARGET_DIR.
# SKIP="criterion faults" skips steps by name (criterion sweep load compare approval options faults
# replicas replicas-load metrics); their
# previous results in bench/results/ are used for the README.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP="${SKIP:-}"
step() { # NAME COMMAND...
    local name="$1"; shift
    case " $SKIP " in *" $name "*) echo "== skipping $name"; return 0 ;; esac
    echo "== $name: $*"
    "$@"
}
step criterion bench/run.sh
step sweep bench/sweep.sh
step load bench/load.sh
step compare bench/compare.sh
step approval bench/approval.sh
step options bench/options.sh
step faults env FAULTS_PROFILE=release bench/faults.sh
step replicas env REPLICAS_PROFILE=release bench/replicas.sh
step replicas-load bench/replicas-load.sh
step metrics bench/metrics-overhead.sh
python3 -I bench/readme_numbers.py
echo "== README.md \"Numbers\" regenerated from bench/results/"
