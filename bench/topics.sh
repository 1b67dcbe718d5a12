#!/usr/bin/env bash
# topics.sh - what a topic costs against a broadcast (issue 3), in one server run.
#
#   bench/topics.sh [-n 20000[,N2...]] [--rate auto|R] [--repeat 3] [--measure 20]
#                   [--conn-rate 10000] [--other-frac 0.25] [--no-other]
#                   [--hot-subs 1000] [--hot-rate 100] [--no-hot]
#                   [--port 18600] [--build DIR]
#
# For each N: ONE server (wspush serve --workers 4 --ping-interval 0, no
# ticker, admin on 127.0.0.1), then, back to back, K times (--repeat; the
# order of a and b alternates between repeats):
#   a  broadcast: N clients on /, POST /broadcast R times/s
#   b  topic:     N clients on /news, POST /publish/news R times/s
#   c  topic + idle topic: as b, plus N*other-frac clients on /other that get
#      nothing (the index must stay off the cost sheet)
#   d  hot topic: --hot-subs clients on /hot, POST /publish/hot --hot-rate/s
# --rate auto (the default) = 100000/N publishes/s, i.e. 100,000 deliveries/s
# in a-c whatever N: server and clients share two cores here, and clients
# spend about 7 us per delivery, so much more would measure the clients.
# Each phase is one wspush-bench run (ramp, warmup, --measure seconds, drain)
# with --server-pid; the server's fan-out histogram (/metrics) is scraped at
# the start and the end of the measured window. Reported per phase (median
# of the repeats): deliveries/s, delivery ratio, server CPU-s per million
# deliveries, fan-out time (mean and p99 estimated from the buckets), bench
# latency p50/p99/max. Then topic_cpu / broadcast_cpu (target <= 1.05) and
# the hot topic's delivery ratio (target 1.0). The table is appended to
# bench/results/topics.md (gitignored); raw rows and each run's JSON are in
# bench/results/topics-<stamp>/.
#
# Capacity: each worker holds at most ~19,900 connections (20,000 open files
# per process), so one phase may hold about 4 x 19,000 = 76,000. Phase c
# needs N*(1+other-frac); when that does not fit it is skipped with a note.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ns=20000
rate=auto
repeat=3
measure=20
conn_rate=10000
other_frac=0.25
do_other=1
hot_subs=1000
hot_rate=100
do_hot=1
port=18600
build="$repo/build/release"
workers=4
per_worker=19000 # connections per worker we plan for (fds: 19,936 usable)
cmdline="bench/topics.sh $*"

usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    -n) ns=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --measure) measure=$2; shift 2 ;;
    --conn-rate) conn_rate=$2; shift 2 ;;
    --other-frac) other_frac=$2; shift 2 ;;
    --no-other) do_other=0; shift ;;
    --hot-subs) hot_subs=$2; shift 2 ;;
    --hot-rate) hot_rate=$2; shift 2 ;;
    --no-hot) do_hot=0; shift ;;
    --port) port=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "topics.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
[ "$repeat" -ge 1 ] || { echo "topics.sh: --repeat must be >= 1" >&2; exit 2; }

