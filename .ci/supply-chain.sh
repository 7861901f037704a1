#!/usr/bin/env bash
# The supply-chain check (README, "Supply chain"), called by .ci/run:
#
#   1. advisories: Cargo.lock against a snapshot of the RustSec advisory database, offline
#      (`cargo audit --db DB --no-fetch`), failing on any vulnerability, unsound or unmaintained
#      crate that deny.toml does not accept, by id and with a reason ([advisories] ignore);
#   2. licenses (deny.toml's allow-list), bans (duplicate versions, wildcard requirements),
#      sources (crates.io only) and yanked crates, with `cargo deny` (which reads the same
#      advisory snapshot, offline, to check it and deny.toml's accepted ids agree).
#
# Usage: .ci/supply-chain.sh             the repository's Cargo.lock, both steps
#        .ci/supply-chain.sh LOCKFILE    only step 1, on LOCKFILE (tests/supply_chain.rs)
#
# The database is read where it lies, never copied into the repository: $RUSTSEC_DB, else
# ../shared/reference/rustsec-advisory-db beside the repository, else
# /work/shared/reference/rustsec-advisory-db. Without one it fails under CI and says so elsewhere.
# The tools are installed (pinned, --locked) when missing, like cargo-fuzz in .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
lock=${1:-}

CARGO_AUDIT_VERSION=0.22.2
CARGO_DENY_VERSION=0.20.2

db=""
for candidate in "${RUSTSEC_DB:-}" "$root/../shared/reference/rustsec-advisory-db" \
    /work/shared/reference/rustsec-advisory-db; do
    if [[ -n "$candidate" && -d "$candidate/crates" ]]; then
        db=$(cd "$candidate" && pwd)
        break
    fi
done
if [[ -z "$db" ]]; then
    echo "supply chain: no RustSec advisory database snapshot (\$RUSTSEC_DB, ../shared/reference/rustsec-advisory-db or /work/shared/reference/rustsec-advisory-db)" >&2
    if [[ "${CI:-}" == "true" ]]; then exit 1; fi
    echo "supply chain: not checked (outside CI)" >&2
    exit 0
fi
echo "supply chain: advisory database $db ($(sed -n 2p "$db/SNAPSHOT.txt" 2>/dev/null | cut -c1-80))"

# The advisories deny.toml accepts, each with its reason: an entry without one is an error.
accepted_ids=$(python3 - "$root/deny.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    ignore = tomllib.load(f).get("advisories", {}).get("ignore", [])
for entry in ignore:
    if not isinstance(entry, dict) or not entry.get("id") or not str(entry.get("reason", "")).strip():
        sys.exit(f"deny.toml: [advisories] ignore entry {entry!r} needs an id and a reason")
    print(entry["id"])
EOF
)
accepted=()
if [[ -n "$accepted_ids" ]]; then mapfile -t accepted <<< "$accepted_ids"; fi
ignore_args=()
for id in "${accepted[@]}"; do ignore_args+=(--ignore "$id"); done
echo "supply chain: accepted with a reason in deny.toml: ${accepted[*]:-none}"

# Built unoptimised (--debug) in one build folder kept in the cache: a release build of cargo
# audit alone took 16 minutes (14 of CPU) on a 2-core machine beside another build, and what the
# tools do here (read a lock file and a thousand advisories) takes seconds either way; the two
# share many dependencies.
tools_build=${XDG_CACHE_HOME:-$HOME/.cache}/nsa-ci-tools-build
install() {
    local tool=$1 version=$2 started
    if ! command -v "cargo-$tool" > /dev/null || ! "cargo-$tool" "$tool" --version 2>/dev/null | grep -q "$version"; then
        echo "supply chain: installing cargo-$tool $version (unoptimised, in $tools_build)"
        started=$SECONDS
        cargo install --locked --quiet --debug --target-dir "$tools_build" "cargo-$tool" --version "$version"
        echo "supply chain: cargo-$tool installed in $((SECONDS - started)) s"
    fi
}
install audit "$CARGO_AUDIT_VERSION"

echo "== cargo audit --db $db --no-fetch --deny warnings ${lock:-Cargo.lock}"
# Yanked crates are cargo deny's to check (below); this step reads nothing but the snapshot.
cargo audit --db "$db" --no-fetch --no-yanked --deny warnings --color never \
    "${ignore_args[@]}" --file "${lock:-$root/Cargo.lock}"
if [[ -n "$lock" ]]; then
    exit 0
fi

install deny "$CARGO_DENY_VERSION"
# cargo deny reads an advisory database as a git checkout at <db-path>/<name>-<hash of its URL>,
# and asks git for the checkout's time: the snapshot is plain files, so a throwaway copy is made
# that checkout, in a temporary db-path (a copy of deny.toml names it), never in the repository.
deny_dir=$(mktemp -d)
trap 'rm -rf "$deny_dir"' EXIT
python3 - deny.toml "$deny_dir" > "$deny_dir/deny.toml" <<'EOF'
import sys
text = open(sys.argv[1]).read()
print(text.replace("[advisories]\n", f'[advisories]\ndb-path = "{sys.argv[2]}/dbs"\n', 1))
EOF
# --offline: no fetch of the database, nor of anything else (the crates' index is read from
# cargo's local cache, which the build filled).
deny=(cargo deny --color never --offline --config "$deny_dir/deny.toml" check --hide-inclusion-graph)
# Where it looks for the database, as it says when told to be verbose.
checkout=$(cargo deny -L debug --color never --offline --config "$deny_dir/deny.toml" \
    check advisories 2>&1 \
    | sed -n "s/.*Opening advisory database at '\([^']*\)'.*/\1/p" | head -1 || true)
if [[ -z "$checkout" || "$checkout" != "$deny_dir"/dbs/* ]]; then
    echo "supply chain: cargo deny did not say where it reads the advisory database" >&2
    exit 1
fi
mkdir -p "$checkout"
cp -R "$db/crates" "$checkout/crates"
git -C "$checkout" init -q
git -C "$checkout" add -A
git -C "$checkout" -c user.name=ci -c user.email=ci@localhost commit -qm "RustSec advisory database snapshot"

echo "== cargo deny check (advisories from the same snapshot, bans, licenses, sources, yanked crates)"
"${deny[@]}" advisories bans licenses sources
echo "supply chain: passed"
