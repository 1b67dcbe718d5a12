#!/bin/bash
# c1m_after_ramp.sh - N connections ramped with no ticker, then the current
# time (ISO 8601 ms) published to everyone through the admin API every 10 s
# (plus the time a publish takes) while wspush-bench measures 60 s after the
# ramp: the cost per delivery at large N without handshakes in the window
# (C1M attempt 3 in BENCHMARKS.md; issue 16 goal 1). Beside the bench's
# figure, the server's own: its CPU (/proc, all its processes) and its
# delivery counters (/stats) read together before every publish, one line
# per 10 s interval in per_publish.txt, and the median over the intervals
# that carried a whole publish (no window edge cuts a fan-out).
#
#   bench/c1m_after_ramp.sh [-n 1000000] [--rate 8000] [--ping-interval D] [--netns]
#
# --ping-interval D is passed to the server (default 0, as attempt 3 ran;
# "default" leaves the server's own); --netns runs everything in a network
# namespace whose established hash has a bucket per socket (as
# c1m_hold.sh --netns). Loopback only; run as root after `wspush tune
# --conns N --apply` (and --client --apply). About 7 minutes for 1M.
cd "$(dirname "$0")/.." || exit 1
b=build/release; n=1000000; rate=8000; ping=(--ping-interval 0); netns=0; args=()
for a in "$@"; do [ "$a" = --netns ] || args+=("$a"); done
while [ $# -gt 0 ]; do
  case "$1" in
  -n) n=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  --ping-interval) if [ "$2" = default ]; then ping=(); else ping=(--ping-interval "$2"); fi; shift 2 ;;
  --netns) netns=1; shift ;;
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "c1m_after_ramp.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
. bench/netns.sh
[ "$netns" = 1 ] && [ -z "${C1M_IN_NETNS:-}" ] && netns_run "$n" "$0" ${args[@]+"${args[@]}"}
netns_say
$b/wspush tune --conns "$n" --apply >/dev/null 2>&1 || true
$b/wspush tune --conns "$n" --client --apply >/dev/null 2>&1 || true
out=bench/results/c1m_hold3-$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$out"
port=41000; aport=41001
$b/wspush serve --listen 127.0.0.1:$port --admin 127.0.0.1:$aport --workers auto \
  --max-conns $(( n + n / 10 )) ${ping[@]+"${ping[@]}"} 2>"$out/server.log" &
srv=$!
sleep 1
anon() { for p in $srv $(pgrep -P $srv); do awk '/RssAnon/{print $2}' /proc/$p/status; done | paste -sd+ | bc; }
a0=$(anon)
ramp_s=$(( (n + rate - 1) / rate ))
warmup=$(( ramp_s * 3 / 2 + 50 )); duration=$(( warmup + 60 ))
$b/wspush-bench --url ws://127.0.0.1:$port/ --conns "$n" --rate "$rate" --warmup $warmup \
  --duration $duration --drain 25 --connect-timeout 30s --expect-rate 0.1 --server-pid $srv \
  --json "$out/bench.json" --html "$out/bench.html" --quiet > "$out/bench.txt" 2>&1 &
bench=$!
# wait for the ramp, then publish the time every 10 s until the bench ends
for _ in $(seq $(( warmup ))); do
  c=$(curl -s 127.0.0.1:$aport/stats | grep -o '"connections":[0-9]*,"max' | grep -o '[0-9]*')
  [ "${c:-0}" -ge $(( n * 99 / 100 )) ] && break; sleep 1
done
echo "ramp: $c connections at $(date -u +%T); window from ${warmup}s" > "$out/ramp.txt"
a1=$(anon)
echo "anon $a0 -> $a1 kB at $c connections: $(( (a1 - a0) * 1024 / (c > 0 ? c : 1) )) B/conn" >> "$out/ramp.txt"
# utime + stime (fields 14-15; the name in parentheses may hold spaces)
ticks() { for p in $srv $(pgrep -P $srv); do sed 's/.*) //' /proc/$p/stat 2>/dev/null; done |
  awk '{t += $12 + $13} END {print t}'; }
deliv() { curl -s 127.0.0.1:$aport/stats |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["deliveries"])'; }
hz=$(getconf CLK_TCK); d0=$(deliv); t0=$(ticks)
echo "interval deliveries server_cpu_s cpu_s_per_1M" > "$out/per_publish.txt"
i=0
while kill -0 $bench 2>/dev/null; do
  curl -s -o /dev/null -X POST --data-binary "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" 127.0.0.1:$aport/broadcast
  sleep 10
  d1=$(deliv); t1=$(ticks); i=$((i + 1))
  awk -v i=$i -v d=$((d1 - d0)) -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {
    printf "%d %d %.2f %.3f\n", i, d, t / hz, (d > 0 ? t / hz / d * 1e6 : 0) }' >> "$out/per_publish.txt"
  d0=$d1; t0=$t1
done
# the median over intervals that carried one whole publish (99.9% of the
# most any interval carried: every open connection), leaving out the last
# two (the bench's clients closing)
top=$(awk 'NR > 1 && $2 > m {m = $2} END {print m + 0}' "$out/per_publish.txt")
head -n -2 "$out/per_publish.txt" |
  awk -v c="$top" 'NR > 1 && c > 0 && $2 >= c * 0.999 && $2 <= c * 1.001 {print $4}' |
  sort -n | awk '{v[NR] = $1} END { if (!NR) { print "server per publish: no whole interval"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "server per publish: %.3f CPU-s per million deliveries (median of %d whole intervals)\n", m, NR }' \
  >> "$out/ramp.txt"
curl -s 127.0.0.1:$aport/stats > "$out/stats.json"
kill $srv; wait $srv
cat "$out/ramp.txt" "$out/bench.txt"
echo "results in $out"
