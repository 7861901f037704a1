# Shared start, wait-ready, stop and measure code of the bench scripts. Source it after
# `cd "$(dirname "$0")/.."` and `set -euo pipefail`:
#
#   . bench/lib.sh
#
# Start:   bench_need TOOL...                  installs the missing Debian packages (command = package)
#          bench_build [--debug] [EXTRA...]    builds (release unless --debug) the server and the load
#                                              generator unless BIN and LOADGEN name prebuilt ones;
#                                              sets `bin` and `loadgen`
#          bench_tmp                           a temp dir in `tmp`, removed on exit (KEEP_TMP=1 keeps it)
#          bench_spawn NAME CMD...             starts CMD in the background, output to $tmp/NAME.log,
#                                              stopped on exit; sets `spawned_pid`
#          bench_spawn_group NAME CMD...       the same in a process group of its own (gunicorn's
#                                              workers go with their master); sets `spawned_pid`
#          bench_free_port                     prints a free loopback port
#          bench_serve_env LABEL SIM SLACK PORT DB   the environment and $tmp/config.toml of
#                                              `serve` on an SQLite store at DB, the simulator on
#                                              port SIM and the fake Slack on port SLACK
#          bench_start_peers SIM SLACK         the NCP simulator (demo seed) on port SIM and the load
#                                              generator's fake Slack on port SLACK, both answering;
#                                              sets `sim_pid` and `slack_pid`
#          bench_marker                        a file in `marker` whose time is now: criterion
#                                              results older than it were not run now
# Ready:   bench_wait_any URL PID NAME         until URL answers anything (PID must stay alive)
#          bench_wait_ok URL PID NAME          until URL answers 2xx
# Stop:    bench_stop PID                      SIGINT, up to 10 s for a clean exit, then SIGKILL
#          (everything started with bench_spawn* is stopped by the exit trap)
# Measure: bench_loadavg                       prints the 1 / 5 / 15 min load average
#          bench_machine_env PATH...           exports MACHINE_NPROC, MACHINE_CPU, MACHINE_MEM,
#                                              MACHINE_KERNEL, RUSTC_VERSION and GIT_REV (with
#                                              `+dirty` if PATH... differ from HEAD)
#
# Why one file: every script started, probed and stopped its servers its own way, and a fix in one
# (a stuck server, a leaked gunicorn worker) did not reach the others.

target_dir="${CARGO_TARGET_DIR:-target}"
bench_pids=()
bench_groups=()
tmp=""

bench_need() {
    local missing=() tool
    for tool in "$@"; do
        case "$tool" in
        python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=("$tool") ;;
        *) command -v "$tool" >/dev/null || missing+=("$tool") ;;
        esac
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "== installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}"
    fi
}

bench_build() {
    local profile=release
    if [ "${1:-}" = --debug ]; then profile=debug; shift; fi
    if [ -n "${BIN:-}" ] && [ -n "${LOADGEN:-}" ]; then
        echo "== prebuilt: $BIN, $LOADGEN"
        bin="$BIN"; loadgen="$LOADGEN"
        return 0
    fi
    if [ "$profile" = release ]; then
        echo "== building (release, once)"
        cargo build --release --locked --bin ncp-share-approver --example loadgen "$@"
    else
        echo "== building (debug)"
        cargo build --quiet --locked --bin ncp-share-approver --example loadgen "$@"
    fi
    local dir="$target_dir"
    case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac # absolute: some commands run elsewhere
    bin="$dir/$profile/ncp-share-approver"
    loadgen="$dir/$profile/examples/loadgen"
}

