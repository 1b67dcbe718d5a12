#!/usr/bin/env bash
# c1m.sh - hold N WebSocket connections on this node, one tick per second to
# each, and measure wspush against the minimal baseline server on the same N.
#
#   bench/c1m.sh [-n 10000,100000,1000000] [--measure 20] [--rate 10000]
#                [--servers wspush,wspush-sse,wspush-tls,baseline] [--build DIR]
#                [--port 18500] [--tls-rate 1000] [--tls-warmup S] [--no-tune] [--keep-tuning]
#                [--bench-arg ARG]...
#
# For each N and each server: tune the kernel (root only; the old values are
# restored on exit unless --keep-tuning), start the server on 127.0.0.1,
# run wspush-bench until the ramp is done plus a warmup, measure for
# --measure seconds, stop the server, and keep the bench's JSON and HTML.
# Server wspush-sse is the same wspush with its clients on Server-Sent
# Events streams (wspush-bench --sse), for the SSE vs WebSocket cost.
# Server wspush-tls is the same wspush serving wss:// (a fresh self-signed
# ECDSA P-256 certificate, verified by the bench with --cacert; TLS 1.3),
# its clients ramping at --tls-rate (each handshake costs both sides ~1 ms
# of CPU) with a 30 s connect timeout. --tls-warmup S replaces the computed
# warmup (1.5 x the ramp at --tls-rate + 5 s) of the TLS runs when their ramp
# is known to be slower (handshakes compete for the CPU with other work).
# Prints one comparison table at the end and appends it (markdown) and the
# raw rows (JSON lines) to bench/results/ (gitignored). --bench-arg passes
# one more argument to every wspush-bench run (e.g. --bench-arg --io
# --bench-arg epoll for the load generator's epoll reads).
#
# Loopback only: the server listens on 127.0.0.1 and the bench binds its
# client sockets to source addresses in 127.1.0.0/20. N values the machine
# cannot hold (memory estimate) are skipped with a note.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ns="10000,100000,1000000"
measure=20
rate=10000
servers="wspush,baseline"
build="$repo/build/release"
port=18500
tune=1
keep_tuning=0

