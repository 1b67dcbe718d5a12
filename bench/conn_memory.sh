#!/usr/bin/env bash
# User-space memory per idle WebSocket connection on ONE worker.
#   bench/conn_memory.sh N [PATH] [ws|sse|tls]   e.g. bench/conn_memory.sh 19000 /ws sse
# (sse: the N connections are Server-Sent Events streams held by
# bench/sse_hold.py instead of WebSockets from wspush-bench; tls: wss://
# connections from wspush-bench --insecure to a server with a fresh
# self-signed certificate, RSA-2048 unless CERT_KEY=ec for ECDSA P-256;
# BENCH_ARGS="--tls-max 1.2" measures TLS 1.2)
# Starts `wspush serve --workers 1 --tick 1s`, opens N connections with
# wspush-bench (PATH "/" = no topic, "/ws" = one topic), and reports the
# worker's anonymous RSS (heap + anonymous mappings: what connections cost;
# file-backed pages are shared library code paged in, not per-connection
# state) before and after, divided by N. Needs build/release (scripts/build.sh).
# SERVE_ARGS / BENCH_ARGS (environment) are added to the two command lines,
# e.g. SERVE_ARGS="--auth-hmac-key-file K" BENCH_ARGS="--token-file F".
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
P=${2:-/}
MODE=${3:-ws}
B=build/release
port=$(( 20000 + RANDOM % 20000 ))
aport=$(( port + 1 ))
tmp=$(mktemp -d)
scheme=ws tls_args=() bench_tls=() dur=14 waits=60
if [ "$MODE" = tls ]; then
  if [ "${CERT_KEY:-rsa}" = ec ]; then newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
  else newkey=(-newkey rsa:2048); fi
  openssl req -x509 "${newkey[@]}" -nodes -keyout "$tmp/k.pem" -out "$tmp/c.pem" -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  scheme=wss tls_args=(--tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem")
  # one worker does every handshake: a slower ramp, more time to finish it
  bench_tls=(--insecure --rate 2000 --connect-timeout 30s) dur=$(( 20 + N / 500 )) waits=$(( 2 * dur ))
fi
# shellcheck disable=SC2086
"$B/wspush" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" --workers 1 --tick 1s \
  ${tls_args[@]+"${tls_args[@]}"} ${SERVE_ARGS:-} 2>"$tmp/server.log" &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$aport/healthz" >/dev/null && break; sleep 0.1; done
wpid=$(pgrep -P "$srv")
anon() { awk '/RssAnon/{print $2}' "/proc/$wpid/status"; }
r0=$(anon)
if [ "$MODE" = sse ]; then
  python3 bench/sse_hold.py "$port" "$P" "$N" 18 >/tmp/conn_memory.$$ 2>&1 &
else
  # shellcheck disable=SC2086
  "$B/wspush-bench" --url "$scheme://127.0.0.1:$port$P" --conns "$N" --duration "$dur" --warmup 4 \
    --quiet ${bench_tls[@]+"${bench_tls[@]}"} ${BENCH_ARGS:-} >/tmp/conn_memory.$$ 2>&1 &
fi
bench=$!
c=0
for _ in $(seq "$waits"); do
  c=$(curl -s "127.0.0.1:$aport/stats" | grep -o '"connections":[0-9]*,"max' | grep -o '[0-9]*' || echo 0)
  [ "$c" = "$N" ] && break
  sleep 0.5
done
sleep 3
r1=$(anon)
wait $bench || true
ratio=$(grep -o 'delivery ratio [0-9.]*' /tmp/conn_memory.$$ || true)
client=$(grep -o '[0-9]* B per open connection' /tmp/conn_memory.$$ | sed 's/ B per open connection//' || true)
rm -f /tmp/conn_memory.$$
echo "mode=$MODE conns=$c path=$P worker_anon_rss_kB before=$r0 after=$r1 bytes_per_conn=$(( (r1 - r0) * 1024 / N )) ($ratio${client:+, client side $client B/conn beyond its slot})"
