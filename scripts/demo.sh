#!/usr/bin/env bash
# The push demo (README): installs what is missing, builds, tunes the kernel
# for N connections, starts `wspush serve --tick 1s` and points N real
# WebSocket clients (wspush-bench) at it for D seconds, printing delivery
# rate and latency each second and a summary at the end.
#   scripts/demo.sh [N] [D]      default N=10000 clients, D=30 seconds
# While it runs: the demo page at http://127.0.0.1:8080/demo and the live
# dashboard at http://127.0.0.1:9090/ (open them in a browser on this host).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
D=${2:-30}
PORT=${WSPUSH_DEMO_PORT:-8080}
APORT=${WSPUSH_DEMO_ADMIN_PORT:-9090}

scripts/setup.sh
B=$(scripts/build.sh release | tail -1)

if [ "$(id -u)" = 0 ]; then
  "$B/wspush" tune --conns "$N" --apply >/dev/null || true
  "$B/wspush" tune --conns "$N" --client --apply >/dev/null || true
else
  echo "demo: not root; kernel settings left as they are (see: $B/wspush tune --conns $N)"
fi

log=$(mktemp)
"$B/wspush" serve --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$APORT" \
  --workers auto --max-conns "$((N + 1000))" --tick 1s 2>"$log" &
srv=$!
trap 'kill -TERM $srv 2>/dev/null; wait $srv 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep "listening on" "$log" || { cat "$log"; exit 1; }
pids=$(pgrep -P "$srv" | paste -sd, -)
echo "demo: page http://127.0.0.1:$PORT/demo   dashboard http://127.0.0.1:$APORT/"
echo "demo: $N clients for $D s"
"$B/wspush-bench" --url "ws://127.0.0.1:$PORT/ws" --conns "$N" --duration "$D" \
  --warmup 5 --rate 20000 --server-pid "$srv,$pids"
echo "demo: server stats: $(curl -s "http://127.0.0.1:$APORT/stats" | head -c 400)"
