#!/usr/bin/env bash
# Installs what the web part needs, if missing: the npm packages in web/
# (uPlot, embedded into the binary at build time; playwright-core, which
# drives the browser tests), Debian's Chromium (the browser tests) and
# Prometheus (promtool and a real server for the metrics tests).
# Idempotent and quiet: apt-get runs only when a package is missing, npm only
# when web/node_modules is older than package.json / package-lock.json.
# Re-run cmake after the first npm install so the build embeds uPlot.
# Usage: scripts/setup-web.sh [--no-apt]
set -euo pipefail
cd "$(dirname "$0")/.."

apt=1
[ "${1:-}" = "--no-apt" ] && apt=0

if [ "$apt" = 1 ]; then
  . scripts/lib.sh
  pkgs=(chromium prometheus fonts-dejavu-core)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  apt_ensure "${pkgs[@]}"
fi

stamp=web/node_modules/.wspush-stamp
if [ ! -f "$stamp" ] || [ web/package.json -nt "$stamp" ] || \
   { [ -f web/package-lock.json ] && [ web/package-lock.json -nt "$stamp" ]; } || \
   [ ! -d web/node_modules/uplot ] || [ ! -d web/node_modules/playwright-core ]; then
  echo "setup-web: npm install in web/"
  if [ -f web/package-lock.json ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  else
    (cd web && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  touch "$stamp"
fi