bench_cleanup() {
    local p
    for p in "${bench_groups[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in "${bench_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${bench_pids[@]}" "${bench_groups[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    for p in "${bench_groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    for p in "${bench_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [ -n "$tmp" ]; then
        if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
    fi
}

bench_tmp() {
    tmp="$(mktemp -d)"
}

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_spawn() { # NAME CMD...
    local name="$1"; shift
    "$@" >"$tmp/$name.log" 2>&1 &
    spawned_pid=$!
    bench_pids+=("$spawned_pid")
}

bench_spawn_group() { # NAME CMD...
    local name="$1"; shift
    setsid "$@" >"$tmp/$name.log" 2>&1 &
    spawned_pid=$!
    bench_groups+=("$spawned_pid")
}

bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_serve_env() { # LABEL SIM-PORT SLACK-PORT PORT DB
    local label="$1" sim_port="$2" slack_port="$3" port="$4" db="$5"
    # Secrets from the environment ([secrets] source = "env"); the NCP keys are the simulator's
    # published demo keys, the Slack ones are made up for this run.
    export NCP_ACCESS_KEY=NCPSIMACCESSKEY00001
    export NCP_SECRET_KEY=ncp-sim-demo-secret-key-000000000000001
    export SLACK_SIGNING_SECRET="$label-bench-signing-secret-$(date +%s)"
    export SLACK_BOT_TOKEN="xoxb-$label-bench-0000000000"
    LEDGER_SIGNING_KEY="$("$bin" audit key --generate --origin ncp-share-approver 2>/dev/null)"
    export LEDGER_SIGNING_KEY
    # Where things are: NSA_* overrides on top of a small config file.
    export NCP_API_ENDPOINT="http://127.0.0.1:$sim_port"
    export NSA_STORE__PATH="$db"
    export NSA_LISTEN="127.0.0.1:$port"
    export NSA_SLACK__API_BASE_URL="http://127.0.0.1:$slack_port/api"
    # Metrics on, as by default, on a port of their own (several servers may run at once);
    # bench/metrics-overhead.sh sets it to "off" for its runs without.
    export NSA_METRICS__LISTEN="${NSA_METRICS__LISTEN:-127.0.0.1:0}"
    export RUST_LOG="${RUST_LOG:-info}"
    cat >"$tmp/config.toml" <<TOML
policy = "$PWD/examples/policy.toml"
[store]
kind = "sqlite"
[slack]
response_url_hosts = ["127.0.0.1"]
[secrets]
source = "env"
TOML
}

bench_start_peers() { # SIM-PORT SLACK-PORT
    bench_spawn sim "$bin" ncp-sim --listen "127.0.0.1:$1"; sim_pid=$spawned_pid
    bench_spawn slack "$loadgen" fake-slack --listen "127.0.0.1:$2"; slack_pid=$spawned_pid
    # The simulator answers unsigned requests with an NCP error, which is enough to know it is up.
    bench_wait_any "http://127.0.0.1:$1/" "$sim_pid" sim
    bench_wait_any "http://127.0.0.1:$2/" "$slack_pid" slack
}

bench_marker() {
    [ -n "$tmp" ] || bench_tmp
    marker="$tmp/marker"
    touch "$marker"
}

bench_wait() { # CURL-FLAGS URL PID NAME
    local flags="$1" url="$2" pid="$3" name="$4"
    for _ in $(seq 400); do
        curl $flags -o /dev/null "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || {
            echo "$name exited; log:" >&2
            cat "$tmp/$name.log" >&2 2>/dev/null || true
            exit 1
        }
        sleep 0.05
    done
    echo "$name did not answer $url" >&2
    exit 1
}
bench_wait_any() { bench_wait -s "$@"; }
bench_wait_ok() { bench_wait -fsS "$@"; }

bench_stop() { # PID
    kill -INT "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

bench_loadavg() {
    cut -d' ' -f1-3 /proc/loadavg
}

bench_machine_env() { # PATH... (what makes the commit `+dirty`)
    export MACHINE_NPROC="$(nproc)"
    export MACHINE_CPU="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    export MACHINE_MEM="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    export MACHINE_KERNEL="$(uname -r)"
    export RUSTC_VERSION="$(rustc -V)"
    export GIT_REV="${REV:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- "$@" || echo '+dirty')}"
}
