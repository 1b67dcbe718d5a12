#!/bin/bash
# c1m_after_ramp.sh - C1M attempt 3 (BENCHMARKS.md): 1,000,000 connections
# ramped with no ticker (8,000/s), then the current time (ISO 8601 ms) is
# published to everyone through the admin API every 10 s (plus the time a
# publish takes: ~11 s in practice) while wspush-bench measures 60 s.
# Loopback only; run as root after `wspush tune --conns 1000000 --apply`
# (and --client --apply). About 7 minutes.
cd "$(dirname "$0")/.."
b=build/release; n=1000000
out=bench/results/c1m_hold3-$(date -u +%Y%m%dT%H%M%SZ); mkdir -p $out
port=41000; aport=41001
$b/wspush serve --listen 127.0.0.1:$port --admin 127.0.0.1:$aport --workers auto --max-conns 1100000 --ping-interval 0 2>$out/server.log &
srv=$!
sleep 1
a0=$(for p in $srv $(pgrep -P $srv); do awk '/RssAnon/{print $2}' /proc/$p/status; done | paste -sd+ | bc)
$b/wspush-bench --url ws://127.0.0.1:$port/ --conns $n --rate 8000 --warmup 200 --duration 260 --drain 25 --connect-timeout 30s --expect-rate 0.1 --server-pid $srv --json $out/bench.json --quiet > $out/bench.txt 2>&1 &
bench=$!
# wait for the ramp, then publish the time every 10 s until the bench ends
for i in $(seq 200); do c=$(curl -s 127.0.0.1:$aport/stats | grep -o '"connections":[0-9]*,"max' | grep -o '[0-9]*'); [ "${c:-0}" -ge 990000 ] && break; sleep 1; done
echo "ramp: $c connections at $(date -u +%T)" > $out/ramp.txt
a1=$(for p in $srv $(pgrep -P $srv); do awk '/RssAnon/{print $2}' /proc/$p/status; done | paste -sd+ | bc)
echo "anon $a0 -> $a1 kB at $c connections: $(( (a1 - a0) * 1024 / c )) B/conn" >> $out/ramp.txt
while kill -0 $bench 2>/dev/null; do
  curl -s -o /dev/null -X POST --data-binary "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" 127.0.0.1:$aport/broadcast
  sleep 10
done
curl -s 127.0.0.1:$aport/stats > $out/stats.json
kill $srv; wait $srv
cat $out/ramp.txt $out/bench.txt
echo "results in $out"
