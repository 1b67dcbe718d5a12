#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12, if missing.
# Idempotent and quiet: runs apt-get only when a package is missing, npm only
# when web/node_modules is out of date. Usage: scripts/setup.sh [--no-web]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libssl-dev libcmocka-dev zlib1g-dev
      libhiredis-dev redis-server
      python3 python3-pytest python3-websockets
      clang libclang-rt-14-dev
      curl ca-certificates)
web=1
[ "${1:-}" = "--no-web" ] && web=0
if [ "$web" = 1 ]; then
  pkgs+=(chromium prometheus)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$web" = 1 ] && [ -f web/package.json ]; then
  stamp=web/node_modules/.wspush-stamp
  if [ ! -f "$stamp" ] || [ web/package.json -nt "$stamp" ] || \
     { [ -f web/package-lock.json ] && [ web/package-lock.json -nt "$stamp" ]; }; then
    echo "setup: npm install in web/"
    if [ -f web/package-lock.json ]; then
      (cd web && npm ci --no-audit --no-fund --loglevel=error)
    else
      (cd web && npm install --no-audit --no-fund --loglevel=error)
    fi
    touch "$stamp"
  fi
fi
