#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a loopback port, for the tests (.ci/run) and the benchmarks
# (bench/replicas.sh). Debian's `postgresql` package is installed if missing.
#
#   .ci/postgres.sh start DIR [PORT]   # initdb in DIR, start on 127.0.0.1:PORT (a free one if
#                                      # not given); prints `export TEST_POSTGRES_URL=...` and
#                                      # `export TEST_POSTGRES_CA=...` lines to eval
#   .ci/postgres.sh stop DIR           # stop it (DIR can then be removed)
#
# The cluster: a superuser `nsa` with a random password (SCRAM over TCP), a database `nsa`,
# TLS on with a CA and server certificate made here (TEST_POSTGRES_CA is the CA, so that a test
# can connect with sslmode=require and verify it), and max_connections = 300. PG_FAST=1 turns
# fsync and synchronous_commit off (CI: the data is thrown away; the benchmarks keep them on).
# initdb refuses to run as root: as root, the cluster belongs to the `postgres` user.
set -euo pipefail

cmd=${1:?usage: .ci/postgres.sh start DIR [PORT] | stop DIR}
dir=${2:?usage: .ci/postgres.sh start DIR [PORT] | stop DIR}

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    [[ -n "$d" && -x "$d/initdb" ]] && echo "$d"
}

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    if ! bindir > /dev/null || ! command -v openssl > /dev/null; then
        echo "== installing Debian's postgresql (and openssl for the test certificates)" >&2
        apt_get=(env DEBIAN_FRONTEND=noninteractive apt-get)
        if [[ $(id -u) -ne 0 ]] && command -v sudo > /dev/null; then apt_get=(sudo "${apt_get[@]}"); fi
        "${apt_get[@]}" update -qq >&2
        "${apt_get[@]}" install -y -qq postgresql openssl >&2
    fi
    bin=$(bindir)
    port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    mkdir -p "$dir"
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    printf '%s\n' "$password" > "$dir/pwfile"
    # TLS: a CA and a server certificate for 127.0.0.1 and localhost.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nsa test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2> /dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2> /dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" 2> /dev/null
    chmod 600 "$dir/server.key"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U nsa --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 > "$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fast=()
    if [[ "${PG_FAST:-0}" = 1 ]]; then
        fast=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c ssl=on \
         -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key ${fast[*]}" > /dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/psql" -h "$dir" -p "$port" -U nsa -d postgres -qAt -c 'CREATE DATABASE nsa' > /dev/null
    echo "export TEST_POSTGRES_URL=postgres://nsa:$password@127.0.0.1:$port/nsa"
    echo "export TEST_POSTGRES_CA=$dir/ca.crt"
    ;;
stop)
    bin=$(bindir)
    [[ -d "$dir/data" ]] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null 2>&1 || true
    ;;
*)
    echo "usage: .ci/postgres.sh start DIR [PORT] | stop DIR" >&2
    exit 2
    ;;
esac
