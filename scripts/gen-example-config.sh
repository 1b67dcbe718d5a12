#!/usr/bin/env bash
# Regenerates deploy/wspush.yaml, the example configuration installed as
# /etc/wspush/wspush.yaml, from `wspush serve --help` (the option table in
# src/config/config_opt.c is the single source): every option, commented out at
# its default, under its help text. scripts/check-docs.sh fails when it is
# stale. Usage: scripts/gen-example-config.sh [BUILD_DIR] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build/release}
out=${2:-deploy/wspush.yaml}
{
  cat <<'HEAD'
# /etc/wspush/wspush.yaml - example configuration of `wspush serve`.
# Generated from `wspush serve --help` by scripts/gen-example-config.sh: do
# not edit in the repository, regenerate. Every option is listed, commented
# out at its default; uncomment and change what you need.
#
# Keys are the long option names (`max-conns: 100000`, `tick: 1s`); values
# use the command line's syntax: durations 250ms/1s/2m, sizes 256KiB/64MiB,
# switches on/off, lists as "a,b". Precedence: command line > WSPUSH_*
# environment > this file > defaults. Keep secrets (tokens, Redis
# passwords) out of a world-readable file. Reference: docs/config.md.
HEAD
  "$b/wspush" serve --help | awk '
    function quote(v) {
      if (v ~ /^[A-Za-z0-9._\/-]+$/ && v !~ /^(on|off|yes|no|true|false)$/) return v
      gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v)
      return "\"" v "\""
    }
    /^  --[a-z]/ {
      key = substr($1, 3)
      help = $0
      sub(/^  --[^ ]+ +[^ ]+ +/, "", help)
      arg = $2
      next_is_env = key != "config"  # a config file does not name itself
      next
    }
    next_is_env && /^ +\[WSPUSH_/ {
      def = $0
      sub(/^.*default: /, "", def); sub(/\]$/, "", def)
      if (def == "none") def = ""
      printf "\n# %s (%s)\n", help, arg
      printf "# %s: %s\n", key, (def == "" ? "\"\"" : quote(def))
      next_is_env = 0
    }'
} > "$out"
