#!/usr/bin/python3
"""bench/restart_spread.py - a restart under N clients: how fast they come
back to the new server, and (with --resume) whether they missed anything
(issue 17, "restart without a reconnect storm"; issue 14, resume).

  1. starts server A (`wspush serve`) on a free port and connects N clients
     (raw non-blocking sockets on one epoll per client process, a minimal
     WebSocket client; --procs P processes, each from its own source
     addresses in 127.0.0.0/8, since one process holds < 20,000 sockets);
  2. sends A SIGTERM and at once starts server B on the same ports (A has
     closed its listeners first);
  3. every client, on its close frame, records the time and the code, and
     reconnects like /wspush.js: after restartDelay(reason) = hint + up to
     hint/4 for 1012 (else 0, the pre-issue-17 worst case);
  4. with --resume, the clients subscribe to one topic in the envelope
     format (?format=json), remember the last id and reconnect with
     ?since=<topic>:<id>, while this script publishes to the topic every
     --publish-every seconds from before the SIGTERM until every client is
     back; each client checks that the ids it got are consecutive (no gap,
     no duplicate) and counts resets. --redis starts a throwaway
     redis-server (no persistence) that both servers share, so that
     history outlives server A;
  5. prints, per second after the SIGTERM, the closes seen and the
     handshakes B completed (its accept rate as the clients see it), the
     peak, the configured spread N / (drain - tail), and the resume check.

usage: bench/restart_spread.py [--bin build/release/wspush] [--conns 10000]
                               [--drain 30s] [--workers 2] [--procs 1]
                               [--resume] [--history 1000] [--redis]
                               [--publish-every 1]
Prints a markdown block for BENCHMARKS.md. Needs ulimit -n > N/P + 100."""
import argparse
import base64
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib

HINT_RE = re.compile(rb"retry-after-ms=(\d+)")
ID_RE = re.compile(rb'"id":"(\d+)-(\d+)"')
TOPIC = "feed"


start = benchlib.start


