#!/usr/bin/env bash
# Installs the real Prometheus, Alertmanager, docker-compose and PostgreSQL the tests run against,
# where missing. Debian names the Alertmanager binary `prometheus-alertmanager`, and keeps the
# PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/<version>/bin, out of PATH.
set -euo pipefail
packages=(prometheus prometheus-alertmanager docker-compose postgresql)
missing=()
for binary in prometheus promtool prometheus-alertmanager amtool docker-compose; do
    command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
done
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(initdb)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "installing ${packages[*]} (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${packages[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
else
    echo "warning: ${missing[*]} not found; the tests that need them will be skipped (they fail under CI=true)" >&2
fi