tls_rate=1000
warmup_s=""
bench_args=()
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    -n) ns=$2; shift 2 ;;
    --measure) measure=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --tls-rate) tls_rate=$2; shift 2 ;;
    --tls-warmup) warmup_s=$2; shift 2 ;;
    --no-tune) tune=0; shift ;;
    --keep-tuning) keep_tuning=1; shift ;;
    --bench-arg) bench_args+=("$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "c1m.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf '[c1m %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- binaries ----
if [ ! -x "$build/wspush-bench" ] || [ ! -x "$build/bench-baseline" ] || [ ! -x "$build/wspush" ]; then
    log "building release binaries in $build"
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j"$(nproc)" --target wspush wspush-bench bench-baseline >/dev/null
fi
bench_bin="$build/wspush-bench"

# ---- results ----
stamp=$(date -u +%Y%m%dT%H%M%SZ)
outdir="$repo/bench/results/c1m-$stamp"
mkdir -p "$outdir"
rows="$outdir/rows.jsonl"
: >"$rows"

# ---- kernel tuning (runtime sysctls; restored on exit) ----
declare -A saved=()
set_sysctl() { # key value
    local key=$1 val=$2 path="/proc/sys/${1//./\/}"
    [ -w "$path" ] || { log "cannot set $key (not root?)"; return 0; }
    [ -n "${saved[$key]+x}" ] || saved[$key]=$(tr '\t' ' ' <"$path")
    echo "$val" >"$path" || log "setting $key=$val failed"
}
restore_sysctls() {
    [ "$keep_tuning" = 1 ] && return 0
    local key
    for key in "${!saved[@]}"; do
        echo "${saved[$key]}" >"/proc/sys/${key//./\/}" 2>/dev/null || true
    done
}
tune_for() { # N
    local n=$1 pages
    [ "$tune" = 1 ] || return 0
    set_sysctl net.core.somaxconn 65535
    set_sysctl net.ipv4.tcp_max_syn_backlog 65535
    set_sysctl net.core.netdev_max_backlog 65535
    # ephemeral ports above the servers' ports (18500+), so a listener never
    # collides with a client socket left in TIME_WAIT by an earlier run
    set_sysctl net.ipv4.ip_local_port_range "20000 65535"
    set_sysctl net.ipv4.tcp_tw_reuse 1
    local fmax=$(( 2 * n + 200000 ))
    [ "$(cat /proc/sys/fs/file-max)" -ge "$fmax" ] || set_sysctl fs.file-max "$fmax"
    # tcp_mem is in pages for all sockets together: both ends of every
    # loopback connection count. Allow about 16 KiB per connection pair
    # before pressure, never below the current values.
    pages=$(( n * 16384 / 4096 + 262144 ))
    read -r lo mid hi </proc/sys/net/ipv4/tcp_mem
    if [ "$hi" -lt $(( pages * 2 )) ]; then
        set_sysctl net.ipv4.tcp_mem "$pages $(( pages * 3 / 2 )) $(( pages * 2 ))"
    fi
}

# ---- servers ----
srv_pid=""
stop_server() {
    [ -n "$srv_pid" ] || return 0
    kill -TERM "$srv_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 150); do
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$srv_pid" 2>/dev/null; then
        log "server $srv_pid did not stop in 15 s: SIGKILL"
        kill -KILL "$srv_pid" 2>/dev/null || true
    fi
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=""
}
cleanup() { stop_server; restore_sysctls; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Moves $port up to one no socket on 127.0.0.1 uses (a client socket in
# TIME_WAIT on the port would make the listener's bind fail).
pick_port() {
    while ss -Htan "( sport = :$port or dport = :$port )" 2>/dev/null | grep -q .; do
        port=$(( port + 1 ))
    done
}

# Starts server $1 for N=$2 connections on $port; sets srv_pid.
start_server() {
    local kind=$1 n=$2 errlog="$outdir/$1-$2.server.log"
    pick_port
    local per=19800 procs
    # SO_REUSEPORT spreads connections by hash: leave 15% headroom per process.
    procs=$(( (n * 115 / 100 + per - 1) / per ))
    [ "$procs" -ge 2 ] || procs=2
    case "$kind" in
    wspush|wspush-sse|wspush-tls)
        # --sse-heartbeat only for SSE: a round-1 binary has no such option
        local extra=()
        [ "$kind" = wspush-sse ] && extra=(--sse-heartbeat 0)
        if [ "$kind" = wspush-tls ]; then
            [ -f "$outdir/tls.pem" ] || openssl req -x509 -newkey ec \
                -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$outdir/tls.key" \
                -out "$outdir/tls.pem" -days 2 -subj /CN=localhost \
                -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
            # a handshake waits in the accept queue while the workers are busy
            # with others: the head's deadline covers the whole ramp
            extra=(--tls-cert "$outdir/tls.pem" --tls-key "$outdir/tls.key" --handshake-timeout 30s)
        fi
        "$build/wspush" serve --listen "127.0.0.1:$port" --admin off --workers "$procs" \
            --tick 1s --max-conns "$(( n + n / 5 + 1000 ))" --ping-interval 0 \
            ${extra[@]+"${extra[@]}"} 2>"$errlog" &
        ;;
    baseline)
        "$build/bench-baseline" --port "$port" --procs "$procs" 2>"$errlog" &
        ;;
    *) log "unknown server $kind"; return 1 ;;
    esac
    srv_pid=$!
    local i
    for i in $(seq 1 100); do
        if grep -q "listening on 127.0.0.1:$port" "$errlog" 2>/dev/null; then
            log "$kind: pid $srv_pid, $procs processes, listening on 127.0.0.1:$port"
            return 0
        fi
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$kind did not start; its log:"
    tail -5 "$errlog" >&2 || true
    stop_server
    return 1
}

# Rough memory need for N loopback connections (both ends in this kernel,
# plus both user spaces): ~16 KiB per connection pair, measured with the
# baseline at 40k (slab ~10 KiB/conn + buffers + RSS).
mem_ok() {
    local n=$1 avail
    avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    [ $(( n * 16 )) -lt $(( avail * 9 / 10 )) ]
}