def request(path, resume, since):
    q = ""
    if resume:
        q = f"?topic={TOPIC}&format=json"
        if since:
            q += f"&since={TOPIC}%3A{since[0]}-{since[1]}"
    return (f"GET /{q} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(b'0123456789abcdef').decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


class Client:
    __slots__ = ("sock", "buf", "state", "gen", "last", "gaps", "dups", "resets", "got")

    def __init__(self):
        self.sock, self.buf, self.state, self.gen = None, b"", "idle", 0
        self.last, self.gaps, self.dups, self.resets, self.got = None, 0, 0, 0, 0


def frames(c):
    """Complete server frames at the start of c.buf: (opcode, payload)."""
    while len(c.buf) >= 2:
        b1 = c.buf[1] & 0x7f
        off = 2
        if b1 == 126:
            if len(c.buf) < 4:
                return
            b1, off = struct.unpack("!H", c.buf[2:4])[0], 4
        elif b1 == 127:
            if len(c.buf) < 10:
                return
            b1, off = struct.unpack("!Q", c.buf[2:10])[0], 10
        if len(c.buf) < off + b1:
            return
        op, payload = c.buf[0] & 0x0f, c.buf[off:off + b1]
        c.buf = c.buf[off + b1:]
        yield op, payload


def child(a):
    """One client process: a.conns clients from source addresses
    127.<a.net>.<gen % 2 + 1>.<k>, commands on stdin, results on stdout."""
    ep = select.epoll()
    clients = {}
    pending = []  # (due time, client)
    srcs = [f"127.{a.net}.1.{k}" for k in range(1, 5)]
    srcs_b = [f"127.{a.net}.2.{k}" for k in range(1, 5)]  # reconnects: no TIME_WAIT clash
    out = {"closes": [], "accepts_b": [], "refused": 0}
    nconn = [0]

    def connect(c):
        s = socket.socket()
        s.setblocking(False)
        nconn[0] += 1
        s.bind(((srcs if c.gen == 0 else srcs_b)[nconn[0] % 4], 0))
        try:
            s.connect(("127.0.0.1", a.port))
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
        c.state = "closed"

    def retry(c):
        drop(c)
        out["refused"] += 1
        pending.append((time.monotonic() + 0.5, c))

    def on_frame(c, op, payload):
        if op == 1:  # an envelope: {"topic","id","data"} or {"type":"reset",...}
            m = ID_RE.search(payload)
            if b'"type":"reset"' in payload:
                c.resets += 1
                c.last = (int(m.group(1)), int(m.group(2))) if m else None
                return
            if not m:
                return
            ep_, seq = int(m.group(1)), int(m.group(2))
            c.got += 1
            if c.last and c.last[0] == ep_:
                if seq <= c.last[1]:
                    c.dups += 1
                    return
                if seq != c.last[1] + 1:
                    c.gaps += 1
            c.last = (ep_, seq)
            return
        if op != 8:
            return
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        now = time.monotonic()
        out["closes"].append((now, code))
        try:
            c.sock.send(b"\x88\x82abcd" + bytes(x ^ y for x, y in zip(payload[:2], b"ab")))
        except OSError:
            pass
        drop(c)
        m = HINT_RE.search(payload)
        delay = 0.0
        if code == 1012 and m:
            hint = int(m.group(1)) / 1000.0
            delay = hint + (os.urandom(1)[0] / 256.0) * hint / 4
        c.gen += 1
        pending.append((now + delay, c))

    def step(timeout):
        for fd, ev in ep.poll(timeout):
            c = clients.get(fd)
            if not c:
                continue
            if c.state == "connecting":
                if ev & (select.EPOLLERR | select.EPOLLHUP):
                    retry(c)
                elif ev & select.EPOLLOUT:
                    c.sock.send(request("/", a.resume, c.last))
                    c.state = "handshake"
                    ep.modify(fd, select.EPOLLIN)
                continue
            try:
                data = c.sock.recv(262144)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                retry(c)
                continue
            c.buf += data
            if c.state == "handshake" and b"\r\n\r\n" in c.buf:
                head, _, c.buf = c.buf.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 101"):
                    retry(c)
                    continue
                c.state = "open"
                if c.gen:
                    out["accepts_b"].append(time.monotonic())
            if c.state == "open":
                for op, payload in frames(c):
                    on_frame(c, op, payload)
                    if c.state != "open" or c.sock.fileno() not in clients:
                        break

    def reconnect_due():
        now = time.monotonic()
        due = [p for p in pending if p[0] <= now]
        if due:
            pending[:] = [p for p in pending if p[0] > now]
            for _, c in due:
                connect(c)

    cl = [Client() for _ in range(a.conns)]
    for c in cl:
        connect(c)
    ppid = os.getppid()
    while sum(1 for c in cl if c.state == "open") < a.conns:
        step(0.5)
        reconnect_due()  # a refused or timed-out first attempt tries again
        if os.getppid() != ppid:
            sys.exit("the parent is gone")
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)
    ep.register(stdin, select.EPOLLIN)
    clients[stdin] = None
    want, deadline = None, None  # the seq every client must reach; when to give up
    while True:
        step(0.05)
        try:
            line = os.read(stdin, 4096).decode()
        except BlockingIOError:
            line = ""
        for cmd in line.split("\n"):
            if cmd.startswith("want "):  # want <messages published> <monotonic deadline>
                _, w, d = cmd.split()
                want, deadline = int(w), float(d)
        reconnect_due()
        if os.getppid() != ppid:
            sys.exit("the parent is gone")
        now = time.monotonic()
        if want is None:
            continue
        back = all(c.gen >= 1 and c.state == "open" for c in cl)
        caught_up = not a.resume or all(c.got + c.dups >= want or c.resets for c in cl)
        if (back and caught_up) or now > deadline:
            break
    out["back"] = sum(1 for c in cl if c.gen >= 1 and c.state == "open")
    for k in ("got", "gaps", "dups", "resets"):
        out[k] = sum(getattr(c, k) for c in cl)
    out["complete"] = sum(1 for c in cl if c.got == want
                          and not c.gaps and not c.dups and not c.resets)
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/release/wspush")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--drain", default="30s")
    ap.add_argument("--workers", default="2")
    ap.add_argument("--procs", type=int, default=1, help="client processes")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--history", type=int, default=1000, help="--history-size with --resume")
    ap.add_argument("--redis", action="store_true", help="a throwaway redis-server for both")
    ap.add_argument("--publish-every", type=float, default=1.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--net", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)
    drain_s = float(a.drain.rstrip("s"))
    common = ["--workers", a.workers, "--max-conns-per-ip", "0", "--drain-timeout", a.drain,
              "--ping-interval", "0", "--max-conns", str(a.conns + 1000)]
    redis = None
    if a.resume:
        common += ["--history-size", str(a.history)]
    if a.redis:
        rport = socket.socket()
        rport.bind(("127.0.0.1", 0))
        rp = rport.getsockname()[1]
        rport.close()
        rdir = tempfile.mkdtemp(prefix="wspush-redis-")
        redis = subprocess.Popen(["redis-server", "--port", str(rp), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", rdir],
                                 stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        common += ["--redis", f"redis://127.0.0.1:{rp}"]
    srv_a, port, admin = start(a.bin, ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
                               + common)
    per = [a.conns // a.procs + (1 if i < a.conns % a.procs else 0) for i in range(a.procs)]
    kids = [subprocess.Popen([sys.executable, __file__, "--child", "--port", str(port),
                              "--conns", str(n), "--net", str(i + 1)]
                             + (["--resume"] if a.resume else []),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for i, n in enumerate(per)]
    for k in kids:
        assert k.stdout.readline().strip() == "ready", "a client process failed"
    print(f"{a.conns} clients connected to A", file=sys.stderr)

    def publish(adm_port, i):
        req = urllib.request.Request(f"http://127.0.0.1:{adm_port}/publish/{TOPIC}",
                                     data=f"m{i}".encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status == 202
        except OSError:
            return False

    published, i = 0, 0
    if a.resume:
        published, i = int(publish(admin, i)), 1
    t_term = time.monotonic()
    srv_a.send_signal(signal.SIGTERM)
    srv_b, _, admin_b = start(a.bin, ["--listen", f"127.0.0.1:{port}", "--admin", "127.0.0.1:0"]
                              + common)
    t_b = time.monotonic() - t_term
    if a.resume:  # through the drain window and a little past it, on B
        nxt = time.monotonic()
        while time.monotonic() < t_term + drain_s + 3:
            if time.monotonic() >= nxt:
                published += int(publish(admin_b, i))
                i += 1
                nxt += a.publish_every
            time.sleep(0.02)
    for k in kids:
        k.stdin.write(f"want {published} {t_term + drain_s + 15}\n")
        k.stdin.flush()
    res = []
    for k in kids:
        line = k.stdout.readline()
        res.append(json.loads(line) if line else {})
        k.wait()
    srv_a.wait(timeout=30)
    srv_b.send_signal(signal.SIGKILL)
    srv_b.wait()
    if redis:
        redis.kill()
        redis.wait()
    closes = [(t - t_term, c) for r in res for t, c in r.get("closes", [])]
    accepts_b = [t - t_term for r in res for t in r.get("accepts_b", [])]
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
    refused = sum(r.get("refused", 0) for r in res)
    print(f"### restart of {a.conns} clients, --drain-timeout {a.drain}, --workers {a.workers}")
    print()
    print(f"`bench/restart_spread.py --conns {a.conns} --drain {a.drain} --workers {a.workers}"
          f" --procs {a.procs}{' --resume' if a.resume else ''}{' --redis' if a.redis else ''}`")
    print()
    print(f"- close codes: {codes}; B started {t_b:.2f}s after SIGTERM; "
          f"{len(accepts_b)} handshakes on B; refused/reset reconnects: {refused}")
    if spread > 0:
        print(f"- configured spread: {a.conns} / {spread:g}s = {a.conns / spread:.0f} closes/s")
    print(f"- peak closes/s: {max(per_close)}; peak accepts/s on B: {max(per_acc)}; "
          f"last close at {max([t for t, _ in closes] + [0]):.1f}s, last accept at "
          f"{max(accepts_b, default=0):.1f}s")
    if a.resume:
        tot = {k: sum(r.get(k, 0) for r in res) for k in ("got", "gaps", "dups", "resets",
                                                          "complete", "back")}
        print(f"- resume: {published} messages published (every {a.publish_every:g}s); "
              f"{tot['got']} received; clients with every message, in order, once: "
              f"{tot['complete']} of {a.conns}; gaps {tot['gaps']}, duplicates {tot['dups']}, "
              f"resets {tot['resets']}; back on B: {tot['back']}")
    print()
    print("| second | closes (A) | handshakes (B) |")
    print("| --- | --- | --- |")
    for i in range(secs):
        print(f"| {i} | {per_close[i]} | {per_acc[i]} |")


if __name__ == "__main__":
    main()
