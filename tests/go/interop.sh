#!/usr/bin/env bash
# Builds tests/go/ledgerverify offline into OUT_DIR and runs it on the other arguments (with
# none, only builds): interop.sh OUT_DIR [-key VKEY] [BUNDLE.json...]
#
# Go and golang.org/x/mod come from Debian packages (no network): GOPATH mode against
# /usr/share/gocode, where golang-golang-x-mod-dev puts the sources. Exit status: ledgerverify's
# (0 all bundles verify, 1 one does not), or 3 when Go or x/mod is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
install_hint="apt-get install -y golang-go golang-golang-x-mod-dev"
gopath=/usr/share/gocode

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUT_DIR [-key VKEY] [BUNDLE.json...]" >&2
    exit 2
fi
out=$1
shift

if ! command -v go >/dev/null; then
    echo "interop.sh: go is not installed; install it with: $install_hint" >&2
    exit 3
fi
if [[ ! -d $gopath/src/golang.org/x/mod/sumdb/note ]]; then
    echo "interop.sh: golang.org/x/mod is not in $gopath; install it with: $install_hint" >&2
    exit 3
fi

mkdir -p "$out"
# GOFLAGS cleared and GOPROXY off: nothing from the environment may turn on module downloads.
# The build cache goes under OUT_DIR unless one is set, so that nothing needs a writable HOME.
(cd "$here/ledgerverify" &&
    GO111MODULE=off GOPATH=$gopath GOFLAGS= GOPROXY=off \
    GOCACHE=${GOCACHE:-$out/go-cache} go build -o "$out/ledgerverify" .)
[[ $# -eq 0 ]] && exit 0
exec "$out/ledgerverify" "$@"