log() { printf '[topics %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
for t in jq curl ss; do
    command -v "$t" >/dev/null || { echo "topics.sh: needs $t" >&2; exit 2; }
done
if [ ! -x "$build/wspush-bench" ] || [ ! -x "$build/wspush" ]; then
    log "building release binaries in $build"
    cmake --preset release >/dev/null
    cmake --build "$build" -j"$(nproc)" --target wspush wspush-bench >/dev/null
fi
"$build/wspush-bench" --help | grep -q -- --broadcast ||
    { echo "topics.sh: $build/wspush-bench has no --broadcast; rebuild it" >&2; exit 2; }
bench_bin="$build/wspush-bench"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
outdir="$repo/bench/results/topics-$stamp"
mkdir -p "$outdir"
rows="$outdir/rows.jsonl"
: >"$rows"
cmds="$outdir/commands.txt"
: >"$cmds"

# ---- server ----
srv_pid="" other_pid="" bench_pid=""
stop_pid() { # pid: SIGTERM, wait up to 15 s, then SIGKILL
    local p=$1
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$p" 2>/dev/null && { log "pid $p did not stop in 15 s: SIGKILL"; kill -KILL "$p" 2>/dev/null || true; }
    wait "$p" 2>/dev/null || true
}
cleanup() {
    stop_pid "$bench_pid"; bench_pid=""
    stop_pid "$other_pid"; other_pid=""
    stop_pid "$srv_pid"; srv_pid=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null | grep -q .; }
pick_ports() { # sets port (public) and aport (admin), both unused
    while ! port_free "$port" || ! port_free $(( port + 1 )); do port=$(( port + 2 )); done
    aport=$(( port + 1 ))
}

srv_cmd=""
start_server() { # N
    local n=$1 errlog="$outdir/server-$1.log"
    pick_ports
    local maxc=$(( n * 2 + hot_subs + 1000 ))
    srv_cmd="$build/wspush serve --listen 127.0.0.1:$port --admin 127.0.0.1:$aport --workers $workers --ping-interval 0 --max-conns $maxc"
    # shellcheck disable=SC2086
    $srv_cmd 2>"$errlog" &
    srv_pid=$!
    for _ in $(seq 1 100); do
        if grep -q "listening on 127.0.0.1:$port" "$errlog" 2>/dev/null; then
            log "server pid $srv_pid: $srv_cmd"
            echo "# N=$n server" >>"$cmds"
            echo "${srv_cmd#"$repo/"}" >>"$cmds"
            return 0
        fi
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    log "server did not start; its log:"
    tail -5 "$errlog" >&2 || true
    stop_pid "$srv_pid"; srv_pid=""
    return 1
}

admin_conns() {
    local c
    c=$(curl -s --max-time 2 "http://127.0.0.1:$aport/stats" | jq -r '.connections // -1' 2>/dev/null) || true
    [[ "$c" =~ ^[0-9]+$ ]] && echo "$c" || echo -1
}
wait_conns() { # op target timeout_s: wait until connections op target (le/ge)
    local op=$1 target=$2 t=$3 c=-1
    for _ in $(seq 1 $(( t * 10 ))); do
        c=$(admin_conns)
        if [ "$op" = le ] && [ "$c" -ge 0 ] && [ "$c" -le "$target" ]; then return 0; fi
        if [ "$op" = ge ] && [ "$c" -ge "$target" ]; then return 0; fi
        sleep 0.1
    done
    log "server connections still $c after ${t}s (wanted $op $target)"
    return 1
}

# /metrics fan-out histogram as one JSON object {sum, count, buckets: [[le, cum]...]}
scrape() {
    curl -s --max-time 5 "http://127.0.0.1:$aport/metrics" | awk '
        /^wspush_fanout_duration_seconds_bucket/ {
            le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
            if (le == "+Inf") le = "1e308"
            b = b (b == "" ? "" : ",") "[" le "," $2 "]"
        }
        /^wspush_fanout_duration_seconds_sum/ { s = $2 }
        /^wspush_fanout_duration_seconds_count/ { c = $2 }
        END { printf "{\"sum\":%s,\"count\":%s,\"buckets\":[%s]}\n", s + 0, c + 0, b }'
}
# mean and p99 (linear inside the bucket) in microseconds of the difference of two scrapes
fanout_stats() { # before after
    jq -n --argjson a "$1" --argjson b "$2" '
        ($b.count - $a.count) as $n
        | if $n <= 0 or ($a.buckets|length) != ($b.buckets|length) or ($b.buckets|length) == 0
          then {fanouts: $n, mean_us: null, p99_us: null} else
          [range(0; $b.buckets|length) as $i | [$b.buckets[$i][0], $b.buckets[$i][1] - $a.buckets[$i][1]]] as $cum
          | (0.99 * $n) as $rank
          | (first(range(0; $cum|length) | select($cum[.][1] >= $rank))) as $k
          | (if $k == 0 then 0 else $cum[$k-1][0] end) as $lo
          | (if $k == 0 then 0 else $cum[$k-1][1] end) as $clo
          | ($cum[$k][0]) as $hi
          | (if $hi > 1e300 then $lo else $lo + ($hi - $lo) * ($rank - $clo) / ($cum[$k][1] - $clo) end) as $p99
          | {fanouts: $n, mean_us: (($b.sum - $a.sum) / $n * 1e6), p99_us: ($p99 * 1e6)} end'
}

now_s() { date +%s.%N; }
sleep_until() { local d; d=$(awk -v t="$1" -v n="$(now_s)" 'BEGIN { d = t - n; print (d > 0 ? d : 0) }'); sleep "$d"; }

# Runs one measured phase. Args: rep phase N url publish-args...
run_phase() {
    local rep=$1 phase=$2 n=$3 url=$4; shift 4
    local ramp=$(( (n + conn_rate - 1) / conn_rate ))
    local warmup=$(( ramp * 3 / 2 + 5 ))
    local duration=$(( warmup + measure ))
    local tag="N$n-r$rep-$phase"
    local args=(--url "$url" --conns "$n" --rate "$conn_rate" --warmup "$warmup" --duration "$duration"
                --admin "http://127.0.0.1:$aport" --src "127.1.0.0/20" "$@")
    local shown="${bench_bin#"$repo/"} ${args[*]} --server-pid \$SERVER_PID --quiet --json $tag.json"
    log "$tag: $shown"
    echo "# N=$n repeat $rep phase $phase" >>"$cmds"
    echo "$shown" >>"$cmds"
    local t0 a b rc=0
    t0=$(now_s)
    "$bench_bin" "${args[@]}" --server-pid "$srv_pid" --label "$tag" --quiet \
        --json "$outdir/$tag.json" >"$outdir/$tag.txt" 2>&1 &
    bench_pid=$!
    # The bench measures seconds [warmup, duration) from its start; scrape
    # the histogram at both edges (a few ms after them).
    sleep_until "$(awk -v t="$t0" -v w="$warmup" 'BEGIN { printf "%.3f", t + w + 0.05 }')"
    a=$(scrape)
    sleep_until "$(awk -v t="$t0" -v w="$duration" 'BEGIN { printf "%.3f", t + w + 0.05 }')"
    b=$(scrape)
    wait "$bench_pid" || rc=$?
    bench_pid=""
    local fo
    fo=$(fanout_stats "$a" "$b")
    if [ -f "$outdir/$tag.json" ]; then
        jq -c --arg phase "$phase" --argjson rep "$rep" --argjson rc "$rc" --argjson fo "$fo" \
           --argjson other "${other_n:-0}" --argjson srvn "$srv_n" --arg cmd "$shown" '{
            n: $srvn, phase: $phase, rep: $rep, rc: $rc, conns: .conns_target, open: .open_end, other: $other,
            publish_rate: .publish_rate,
            ratio: .delivery_ratio, deliveries_per_s: .messages_per_s,
            cpu_per_m: .server.cpu_s_per_million, srv_cpu_s: .server.cpu_s,
            fanout_mean_us: $fo.mean_us, fanout_p99_us: $fo.p99_us, fanouts: $fo.fanouts,
            p50_ms: (.latency_us.p50/1000), p99_ms: (.latency_us.p99/1000), max_ms: (.latency_us.max/1000),
            pub_sent: .publish.sent, pub_acked: .publish.acked, pub_failed: .publish.failed,
            pub_skipped: .publish.skipped,
            errors: (([.connect_errors[], .handshake_failures[], .disconnects[]] | add) // 0),
            bench_cpu_s: .bench_cpu_s, cmd: $cmd}' "$outdir/$tag.json" >>"$rows"
        jq -r '"  ratio \(.ratio)  deliveries/s \(.deliveries_per_s|floor)  cpu-s/M \(.cpu_per_m)  fan-out mean \(.fanout_mean_us // "n/a"|tostring|.[0:7]) us p99 \(.fanout_p99_us // "n/a"|tostring|.[0:7]) us  lat p50 \(.p50_ms) p99 \(.p99_ms) ms  errors \(.errors)"' <(tail -1 "$rows") >&2
    else
        log "$tag: no JSON (rc $rc); its output:"
        tail -5 "$outdir/$tag.txt" >&2 || true
        echo "{\"n\":$srv_n,\"phase\":\"$phase\",\"rep\":$rep,\"rc\":$rc,\"conns\":$n,\"error\":\"no result\"}" >>"$rows"
    fi
    # Next phase starts with an empty server (closing is not measured).
    wait_conns le "${other_n:-0}" 30 || true
}

# Phase c's idle subscribers: a second bench holding them without expecting anything.
start_other() { # N_other total_s
    local n=$1 secs=$2
    local args=(--url "ws://127.0.0.1:$port/other" --conns "$n" --rate "$conn_rate" --expect-rate 0
                --duration "$secs" --warmup 1 --src "127.2.0.0/20" --quiet)
    echo "# idle subscribers for phase c (stopped with SIGTERM after it)" >>"$cmds"
    echo "${bench_bin#"$repo/"} ${args[*]}" >>"$cmds"
    "$bench_bin" "${args[@]}" >"$outdir/other-$n.txt" 2>&1 &
    other_pid=$!
    wait_conns ge "$n" $(( n / conn_rate + 30 ))
}

one_n() { # N
    local n=$1 rep order p rate=$rate
    other_n=0
    srv_n=$n
    [ "$rate" = auto ] && rate=$(awk -v n="$n" 'BEGIN { printf "%.3g", 100000 / n }')
    local cap=$(( workers * per_worker ))
    if [ "$n" -gt "$cap" ]; then
        log "N=$n skipped: $workers workers hold about $cap connections"
        echo "{\"conns\":$n,\"skipped\":\"more than $cap connections\"}" >>"$rows"
        return 0
    fi
    local n_other
    n_other=$(awk -v n="$n" -v f="$other_frac" 'BEGIN { printf "%d", n * f }')
    local run_other=$do_other
    if [ "$run_other" = 1 ] && [ $(( n + n_other )) -gt "$cap" ]; then
        log "N=$n: phase c skipped: N + $n_other idle subscribers > $cap (run it with -n $(awk -v c="$cap" -v f="$other_frac" 'BEGIN { printf "%d", c / (1 + f) }') or less)"
        run_other=0
    fi
    start_server "$n" || return 0
    sleep 1
    local ramp=$(( (n + conn_rate - 1) / conn_rate ))
    for rep in $(seq 1 "$repeat"); do
        if [ $(( rep % 2 )) = 1 ]; then order="a b"; else order="b a"; fi
        for p in $order; do
            case $p in
            a) run_phase "$rep" a-broadcast "$n" "ws://127.0.0.1:$port/" --publish-rate "$rate" --broadcast ;;
            b) run_phase "$rep" b-topic "$n" "ws://127.0.0.1:$port/news" --publish-rate "$rate" --topic news ;;
            esac
        done
        if [ "$run_other" = 1 ] && [ "$n_other" -gt 0 ]; then
            # long enough for the whole phase; stopped right after it
            if start_other "$n_other" $(( ramp * 3 / 2 + 5 + measure + 60 )); then
                other_n=$n_other
                run_phase "$rep" c-topic+idle "$n" "ws://127.0.0.1:$port/news" --publish-rate "$rate" --topic news
            else
                log "phase c: idle subscribers did not connect; skipped"
            fi
            stop_pid "$other_pid"; other_pid=""
            other_n=0
            wait_conns le 0 30 || true
        fi
        if [ "$do_hot" = 1 ]; then
            run_phase "$rep" d-hot "$hot_subs" "ws://127.0.0.1:$port/hot" --publish-rate "$hot_rate" --topic hot
        fi
    done
    stop_pid "$srv_pid"; srv_pid=""
    port=$(( port + 2 ))
}

