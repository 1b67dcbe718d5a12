#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12, if missing.
# Idempotent and quiet: runs apt-get only when a package is missing, npm only
# when web/node_modules is out of date. Usage: scripts/setup.sh [--no-web]
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
web=1
[ "${1:-}" = "--no-web" ] && web=0
apt_ensure build-essential cmake pkg-config libssl-dev libcmocka-dev zlib1g-dev \
  libhiredis-dev liburing-dev libyaml-dev redis-server python3 python3-pytest python3-websockets python3-yaml \
  clang libclang-rt-14-dev valgrind jq curl ca-certificates \
  dpkg-dev file libjansson-dev python3-jwt
# scripts/check-format.sh
apt_ensure clang-format-14

# the web part (uPlot for the dashboard, Chromium and Prometheus for tests)
[ "$web" = 1 ] && scripts/setup-web.sh
exit 0
