#!/usr/bin/env bash
# Handshake rate and memory with subscriber tokens (issue 13).
#   bench/auth_handshake.sh [N] [RUNS]      e.g. bench/auth_handshake.sh 10000 3
# For each run, interleaved: no token (no key configured), HS256, ES256. Each
# connection i sends its own token (user u<i>, from a --token-file made with
# python3-jwt). Rate: `wspush serve --workers 2` and `wspush-bench --conns N
# --rate 100000` (far above what the server takes, so the bench's "handshake
# rate" line, N / (last handshake - first attempt), is the server's).
# Memory: bench/conn_memory.sh N / without and with HS256 tokens (one
# worker, anonymous RSS per connection). Needs build/release.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
RUNS=${2:-2}
B=build/release
tmp=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
head -c 48 /dev/urandom | base64 -w0 > "$tmp/hmac.key"
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ec.pem" 2>/dev/null
openssl ec -in "$tmp/ec.pem" -pubout -out "$tmp/ec.pub" 2>/dev/null
/usr/bin/python3 - "$tmp" "$N" <<'EOF'
import sys, time, jwt
d, n = sys.argv[1], int(sys.argv[2])
hk = open(f"{d}/hmac.key", "rb").read()
ek = open(f"{d}/ec.pem", "rb").read()
exp = int(time.time()) + 3600
with open(f"{d}/hs.tok", "w") as h, open(f"{d}/es.tok", "w") as e:
    for i in range(n):
        c = {"sub": f"u{i}", "exp": exp, "topics": ["news.*"]}
        h.write(jwt.encode(c, hk, "HS256") + "\n")
        e.write(jwt.encode(c, ek, "ES256") + "\n")
EOF

start() { # workers, mode
  port=$(( 20000 + RANDOM % 20000 )); aport=$(( port + 1 ))
  local keys=()
  case $2 in
    hs) keys=(--auth-hmac-key-file "$tmp/hmac.key") ;;
    es) keys=(--auth-public-key "$tmp/ec.pub") ;;
  esac
  "$B/wspush" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" --workers "$1" \
    --max-conns-per-ip 0 "${keys[@]}" 2>/dev/null &
  srv=$!
  for _ in $(seq 50); do curl -sf "127.0.0.1:$aport/healthz" >/dev/null && break; sleep 0.1; done
}
stop() { kill "$srv"; wait "$srv" 2>/dev/null || true; srv=; }
tokargs() { case $1 in none) ;; hs) echo --token-file "$tmp/hs.tok" ;; es) echo --token-file "$tmp/es.tok" ;; esac; }

for run in $(seq "$RUNS"); do
  for mode in none hs es; do
    start 2 "$mode"
    # shellcheck disable=SC2046
    out=$("$B/wspush-bench" --url "ws://127.0.0.1:$port/" --conns "$N" --rate 100000 \
          --duration 2 --warmup 1 --expect-rate 0 --quiet $(tokargs "$mode") 2>&1)
    stop
    rate=$(grep -o 'handshake rate  [0-9]*/s' <<<"$out" | grep -o '[0-9]*' || echo "?")
    fails=$(grep -E '^handshake fails' <<<"$out" | cut -c17-)
    echo "run=$run mode=$mode conns=$N workers=2 handshake_rate=${rate}/s fails=[$fails]"
  done
done

# memory: bench/conn_memory.sh with the key and the token file
bench/conn_memory.sh "$N" /
SERVE_ARGS="--auth-hmac-key-file $tmp/hmac.key" BENCH_ARGS="--token-file $tmp/hs.tok" \
  bench/conn_memory.sh "$N" /
