#!/usr/bin/env bash
# `make demo`: the demo exporter, plus a local Prometheus (with the project's rules) and Alertmanager
# (with the project's routing tree) where those binaries are installed, all on loopback. Every
# receiver of the routing tree is replaced by a local one that prints each notification here.
#
# Ports, each overridable from the environment:
#   MLMON_PORT (9877) exporter, PROMETHEUS_PORT (9090), ALERTMANAGER_PORT (9093),
#   ALERTMANAGER_CLUSTER_PORT (9094), RECEIVER_PORT (9095) notification printer.
set -euo pipefail
MLMON=${1:-mlmon}
PYTHON=$(dirname "$(command -v "$MLMON")")/python
[ -x "$PYTHON" ] || PYTHON=python3
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${MLMON_DEMO_DIR:-$(mktemp -d -t mlmon-demo-XXXXXX)}
EXPORTER_PORT=${MLMON_PORT:-9877}
PROM_PORT=${PROMETHEUS_PORT:-9090}
AM_PORT=${ALERTMANAGER_PORT:-9093}
AM_CLUSTER_PORT=${ALERTMANAGER_CLUSTER_PORT:-9094}
RECEIVER_PORT=${RECEIVER_PORT:-9095}
DAY_SECONDS=${DAY_SECONDS:-5}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# A port another program holds would make one part fail later with a log line nobody reads.
port_free() {
    "$PYTHON" -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}
need_port() {
    if ! port_free "$2"; then
        echo "mlmon demo: port $2 ($1) is already in use on 127.0.0.1." >&2
        echo "  Stop what holds it (ss -ltnp 'sport = :$2' shows it), or choose another: $1=<port> make demo" >&2
        exit 1
    fi
}
need_port MLMON_PORT "$EXPORTER_PORT"

ALERTMANAGER=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -n "$ALERTMANAGER" ] && command -v prometheus >/dev/null 2>&1; then
    need_port PROMETHEUS_PORT "$PROM_PORT"
    need_port ALERTMANAGER_PORT "$AM_PORT"
    need_port ALERTMANAGER_CLUSTER_PORT "$AM_CLUSTER_PORT"
    need_port RECEIVER_PORT "$RECEIVER_PORT"
    mkdir -p "$WORK/alertmanager" "$WORK/prometheus" "$WORK/rules"
    # The project's rules, with `for` and keep_firing_for in seconds for the demo's fast days.
    "$PYTHON" -m exporter.mixin --config "$REPO/prometheus/demo-mixin.yml" --out "$WORK/rules" >/dev/null
    "$PYTHON" -m exporter.receiver --listen "127.0.0.1:$RECEIVER_PORT" &
    pids+=($!)
    "$PYTHON" -m exporter.mixin.alertmanager --webhook "http://127.0.0.1:$RECEIVER_PORT/" \
        --group-wait 5s --group-interval 10s --out "$WORK/alertmanager.yml"
    "$ALERTMANAGER" --config.file="$WORK/alertmanager.yml" \
        --storage.path="$WORK/alertmanager" --web.listen-address="127.0.0.1:$AM_PORT" \
        --cluster.listen-address="127.0.0.1:$AM_CLUSTER_PORT" --log.level=warn >"$WORK/alertmanager.log" 2>&1 &
    pids+=($!)
    cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ["$WORK/rules/*.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$AM_PORT"]}]}]
scrape_configs:
  - job_name: mlmon
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
YAML
    prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
    pids+=($!)
    echo "prometheus:   http://127.0.0.1:$PROM_PORT/classic/alerts  (log $WORK/prometheus.log)"
    echo "alertmanager: amtool --alertmanager.url=http://127.0.0.1:$AM_PORT alert query  (log $WORK/alertmanager.log)"
    echo "notifications through the project's routing tree are printed below as they arrive"
else
    echo "prometheus or prometheus-alertmanager is not installed: only the exporter runs" \
        "(Debian: apt-get install prometheus prometheus-alertmanager)"
fi
echo "exporter:     http://127.0.0.1:$EXPORTER_PORT/metrics  (Ctrl-C stops everything)"
"$MLMON" demo --web.listen-address "127.0.0.1:$EXPORTER_PORT" --day-seconds "$DAY_SECONDS" --workdir "$WORK/exporter" &
pids+=($!)
wait "${pids[-1]}"
