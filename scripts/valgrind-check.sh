#!/usr/bin/env bash
# valgrind-check.sh - memory-safety evidence without sanitizers: builds a
# plain debug wspush (build/valgrind), runs it under valgrind (master and
# forked workers), drives a small but complete workload through it - 50
# clients, good and bad handshakes, frames of every kind, publishes, a slow
# consumer, a client that resets mid-frame - then stops it with SIGTERM.
# Exits non-zero on any valgrind error or definite leak (or if the workload
# itself fails). About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind-check: valgrind is not installed" >&2; exit 2; }

cmake -S . -B build/valgrind -DCMAKE_BUILD_TYPE=Debug -DWSP_SANITIZE= >/dev/null
cmake --build build/valgrind -j2 --target wspush >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --trace-children=yes --leak-check=full --error-exitcode=99 \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --log-file="$out/vg.%p.log" \
  build/valgrind/wspush serve --listen 127.0.0.1:0 --admin 127.0.0.1:0 --workers 2 \
  --max-backlog 64KiB --handshake-timeout 2s --echo-path /echo --drain-timeout 2s \
  2>"$out/server.log" &
pid=$!

# the first stderr line names the ports
for _ in $(seq 300); do
  grep -q "listening on" "$out/server.log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$out/server.log"; exit 1; }
  sleep 0.1
done
ports=$(grep -o "listening on 127.0.0.1:[0-9]*, admin on 127.0.0.1:[0-9]*" "$out/server.log" \
        | grep -o "[0-9]*$\|:[0-9]*," | tr -d ':,' | tr '\n' ' ')
set -- $ports
port=$1 aport=$2

drive_rc=0
PORT=$port APORT=$aport timeout 120 /usr/bin/python3 - <<'EOF' || drive_rc=$?
import os, socket, struct, time, http.client, base64
port, aport = int(os.environ["PORT"]), int(os.environ["APORT"])

def frame(op, payload=b"", fin=True, mask=True, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | op
    mb = 0x80 if mask else 0
    h = (struct.pack("!BB", b0, mb | n) if n < 126 else
         struct.pack("!BBH", b0, mb | 126, n) if n < 65536 else struct.pack("!BBQ", b0, mb | 127, n))
    if not mask:
        return h + payload
    k = os.urandom(4)
    return h + k + bytes(c ^ k[i & 3] for i, c in enumerate(payload))

def ws(path, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        c = s.recv(4096)
        assert c, "closed during handshake"
        buf += c
    assert buf.startswith(b"HTTP/1.1 101"), buf[:80]
    return s

def raw(req):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(req)
            return s.recv(4096)[:12]
        except (ConnectionResetError, BrokenPipeError):
            return b""

adm = http.client.HTTPConnection("127.0.0.1", aport, timeout=30)
def publish(topic, body):
    adm.request("POST", f"/publish/{topic}" if topic else "/broadcast", body)
    r = adm.getresponse(); r.read()
    return r.status

clients = [ws(f"/t{i % 5}?topic=all&topic=x{i % 3}") for i in range(50)]
for k in range(20):
    assert publish(f"t{k % 5}", b"m" * (100 + k)) == 202
    assert publish("all", b"everyone") == 202
assert publish(None, b"broadcast") == 202
assert publish("big", b"z" * (2 << 20)) == 413
for bad in (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n", b"\x16\x03\x01garbage\r\n\r\n",
            b"GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /nope HTTP/1.1\r\n\r\n"):
    raw(bad)
for f in (frame(1, b"x", mask=False), frame(2, length=1 << 63), frame(3), frame(9, b"p" * 126),
          frame(8, struct.pack("!H", 1000) + b"\xff"), frame(1, b"\xc3\x28")):
    s = ws("/bad"); s.sendall(f)
    while s.recv(4096):
        pass
    s.close()
e = ws("/echo")
e.sendall(frame(1, b"frag", fin=False) + frame(9, b"ping") + frame(0, b"ment") + frame(8, struct.pack("!H", 1000)))
while e.recv(4096):
    pass
slow = ws("/flood", rcvbuf=4096)
for _ in range(100):
    publish("flood", b"f" * 16000)
r = ws("/t1"); r.sendall(frame(2, b"q" * 1000)[:300])
r.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); r.close()
half = ws("/t2"); half.shutdown(socket.SHUT_WR); publish("t2", b"to half")
for s in clients[:25]:
    s.sendall(frame(8, struct.pack("!H", 1000)))
for s in clients[25:]:
    s.close()
adm.request("GET", "/metrics"); adm.getresponse().read()
adm.request("GET", "/stats"); adm.getresponse().read()
adm.close()
time.sleep(1)
print("valgrind-check: workload done")
EOF

kill -TERM $pid 2>/dev/null || true
rc=0
wait $pid || rc=$?
errors=$(grep -h "ERROR SUMMARY" "$out"/vg.*.log | awk '{s += $4} END {print s + 0}')
definite=$(grep -h "definitely lost:" "$out"/vg.*.log | awk '{gsub(",", "", $4); s += $4} END {print s + 0}')
echo "valgrind-check: $(ls "$out"/vg.*.log | wc -l) processes, $errors errors, $definite bytes definitely lost, server exit $rc, workload exit $drive_rc"
if [ "$errors" != 0 ] || [ "$definite" != 0 ] || [ "$rc" != 0 ] || [ "$drive_rc" != 0 ]; then
  for f in "$out"/vg.*.log; do
    grep -q "ERROR SUMMARY: 0 errors" "$f" && ! grep -q "definitely lost: [1-9]" "$f" && continue
    echo "=== $f"; head -150 "$f"
  done
  tail -20 "$out/server.log"
  exit 1
fi
echo "valgrind-check: OK"
