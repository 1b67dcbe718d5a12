#!/usr/bin/env bash
# handshake_under_fanout.sh - how long a new client's handshake waits while
# the workers fan out (issue 16, goal 6: --fanout-slice). A crowd of N
# clients (default 100,000) on `wspush serve --workers auto --tick 1s` (7
# workers at 100,000: each walks ~14,000 connections every second); once the crowd is in, a probe
# of P more connections at R/s, whose connect + handshake times wspush-bench
# reports (average, maximum). Once per --fanout-slice value, alternating,
# --rounds times: same binaries, same sitting.
#
#   bench/handshake_under_fanout.sh [-n 100000] [--slices 0,1024] [--probe 400]
#                                   [--probe-rate 20] [--rounds 2]
#
# Loopback only; root for `wspush tune --apply`. About 1 minute per run at
# 100,000.
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/release; n=100000; slices=0,1024; probe=400; prate=20; rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
  -n) n=$2; shift 2 ;;
  --slices) slices=$2; shift 2 ;;
  --probe) probe=$2; shift 2 ;;
  --probe-rate) prate=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "handshake_under_fanout.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$b/wspush" ] && [ -x "$b/wspush-bench" ] || scripts/build.sh release >/dev/null
if [ "$(id -u)" = 0 ]; then
  "$b/wspush" tune --conns "$(( n + probe ))" --apply >/dev/null 2>&1 || true
  "$b/wspush" tune --conns "$(( n + probe ))" --client --apply >/dev/null 2>&1 || true
fi
out=bench/results/hs_fanout-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
ramp=$(( n / 10000 + 10 ))            # the crowd ramps at 10,000/s, then a few ticks
probe_s=$(( probe / prate + 5 ))
printf '%-8s %-6s %-12s %-14s %-14s %-10s %s\n' slice round crowd_open probe_hs_avg_ms probe_hs_max_ms fails yields
for r in $(seq "$rounds"); do
  for s in ${slices//,/ }; do
    port=$(( 30000 + RANDOM % 20000 )); aport=$(( port + 1 ))
    "$b/wspush" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" --workers auto \
      --tick 1s --max-conns "$(( n + n / 5 + 1000 ))" --ping-interval 0 --fanout-slice "$s" \
      2>"$out/server-$s-$r.log" &
    srv=$!
    for _ in $(seq 100); do grep -q "listening on" "$out/server-$s-$r.log" && break; sleep 0.1; done
    "$b/wspush-bench" --url "ws://127.0.0.1:$port/" --conns "$n" --rate 10000 \
      --duration "$(( ramp + probe_s + 5 ))" --warmup "$ramp" --quiet >"$out/crowd-$s-$r.txt" 2>&1 &
    crowd=$!
    sleep "$ramp"
    "$b/wspush-bench" --url "ws://127.0.0.1:$port/" --conns "$probe" --rate "$prate" \
      --duration "$probe_s" --warmup 1 --procs 1 --json "$out/probe-$s-$r.json" --quiet \
      >"$out/probe-$s-$r.txt" 2>&1 || true
    yields=$(curl -s "http://127.0.0.1:$aport/metrics" | awk '/^wspush_fanout_yields_total/{print $2}')
    wait "$crowd" || true
    kill -TERM "$srv" 2>/dev/null; wait "$srv" 2>/dev/null || true
    open=$(awk '/^connections/{for(i=1;i<=NF;i++) if($i=="peak") {print $(i+1); exit}}' "$out/crowd-$s-$r.txt")
    jq -r --arg s "$s" --arg r "$r" --arg o "${open%;}" --arg y "${yields:-?}" \
      '[$s, $r, $o, (.handshake_us_avg/1000|tostring), (.handshake_us_max/1000|tostring),
        ((.handshake_failures // {}) | [.[]] | add // 0 | tostring), $y] | @tsv' \
      "$out/probe-$s-$r.json" | awk -F'\t' '{printf "%-8s %-6s %-12s %-14.2f %-14.2f %-10s %s\n",$1,$2,$3,$4,$5,$6,$7}'
  done
done
echo "results in $out"
