#!/usr/bin/env bash
# c1m_hold.sh - the C1M target: N connections (default 1,000,000) held on
# one node with a tick every T seconds (default 10), measured by
# wspush-bench over a window that is a whole number of ticks.
#
#   bench/c1m_hold.sh [-n 1000000] [--tick 10] [--measure 60] [--rate 5000]
#                     [--ping-interval D] [--netns] [--warmup S]
#
# The window starts after --warmup S (default: 1.3 x the ramp at --rate +
# 30 s, rounded up to whole ticks); on this 2-core box the ramp to 1M with
# the ticker running goes at ~2,500/s, not 5,000, so give it ~480 s.
#
# --netns runs server and clients in a new network namespace whose TCP
# established hash has a bucket per socket (2N: both loopback ends;
# net.ipv4.tcp_child_ehash_entries, Linux 6.1+), instead of the host's
# (262,144 buckets on a 24 GiB machine). See BENCHMARKS.md, "The kernel's
# established hash".
#
# Tunes the kernel for N on both sides (`wspush tune --apply`, root), starts
# `wspush serve --workers auto --tick Ts` with the server's defaults
# otherwise (--ping-interval D overrides its liveness pings; the round-1
# figures used 0), runs the bench (processes and
# source addresses chosen by the bench for N), and prints the bench summary
# and the server's anonymous memory per connection. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
n=1000000; tick=10; measure=60; rate=5000; ping=(); netns=0; args=(); warmup=
for a in "$@"; do [ "$a" = --netns ] || args+=("$a"); done
while [ $# -gt 0 ]; do
  case "$1" in
  --netns) netns=1; shift; continue ;;
  -n) n=$2; shift 2 ;;
  --tick) tick=$2; shift 2 ;;
  --measure) measure=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  --warmup) warmup=$2; shift 2 ;;
  --ping-interval) ping=(--ping-interval "$2"); shift 2 ;;
  -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "c1m_hold.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
. bench/netns.sh
[ "$netns" = 1 ] && [ -z "${C1M_IN_NETNS:-}" ] && netns_run "$n" "$0" ${args[@]+"${args[@]}"}
netns_say
b=build/release
[ -x "$b/wspush" ] && [ -x "$b/wspush-bench" ] || scripts/build.sh release >/dev/null
out=bench/results/c1m_hold-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
if [ "$(id -u)" = 0 ]; then
  "$b/wspush" tune --conns "$n" --apply >"$out/tune-server.txt" || true
  "$b/wspush" tune --conns "$n" --client --apply >"$out/tune-client.txt" || true
fi
port=$(( 30000 + RANDOM % 20000 )); aport=$(( port + 1 ))
"$b/wspush" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" --workers auto \
  --max-conns "$(( n + n / 10 ))" --tick "${tick}s" ${ping[@]+"${ping[@]}"} 2>"$out/server.log" &
srv=$!
trap 'kill -TERM $srv 2>/dev/null; wait $srv 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$out/server.log" && break; sleep 0.1; done
head -1 "$out/server.log"
ramp=$(( n / rate ))
[ -n "$warmup" ] || warmup=$(( ramp * 13 / 10 + 30 ))   # the ramp slows when the box is busy
warmup=$(( (warmup + tick - 1) / tick * tick ))
duration=$(( warmup + measure ))
anon_sum() { local s=0 p; for p in $srv $(pgrep -P "$srv"); do
  s=$(( s + $(awk '/RssAnon/{print $2}' "/proc/$p/status") )); done; echo $s; }
a0=$(anon_sum)
echo "bench: --conns $n --rate $rate --warmup $warmup --duration $duration --expect-rate 1/$tick"
"$b/wspush-bench" --url "ws://127.0.0.1:$port/" --conns "$n" --rate "$rate" \
  --warmup "$warmup" --duration "$duration" --drain "$(( tick * 2 + 5 ))" --connect-timeout 30s \
  --expect-rate "$(awk "BEGIN{print 1/$tick}")" --server-pid "$srv" \
  --json "$out/bench.json" --html "$out/bench.html" --quiet >"$out/bench.txt" 2>&1 &
bench=$!
# sample the server while the connections are held
peak=0
while kill -0 $bench 2>/dev/null; do
  c=$(curl -s "127.0.0.1:$aport/stats" | grep -o '"connections":[0-9]*,"max' | grep -o '[0-9]*' || echo 0)
  if [ "${c:-0}" -gt "$peak" ]; then peak=$c; a1=$(anon_sum); fi
  sleep 5
done
wait $bench || true
cat "$out/bench.txt"
echo "server: peak $peak connections; anon RSS (master + workers) $a0 kB at start, ${a1:-?} kB at peak:" \
     "$(( ( ${a1:-0} - a0 ) * 1024 / (peak > 0 ? peak : 1) )) B per connection"
echo "results in $out"