run_one() { # server N
    local kind=$1 n=$2 rate=$rate
    [ "$kind" = wspush-tls ] && rate=$tls_rate
    local ramp_s=$(( (n + rate - 1) / rate ))
    local warmup=$(( ramp_s * 3 / 2 + 5 ))  # the ramp slows when the server is busy
    [ -n "$warmup_s" ] && [ "$kind" = wspush-tls ] && warmup=$warmup_s
    local duration=$(( warmup + measure ))
    local tag="$kind-$n"
    start_server "$kind" "$n" || { echo "{\"server\":\"$kind\",\"conns\":$n,\"error\":\"server did not start\"}" >>"$rows"; return 0; }
    sleep 1
    log "$tag: bench --conns $n --rate $rate --warmup ${warmup}s --duration ${duration}s"
    local rc=0 url="ws://127.0.0.1:$port/c1m" extra=()
    # wspush-sse: the same server, its clients Server-Sent Events streams
    [ "$kind" = wspush-sse ] && { url="http://127.0.0.1:$port/c1m"; extra=(--sse); }
    [ "$kind" = wspush-tls ] && { url="wss://127.0.0.1:$port/c1m"
        extra=(--cacert "$outdir/tls.pem" --connect-timeout 30s); }
    "$bench_bin" ${extra[@]+"${extra[@]}"} ${bench_args[@]+"${bench_args[@]}"} --url "$url" --conns "$n" --rate "$rate" \
        --warmup "$warmup" --duration "$duration" --server-pid "$srv_pid" \
        --label "$tag" --json "$outdir/$tag.json" --html "$outdir/$tag.html" --quiet \
        >"$outdir/$tag.txt" 2>&1 || rc=$?
    cat "$outdir/$tag.txt" >&2
    stop_server
    if [ -f "$outdir/$tag.json" ]; then
        jq -c --arg s "$kind" --argjson rc "$rc" '{server: $s, rc: $rc, conns: .conns_target,
            open: .open_end, ratio: .delivery_ratio, msgs_per_s: .messages_per_s,
            p50_ms: (.latency_us.p50/1000), p99_ms: (.latency_us.p99/1000),
            p999_ms: (.latency_us.p999/1000), max_ms: (.latency_us.max/1000),
            srv_cpu_s_per_m: .server.cpu_s_per_million, srv_rss_b_per_conn: .server.rss_per_conn_b,
            kernel_slab_b_per_conn: .server.slab_per_conn_b, srv_procs: .server.procs,
            bench_cpu_s: .bench_cpu_s, bench_us_per_msg: (.bench_us_per_msg // null),
            connect_errors: .connect_errors,
            handshake_failures: .handshake_failures, disconnects: .disconnects,
            tls_failures: (.tls_failures // {}), bench_b_per_conn: .bench_rss_per_conn_b,
            handshake_ms_avg: (.handshake_us_avg/1000)}' "$outdir/$tag.json" >>"$rows"
    else
        echo "{\"server\":\"$kind\",\"conns\":$n,\"rc\":$rc,\"error\":\"no result\"}" >>"$rows"
    fi
    port=$(( port + 1 )) # no TIME_WAIT/lingering listener between runs
}

IFS=, read -r -a nlist <<<"$ns"
IFS=, read -r -a slist <<<"$servers"
for n in "${nlist[@]}"; do
    if ! mem_ok "$n"; then
        log "N=$n skipped: needs ~$(( n * 16 / 1024 )) MiB, MemAvailable is $(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1024 )) MiB"
        echo "{\"conns\":$n,\"skipped\":\"not enough memory\"}" >>"$rows"
        continue
    fi
    tune_for "$n"
    for s in "${slist[@]}"; do
        run_one "$s" "$n"
    done
done

# ---- comparison ----
table="$outdir/summary.md"
{
    echo "## c1m $stamp ($(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r))"
    echo
    echo "measure ${measure}s after ramp (rate ${rate}/s) + warmup; one tick/s per connection"
    echo
    echo "| N | server | open | delivery ratio | msgs/s | p50 ms | p99 ms | max ms | server CPU-s per 1M msgs | server RSS B/conn | kernel slab B/conn | bench µs per delivery | errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r 'if .skipped then "| \(.conns) | - | skipped: \(.skipped) ||||||||||| |"
           elif .error then "| \(.conns) | \(.server) | \(.error) ||||||||||| |"
           else "| \(.conns) | \(.server) | \(.open) | \(.ratio // "n/a") | \(.msgs_per_s|floor) | \(.p50_ms*100|round/100) | \(.p99_ms*100|round/100) | \(.max_ms*100|round/100) | \(.srv_cpu_s_per_m // "n/a" | if type=="number" then (.*1000|round/1000) else . end) | \(.srv_rss_b_per_conn|round) | \(.kernel_slab_b_per_conn|round) | \(.bench_us_per_msg // "n/a" | if type=="number" then (.*100|round/100) else . end) | \(([.connect_errors[], .handshake_failures[], .tls_failures[], .disconnects[]] | add) // 0) |" end' "$rows"
} >"$table"
echo
cat "$table"
cat "$table" >>"$repo/bench/results/c1m.md"
cat "$rows" >>"$repo/bench/results/c1m.jsonl"
log "results in $outdir (JSON, HTML per run); table appended to bench/results/c1m.md"
