#!/usr/bin/env bash
# Regenerates docs/config.md from `wspush serve --help` (the option table in
# src/config/config.c is the single source). Usage: scripts/gen-config-doc.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build/release}
{
  echo '# wspush serve — configuration reference'
  echo
  echo 'Generated from `wspush serve --help` (regenerate with `scripts/gen-config-doc.sh`). Every option can be set by the environment variable shown in brackets; the command line wins. Durations: `250ms`, `1s`, `1.5s`, `2m`; sizes: `256KiB`, `64MiB`, `1024`; switches: `on`/`off`. List options (`--protocol`, `--allow-origin`, `--tls-cert`, `--tls-key`, `--public-topics`) take comma-separated values or may be repeated.'
  echo
  echo '```'
  "$b/wspush" serve --help | sed '1,5d'
  echo '```'
  echo
  echo 'Other commands: `wspush publish --help`, `wspush tune --help`, `wspush-bench --help`.'
} > docs/config.md
