#!/usr/bin/python3
"""bench/restart_spread.py - a restart under N clients: how fast they come
back to the new server (issue 17, "restart without a reconnect storm").

  1. starts server A (`wspush serve`) on a free port and connects N clients
     (raw non-blocking sockets on one epoll, a minimal WebSocket client);
  2. sends A SIGTERM and at once starts server B on the same ports (A has
     closed its listeners first);
  3. every client, on its close frame, records the time and the code, and
     reconnects like /wspush.js: after restartDelay(reason) = hint + up to
     hint/4 for 1012 (else 0, the pre-issue-17 worst case);
  4. prints, per second after the SIGTERM, the closes seen and the
     handshakes B completed (its accept rate as the clients see it), the
     peak, and the configured spread N / (drain - tail).

usage: bench/restart_spread.py [--bin build/release/wspush] [--conns 10000]
                               [--drain 30s] [--workers 2]
Prints a markdown block for BENCHMARKS.md. Needs ulimit -n > N + 100."""
import argparse
import base64
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

LISTEN_RE = re.compile(rb"listening on .*?:(\d+).*?admin.*?:(\d+)")
HINT_RE = re.compile(rb"retry-after-ms=(\d+)")


def start(binary, args):
    p = subprocess.Popen([binary, "serve"] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    buf = b""
    while True:
        line = p.stderr.readline()
        if not line:
            sys.exit("server exited: " + buf.decode(errors="replace"))
        buf += line
        m = LISTEN_RE.search(line)
        if m:
            return p, int(m.group(1)), int(m.group(2))


REQ = ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
       % base64.b64encode(b"0123456789abcdef").decode()).encode()


class Client:
    __slots__ = ("sock", "buf", "state", "gen")

    def __init__(self):
        self.sock, self.buf, self.state, self.gen = None, b"", "idle", 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/release/wspush")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--drain", default="30s")
    ap.add_argument("--workers", default="2")
    a = ap.parse_args()
    drain_s = float(a.drain.rstrip("s"))
    common = ["--workers", a.workers, "--max-conns-per-ip", "0", "--drain-timeout", a.drain,
              "--ping-interval", "0"]
    srv_a, port, admin = start(a.bin, ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
                               + common)
    ep = select.epoll()
    clients = {}
    pending = []  # (due time, client)

    def connect(c):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        c.sock, c.buf, c.state = s, b"", "connecting"
        clients[s.fileno()] = c
        ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)

    def drop(c):
        fd = c.sock.fileno()
        ep.unregister(fd)
        del clients[fd]
        c.sock.close()

    cl = [Client() for _ in range(a.conns)]
    for c in cl:
        connect(c)
    opened = 0
    closes, accepts_b, refused = [], [], 0
    t_term = None
    srv_b = None

    def step(timeout):
        nonlocal opened, refused
        for fd, ev in ep.poll(timeout):
            c = clients.get(fd)
            if not c:
                continue
            if c.state == "connecting":
                if ev & (select.EPOLLERR | select.EPOLLHUP):
                    drop(c)
                    refused += 1
                    pending.append((time.monotonic() + 0.5, c))  # refused: back off
                    continue
                if ev & select.EPOLLOUT:
                    c.sock.send(REQ)
                    c.state = "handshake"
                    ep.modify(fd, select.EPOLLIN)
                continue
            try:
                data = c.sock.recv(65536)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                drop(c)
                refused += 1
                pending.append((time.monotonic() + 0.5, c))
                continue
            c.buf += data
            if c.state == "handshake" and b"\r\n\r\n" in c.buf:
                head, _, c.buf = c.buf.partition(b"\r\n\r\n")
                c.state = "open"
                if c.gen == 0:
                    opened += 1
                else:
                    accepts_b.append(time.monotonic() - t_term)
            if c.state == "open" and len(c.buf) >= 2 and c.buf[0] & 0x0f == 8:
                n = c.buf[1] & 0x7f
                if len(c.buf) < 2 + n:
                    continue
                payload = c.buf[2:2 + n]
                code = struct.unpack("!H", payload[:2])[0] if n >= 2 else 1005
                now = time.monotonic()
                closes.append((now - t_term, code))
                c.sock.send(b"\x88\x82abcd" + bytes(x ^ y for x, y in zip(payload[:2], b"ab")))
                drop(c)
                m = HINT_RE.search(payload)
                delay = 0.0
                if code == 1012 and m:
                    hint = int(m.group(1)) / 1000.0
                    delay = hint + (os.urandom(1)[0] / 256.0) * hint / 4
                c.gen += 1
                pending.append((now + delay, c))

    while opened < a.conns:
        step(1.0)
    print(f"{a.conns} clients connected to A", file=sys.stderr)
    t_term = time.monotonic()
    srv_a.send_signal(signal.SIGTERM)
    srv_b, _, _ = start(a.bin, ["--listen", f"127.0.0.1:{port}", "--admin", "127.0.0.1:0"]
                        + common)
    t_b = time.monotonic() - t_term
    deadline = t_term + drain_s + 15
    while len(accepts_b) < a.conns and time.monotonic() < deadline:
        step(0.05)
        now = time.monotonic()
        due = [p for p in pending if p[0] <= now]
        if due:
            pending[:] = [p for p in pending if p[0] > now]
            for _, c in due:
                connect(c)
    srv_a.wait(timeout=30)
    srv_b.send_signal(signal.SIGKILL)
    srv_b.wait()
    tail = min(drain_s / 5, 3.0)
    spread = drain_s - tail
    secs = int(max([t for t, _ in closes] + accepts_b + [1])) + 1
    per_close = [0] * secs
    per_acc = [0] * secs
    for t, _ in closes:
        per_close[int(t)] += 1
    for t in accepts_b:
        per_acc[int(t)] += 1
    codes = {}
    for _, c in closes:
        codes[c] = codes.get(c, 0) + 1
    print(f"### restart of {a.conns} clients, --drain-timeout {a.drain}, --workers {a.workers}")
    print()
    print(f"`bench/restart_spread.py --conns {a.conns} --drain {a.drain} --workers {a.workers}`")
    print()
    print(f"- close codes: {codes}; B started {t_b:.2f}s after SIGTERM; "
          f"{len(accepts_b)} of {a.conns} back on B; refused/reset reconnects: {refused}")
    if spread > 0:
        print(f"- configured spread: {a.conns} / {spread:g}s = {a.conns / spread:.0f} closes/s")
    print(f"- peak closes/s: {max(per_close)}; peak accepts/s on B: {max(per_acc)}; "
          f"last close at {max(t for t, _ in closes):.1f}s, last accept at "
          f"{max(accepts_b, default=0):.1f}s")
    print()
    print("| second | closes (A) | handshakes (B) |")
    print("| --- | --- | --- |")
    for i in range(secs):
        print(f"| {i} | {per_close[i]} | {per_acc[i]} |")


if __name__ == "__main__":
    main()
