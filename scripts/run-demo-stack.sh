#!/usr/bin/env bash
# `make demo`: the demo exporter, plus a local Prometheus (with the project's rules) and Alertmanager
# (with the project's routing) where those binaries are installed, all on loopback.
set -euo pipefail
MLMON=${1:-mlmon}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${MLMON_DEMO_DIR:-$(mktemp -d -t mlmon-demo-XXXXXX)}
EXPORTER_PORT=${MLMON_PORT:-9877}
PROM_PORT=${PROMETHEUS_PORT:-9090}
AM_PORT=${ALERTMANAGER_PORT:-9093}
DAY_SECONDS=${DAY_SECONDS:-5}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

ALERTMANAGER=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -n "$ALERTMANAGER" ]; then
    mkdir -p "$WORK/alertmanager"
    "$ALERTMANAGER" --config.file="$REPO/prometheus/alertmanager/alertmanager.yml" \
        --storage.path="$WORK/alertmanager" --web.listen-address="127.0.0.1:$AM_PORT" \
        --cluster.listen-address= --log.level=warn >"$WORK/alertmanager.log" 2>&1 &
    pids+=($!)
    echo "alertmanager: http://127.0.0.1:$AM_PORT  (log $WORK/alertmanager.log)"
fi
if command -v prometheus >/dev/null 2>&1; then
    mkdir -p "$WORK/prometheus"
    cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ["$REPO/prometheus/rules/*.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$AM_PORT"]}]}]
scrape_configs:
  - job_name: mlmon
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
YAML
    prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
    pids+=($!)
    echo "prometheus:   http://127.0.0.1:$PROM_PORT/alerts  (log $WORK/prometheus.log)"
else
    echo "prometheus is not installed: only the exporter runs (Debian: apt-get install prometheus prometheus-alertmanager)"
fi
echo "exporter:     http://127.0.0.1:$EXPORTER_PORT/metrics  (Ctrl-C stops everything)"
"$MLMON" demo --web.listen-address "127.0.0.1:$EXPORTER_PORT" --day-seconds "$DAY_SECONDS" --workdir "$WORK/exporter" &
pids+=($!)
wait "${pids[-1]}"
