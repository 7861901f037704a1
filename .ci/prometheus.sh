#!/usr/bin/env bash
# The metrics end to end with a real Prometheus (Debian's `prometheus`, installed if missing):
#
#   1. `promtool check rules` on deploy/prometheus/alert rules;
#   2. `ncp-share-approver dev` (service, NCP simulator and Slack stand-in in one process) with
#      its metrics listener on a free loopback port, and a Prometheus scraping it every second;
#   3. one request through to success (carol asks, alice and bob approve, the worker shares),
#      and BAD bad signatures (3 forged, 1 without a signature);
#   4. PromQL through Prometheus's HTTP API must return exactly the expected counts (1 execution
#      succeeded, 0 failed, 4 signature rejections, ...), within a bounded wait;
#   5. `promtool check metrics` on the exposition.
#
# Strict: any difference fails (exit 1). Loopback only; everything it starts is stopped on exit;
# it takes about 20 s once the binary is built. Run from anywhere: `.ci/prometheus.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v prometheus > /dev/null || ! command -v promtool > /dev/null; then
    echo "== installing Debian's prometheus (prometheus and promtool)"
    apt_get=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if [[ $(id -u) -ne 0 ]] && command -v sudo > /dev/null; then apt_get=(sudo "${apt_get[@]}"); fi
    "${apt_get[@]}" update -qq
    "${apt_get[@]}" install -y -qq prometheus
fi
prometheus --version 2>&1 | head -1

echo "== promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml

cargo build --locked --quiet --bin ncp-share-approver
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/ncp-share-approver
# Everything from here on, waits included, within this bound.
DEADLINE=$((SECONDS + ${PROM_E2E_SECONDS:-90}))

WORK=$(mktemp -d)
PIDS=()
stop() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait "${PIDS[@]}" 2> /dev/null || true
    if [[ $rc -ne 0 ]]; then
        echo "== prometheus e2e FAILED (exit $rc); the last lines of dev and prometheus:" >&2
        tail -20 "$WORK/dev.log" >&2 || true
        tail -10 "$WORK/prometheus.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap stop EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: until it answers 200, or the deadline
    until curl -sf -o /dev/null "$1"; do
        ((SECONDS < DEADLINE)) || { echo "timed out waiting for $1" >&2; return 1; }
        sleep 0.2
    done
}
PORT=$(free_port)
METRICS=$(free_port)
PROM=$(free_port)

echo "== dev on 127.0.0.1:$PORT, metrics on 127.0.0.1:$METRICS"
(cd "$WORK" && exec env NSA_METRICS__LISTEN="127.0.0.1:$METRICS" RUST_LOG=warn "$BIN" dev \
    --listen "127.0.0.1:$PORT" --ncp-listen 127.0.0.1:0 --slack-listen 127.0.0.1:0 \
    > "$WORK/dev.log" 2>&1) &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/readyz"
wait_http "http://127.0.0.1:$METRICS/metrics"

cat > "$WORK/prometheus.yml" << EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [$ROOT/deploy/prometheus/alerts.yml]
scrape_configs:
  - job_name: ncp-share-approver
    static_configs:
      - targets: ["127.0.0.1:$METRICS"]
EOF
echo "== prometheus on 127.0.0.1:$PROM scraping every second"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM" > "$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PROM/-/ready"

# The PromQL value of QUERY (a scalar), empty when it has none.
promql() {
    curl -sf --get "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
# Waits until QUERY returns WANT (the scrapes and the worker take a moment), or fails.
expect() { # WANT QUERY
    local got=""
    while :; do
        got=$(promql "$2")
        [[ "$got" == "$1" ]] && { echo "ok: $2 = $got"; return 0; }
        ((SECONDS < DEADLINE)) || { echo "FAILED: $2 = ${got:-nothing}, expected $1" >&2; return 1; }
        sleep 0.5
    done
}
expect 1 'up{job="ncp-share-approver"}'

cd "$WORK"
send() { "$BIN" --config data/dev/config.toml send "$@"; }
echo "== one request: carol asks, alice and bob approve"
asked=$(send command --as U056CAROL "1234567 with a@partner.example for 7d because prometheus e2e")
id=$(grep -oE 'SR-[A-Z0-9]+' <<< "$asked" | head -1)
[[ -n "$id" ]] || { echo "no request id in: $asked" >&2; exit 1; }
send click --as U012ALICE approve "$id" > /dev/null
send click --as U034BOB approve "$id" > /dev/null

BAD=4
echo "== $BAD deliveries with bad signatures"
now=$(date +%s)
for i in 1 2 3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/slack/commands" \
        -H "x-slack-request-timestamp: $now" -H "x-slack-signature: v0=$(printf '%064d' "$i")" \
        --data 'command=/share-image&text=help&user_id=U056CAROL')
    [[ $code == 401 ]] || { echo "a forged signature got $code, not 401" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/slack/commands" \
    --data 'command=/share-image&text=help')
[[ $code == 401 ]] || { echo "no signature got $code, not 401" >&2; exit 1; }

echo "== PromQL over Prometheus's HTTP API"
expect 1 'sum(nsa_executions_total{result="succeeded"})'
expect 0 'sum(nsa_executions_total{result="failed"})'
expect "$BAD" 'sum(nsa_signature_rejections_total)'
expect 3 'sum(nsa_signature_rejections_total{front="slack",reason="bad_signature"})'
expect 1 'sum(nsa_signature_rejections_total{front="slack",reason="missing_header"})'
expect "$BAD" 'sum(nsa_requests_received_total{front="slack",result="unauthorized"})'
expect 1 'sum(nsa_share_requests_total{origin="slack",outcome="pending"})'
expect 1 'sum(nsa_decisions_total{action="approve",outcome="counted"})'
expect 1 'sum(nsa_decisions_total{action="approve",outcome="approved"})'
expect 1 'sum(nsa_ncp_calls_total{operation="add_sharing",result="ok"})'
expect 1 'sum(nsa_ncp_call_duration_seconds_count{operation="add_sharing"})'
expect 0 'sum(nsa_deliveries_total{result="failed"})'
expect 1 'count(sum(nsa_deliveries_total{channel="slack",result="delivered"}) > 0)'
expect 0 'max(nsa_outbox_pending)'
expect 0 'max(nsa_outbox_oldest_pending_age_seconds)'
expect 1 'count(max(nsa_ledger_records) >= 5)'
# The alert rules are loaded (Prometheus refuses to start otherwise): none fires on this run.
expect 0 'count(ALERTS{alertstate="firing"}) or vector(0)'

echo "== promtool check metrics on the exposition"
curl -sf "http://127.0.0.1:$METRICS/metrics" > "$WORK/exposition.txt"
promtool check metrics < "$WORK/exposition.txt"
echo "prometheus e2e: passed ($(grep -c '^nsa_' "$WORK/exposition.txt") series, $SECONDS s)"
