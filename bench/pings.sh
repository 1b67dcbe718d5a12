#!/usr/bin/env bash
# Pings a server sends to N connections over a run, and how evenly per second.
#   bench/pings.sh [N] [DURATION] [server args...]
#   e.g. bench/pings.sh 2000 60s --ping-interval 5s --pong-timeout 10s --tick 1s
# Starts `wspush serve --workers 1 ARGS` from build/release (BIN=dir to use
# another build), opens N connections at once with wspush-bench, samples
# wspush_pings_sent_total once a second, and prints the totals (sent,
# skipped because the peer's TCP acked within the interval) and the min/max
# pings per second after the first 7 s. Figures: docs/tuning.md, "Liveness".
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
D=${2:-60s}
shift 2 || true
B=${BIN:-build/release}
port=$(( 20000 + RANDOM % 20000 ))
aport=$(( port + 1 ))
tmp=$(mktemp -d)
"$B/wspush" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" --workers 1 "$@" \
    >"$tmp/server.log" 2>&1 &
spid=$!
samp=
trap 'kill $samp $spid 2>/dev/null || true; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$aport/metrics" >/dev/null && break; sleep 0.1; done
( while kill -0 $spid 2>/dev/null; do
    curl -sf "http://127.0.0.1:$aport/metrics" | awk '/^wspush_pings_sent_total /{print $2}' >>"$tmp/series"
    sleep 1
  done ) &
samp=$!
"$B/wspush-bench" --url "ws://127.0.0.1:$port/t" --conns "$N" --duration "$D" --warmup 5s \
    --expect-rate 0 --quiet --admin "http://127.0.0.1:$aport" >"$tmp/bench.log" 2>&1
curl -sf "http://127.0.0.1:$aport/metrics" | grep -E '^wspush_pings_(sent|skipped)_total |^wspush_disconnects_total' | grep -v ' 0$' || true
awk 'NR>1{d=$1-p; if (NR>8) {n++; s+=d; if(d>mx)mx=d; if(mn==""||d<mn)mn=d}} {p=$1}
     END{printf "pings per second after the first 7 s: min %d max %d mean %.1f (%d samples)\n", mn, mx, s/n, n}' "$tmp/series"
grep -E "^connections" "$tmp/bench.log"