IFS=, read -r -a nlist <<<"$ns"
for n in "${nlist[@]}"; do
    one_n "$n"
done

# ---- summary: medians over the repeats ----
table="$outdir/summary.md"
{
    echo "## topics $stamp ($(nproc) CPUs, $(uname -r), $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo
    echo "\`$cmdline\` — one server per N: \`wspush serve --workers $workers --ping-interval 0\` (no ticker);"
    echo "each phase measured ${measure} s after the ramp (${conn_rate} conn/s) and a warmup; median of $repeat run(s);"
    echo "fan-out = publish to the last subscriber's write, per worker (server histogram, p99 interpolated in power-of-2 buckets)."
    echo
    echo "| N | phase | publishes/s | deliveries/s | delivery ratio | server CPU-s per 1M deliveries | fan-out mean µs | fan-out p99 µs | latency p50 ms | p99 ms | max ms | errors | runs |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -s -r '
        def med: map(select(. != null)) | sort | if length == 0 then null
                 elif length % 2 == 1 then .[length/2|floor] else (.[length/2 - 1] + .[length/2]) / 2 end;
        def r(d): if . == null then "n/a" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        (map(select(.skipped)) | .[] | "| \(.conns) | skipped: \(.skipped) |||||||||||| "),
        (map(select(.phase)) | group_by([.n, .phase]) | .[] |
          "| \(.[0].conns)\(if .[0].other > 0 then " + \(.[0].other) idle" else "" end) | \(.[0].phase) | \(.[0].publish_rate) | \(map(.deliveries_per_s) | med | r(0)) | \(map(.ratio) | med | r(4)) | \(map(.cpu_per_m) | med | r(3)) | \(map(.fanout_mean_us) | med | r(0)) | \(map(.fanout_p99_us) | med | r(0)) | \(map(.p50_ms) | med | r(2)) | \(map(.p99_ms) | med | r(2)) | \(map(.max_ms) | med | r(2)) | \(map(.errors // 0) | add) | \(length) |")
    ' "$rows"
    echo
    jq -s -r '
        def med: map(select(. != null)) | sort | if length == 0 then null
                 elif length % 2 == 1 then .[length/2|floor] else (.[length/2 - 1] + .[length/2]) / 2 end;
        def r(d): if . == null then "n/a" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        map(select(.phase)) | group_by(.n) | .[] | . as $g
        | ($g | map(select(.phase == "a-broadcast"))) as $a
        | ($g | map(select(.phase == "b-topic"))) as $b
        | ($g | map(select(.phase == "c-topic+idle"))) as $c
        | ($g | map(select(.phase == "d-hot"))) as $d
        | if ($a | length) > 0 and ($b | length) > 0 then
            ([$a, $b] | transpose | map(if .[0].cpu_per_m and .[1].cpu_per_m then .[1].cpu_per_m / .[0].cpu_per_m else null end)) as $per
            | ([$a, $c] | transpose | map(select(.[1] != null) | if .[0].cpu_per_m and .[1].cpu_per_m then .[1].cpu_per_m / .[0].cpu_per_m else null end)) as $perc
            | "- N=\($g[0].n): **topic_cpu / broadcast_cpu = \(($b | map(.cpu_per_m) | med) / ($a | map(.cpu_per_m) | med) | r(3))** (medians; per repeat: \($per | map(r(3)) | join(", "))); target <= 1.05"
              + (if ($c | length) > 0 then "\n- N=\($g[0].n): (topic + idle topic) / broadcast = \(($c | map(.cpu_per_m) | med) / ($a | map(.cpu_per_m) | med) | r(3)) (per repeat: \($perc | map(r(3)) | join(", ")))" else "" end)
          else empty end,
          if ($d | length) > 0 then
            "- hot topic, \($d[0].conns) subscribers, \($d[0].publish_rate) publishes/s: delivery ratio \($d | map(.ratio) | med | r(4)) (per repeat: \($d | map(.ratio | r(4)) | join(", ")); target 1.0), \($d | map(.deliveries_per_s) | med | r(0)) deliveries/s, latency p50 \($d | map(.p50_ms) | med | r(2)) ms p99 \($d | map(.p99_ms) | med | r(2)) ms max \($d | map(.max_ms) | med | r(2)) ms; publishes acked \($d | map(.pub_acked) | add) of \($d | map(.pub_sent) | add) sent, \($d | map(.pub_skipped) | add) skipped, \($d | map(.pub_failed) | add) failed"
          else empty end
    ' "$rows"
    echo
    echo "Commands (server pid as \$SERVER_PID; ports as in this run):"
    echo
    echo '```'
    echo "$cmdline"
    grep -v '^#' "$cmds" | awk '!seen[$0]++' | sed -E 's/--json [^ ]+/--json PHASE.json/' | awk '!seen[$0]++'
    echo '```'
} >"$table"
echo
cat "$table"
mkdir -p "$repo/bench/results"
{ cat "$table"; echo; } >>"$repo/bench/results/topics.md"
log "results in $outdir (rows.jsonl, each run's JSON and output, commands.txt); table appended to bench/results/topics.md"
