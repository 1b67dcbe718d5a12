#!/usr/bin/env bash
# redis_bench.sh - cross-node delivery through Redis vs single-node delivery,
# measured in the same run on this machine.
#
# Starts one redis-server (own port, temp dir, no persistence), three wspush
# nodes sharing it (--redis) and one node without Redis. A small Python
# client (asyncio, raw sockets: no per-frame library overhead) opens CONNS
# WebSocket connections per node on one topic, publishes RATE messages/s for
# DURATION seconds round-robin through the three nodes' admin APIs (each
# payload carries its send time), then does the same against the single
# node with 3*CONNS connections. Prints per phase: messages published,
# deliveries expected/received, delivery latency p50/p99/max, and for the
# Redis phase Redis' CPU time per million messages (utime+stime from
# /proc/<pid>/stat, per message published and per message delivered to a
# node).
#
# Usage: bench/redis_bench.sh [CONNS=100] [RATE=500] [DURATION=5] [SIZE=64]
#   env WSPUSH_BIN (default build/h-redis-rel/wspush, else build/release/wspush)
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-100}
RATE=${2:-500}
DURATION=${3:-5}
SIZE=${4:-64}
BIN=${WSPUSH_BIN:-}
for b in build/h-redis-rel/wspush build/release/wspush build/wspush; do
  [ -z "$BIN" ] && [ -x "$b" ] && BIN=$b
done
[ -x "$BIN" ] || { echo "redis_bench: build wspush first (or set WSPUSH_BIN)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis_bench: redis-server not installed" >&2; exit 2; }

