#!/usr/bin/env bash
# Installs the real Prometheus, Alertmanager, docker-compose and headless Chromium the tests run against,
# where missing.
# Debian names the Alertmanager binary `prometheus-alertmanager`.
set -euo pipefail
missing=()
for binary in prometheus promtool prometheus-alertmanager amtool docker-compose chromium; do
    command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "installing prometheus, prometheus-alertmanager, docker-compose and chromium (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq prometheus prometheus-alertmanager docker-compose chromium >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager docker-compose chromium >/dev/null
else
    echo "warning: ${missing[*]} not found; the tests that need them will be skipped (they fail under CI=true)" >&2
fi