TMP=$(mktemp -d /tmp/wspush-redis-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

RPORT=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --dir "$TMP" >"$TMP/redis.log" 2>&1 &
RPID=$!
pids+=("$RPID")
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

start_node() { # $1 = name, rest = extra args
  local name=$1; shift
  "$BIN" serve --listen 127.0.0.1:0 --admin 127.0.0.1:0 --workers 2 --log-level warn "$@" \
    2>"$TMP/$name.log" &
  pids+=("$!")
}
start_node n0 --redis "redis://127.0.0.1:$RPORT" --log-level info
start_node n1 --redis "redis://127.0.0.1:$RPORT" --log-level info
start_node n2 --redis "redis://127.0.0.1:$RPORT" --log-level info
start_node single --log-level info
ports() { # prints "PORT APORT" once the node has logged them
  for _ in $(seq 200); do
    local l
    l=$(grep -o 'listening on 127.0.0.1:[0-9]*, admin on 127.0.0.1:[0-9]*' "$TMP/$1.log" 2>/dev/null || true)
    if [ -n "$l" ]; then echo "$l" | sed -E 's/.*:([0-9]+), admin on .*:([0-9]+)/\1 \2/'; return; fi
    sleep 0.05
  done
  echo "redis_bench: node $1 did not start" >&2; exit 1
}
N0=$(ports n0); N1=$(ports n1); N2=$(ports n2); NS=$(ports single)

echo "redis_bench: redis pid $RPID port $RPORT; nodes: $N0 | $N1 | $N2; single: $NS"
echo "redis_bench: $CONNS conns/node, $RATE msg/s for ${DURATION}s, $SIZE-byte payloads, $(nproc) CPUs"

RPID=$RPID RPORT=$RPORT NODES="$N0,$N1,$N2" SINGLE="$NS" CONNS=$CONNS RATE=$RATE \
DURATION=$DURATION SIZE=$SIZE /usr/bin/python3 - <<'EOF'
import asyncio, base64, os, struct, subprocess, time

RPID = int(os.environ["RPID"]); RPORT = os.environ["RPORT"]
NODES = [tuple(map(int, n.split())) for n in os.environ["NODES"].split(",")]
SINGLE = tuple(map(int, os.environ["SINGLE"].split()))
CONNS = int(os.environ["CONNS"]); RATE = int(os.environ["RATE"])
DURATION = float(os.environ["DURATION"]); SIZE = int(os.environ["SIZE"])
TICKS = os.sysconf("SC_CLK_TCK")

def redis_cpu_s():
    with open(f"/proc/{RPID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

def numsub(ch):
    out = subprocess.run(["redis-cli", "-p", RPORT, "PUBSUB", "NUMSUB", ch],
                         capture_output=True, text=True).stdout.split()
    return int(out[1]) if len(out) == 2 else 0

class Client:
    def __init__(self):
        self.lat = []
        self.count = 0

    async def run(self, port, topic, ready):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write((f"GET /{topic} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await r.readuntil(b"\r\n\r\n")
        assert b" 101 " in head, head
        ready()
        self.w = w
        try:
            while True:
                h = await r.readexactly(2)
                n = h[1] & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await r.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await r.readexactly(8))[0]
                p = await r.readexactly(n)
                if h[0] & 0x0F == 0x1:
                    now = time.time_ns()
                    self.lat.append(now - int(p[:19]))
                    self.count += 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass

async def publisher(admin_ports, topic, rate, duration):
    conns = []
    for ap in admin_ports:
        conns.append(await asyncio.open_connection("127.0.0.1", ap))
    sent = 0
    t0 = time.monotonic()
    interval = 1.0 / rate
    while time.monotonic() - t0 < duration:
        due = t0 + sent * interval
        d = due - time.monotonic()
        if d > 0:
            await asyncio.sleep(d)
        r, w = conns[sent % len(conns)]
        body = str(time.time_ns()).encode().ljust(SIZE, b".")
        w.write(b"POST /publish/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
                % (topic.encode(), len(body), body))
        head = await r.readuntil(b"\r\n\r\n")
        cl = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await r.readexactly(cl)
        assert b" 202 " in head, head
        sent += 1
    for r, w in conns:
        w.close()
    return sent, time.monotonic() - t0

async def phase(name, ports, admin_ports, conns_per_node, redis):
    topic = "bench" + name
    clients, tasks = [], []
    ready = asyncio.Event()
    opened = [0]
    total = conns_per_node * len(ports)
    def one_ready():
        opened[0] += 1
        if opened[0] == total:
            ready.set()
    for p in ports:
        for _ in range(conns_per_node):
            c = Client()
            clients.append(c)
            tasks.append(asyncio.create_task(c.run(p, topic, one_ready)))
    await asyncio.wait_for(ready.wait(), 60)
    if redis:
        t = time.monotonic()
        while numsub("wspush:" + topic) < len(ports):
            assert time.monotonic() - t < 10, "nodes did not subscribe"
            await asyncio.sleep(0.05)
        cpu0 = redis_cpu_s()
    sent, took = await publisher(admin_ports, topic, RATE, DURATION)
    expect = sent * total
    t = time.monotonic()
    while sum(c.count for c in clients) < expect and time.monotonic() - t < 10:
        await asyncio.sleep(0.05)
    got = sum(c.count for c in clients)
    lat = sorted(x for c in clients for x in c.lat)
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] / 1e6 if lat else float("nan")
    line = (f"{name:7s} conns {total:5d}  published {sent:6d} ({sent/took:7.0f}/s)  "
            f"deliveries {got}/{expect} ({got/took:8.0f}/s)  latency ms p50 {q(0.5):6.2f} "
            f"p99 {q(0.99):6.2f} max {lat[-1]/1e6 if lat else float('nan'):7.2f}")
    if redis:
        cpu = redis_cpu_s() - cpu0
        line += (f"\n        redis CPU {cpu:.2f} s = {cpu / sent * 1e6:.1f} s per million published "
                 f"({cpu / (sent * len(ports)) * 1e6:.1f} s per million node deliveries)")
    print(line, flush=True)
    for tk in tasks:
        tk.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

async def main():
    await phase("redis", [n[0] for n in NODES], [n[1] for n in NODES], CONNS, True)
    await phase("single", [SINGLE[0]], [SINGLE[1]], CONNS * len(NODES), False)

asyncio.run(main())
EOF
