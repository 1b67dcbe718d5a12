#!/usr/bin/python3
"""bench/history_bench.py - what history costs (issue 14), on this machine.

  publish   publish throughput with history on vs off: for each setting
            (interleaved, --repeat times) a fresh server (1 worker, no
            subscribers), then --messages publishes round-robin over
            --topics topics (1,000 x 100 by default) through --conns
            pipelined admin connections. Reports publishes/s (wall) and the
            master's CPU per publish (utime+stime of its pid from
            /proc/<pid>/stat: the master is the one thread every publish
            goes through), medians; with history on, the bytes per stored
            message (wspush_history_store_bytes / wspush_history_stored_total)
            and the master's RSS growth per stored message.
  storm     replay to N reconnecting clients at once must not stall live
            delivery: one server with history on; wspush-bench holds --live
            connections on topic "live" and publishes --live-rate messages/s
            with timestamps (latency = receive - send). Twice: once alone
            (baseline), once while N clients (raw sockets, this script)
            reconnect at once with ?since= and each gets --replay messages of
            topic "storm" replayed. Prints live p50/p99/max of both runs.

usage: bench/history_bench.py publish [--bin B] [--repeat 5] [--topics 1000]
                                      [--messages 100000] [--conns 4]
       bench/history_bench.py storm   [--bin B] [--clients 10000] [--replay 50]
                                      [--live 2000] [--live-rate 20]
Prints markdown for BENCHMARKS.md."""
import argparse
import base64
import json
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import benchlib

TICKS = os.sysconf("SC_CLK_TCK")


def start(binary, args):
    return benchlib.start(binary, ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"] + args)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / TICKS


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        m = re.search(rf"^{name} (\d+)", r.read().decode(), re.M)
    return int(m.group(1)) if m else 0


def pipelined(port, reqs):
    """Sends reqs on one connection from a writer thread; counts 202s."""
    s = socket.create_connection(("127.0.0.1", port))
    t = threading.Thread(target=lambda: [s.sendall(b"".join(reqs[i:i + 500]))
                                         for i in range(0, len(reqs), 500)])
    t.start()
    ok, buf = 0, b""
    while ok < len(reqs):
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
        # each reply is a head with Content-Length and a small JSON body
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            m = re.search(rb"(?i)content-length: *(\d+)", buf[:i])
            n = int(m.group(1)) if m else 0
            if len(buf) < i + 4 + n:
                break
            if buf.startswith(b"HTTP/1.1 202"):
                ok += 1
            else:
                sys.exit("publish failed: " + buf[:200].decode(errors="replace"))
            buf = buf[i + 4 + n:]
    t.join()
    s.close()
    return ok


def publish_run(a, history):
    args = ["--workers", "1", "--ping-interval", "0"]
    if history:
        args += ["--history-size", str(history), "--history-topics", str(max(4096, a.topics))]
    p, _, admin = start(a.bin, args)
    try:
        body = b"x" * a.size
        reqs = [(f"POST /publish/t{i % a.topics} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                for i in range(a.messages)]
        parts = [reqs[k::a.conns] for k in range(a.conns)]
        rss0, c0, t0 = rss_kb(p.pid), cpu_s(p.pid), time.monotonic()
        oks = [0] * a.conns
        th = [threading.Thread(target=lambda k=k: oks.__setitem__(k, pipelined(admin, parts[k])))
              for k in range(a.conns)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        wall, cpu = time.monotonic() - t0, cpu_s(p.pid) - c0
        assert sum(oks) == a.messages, oks
        out = {"rate": a.messages / wall, "cpu_us": cpu / a.messages * 1e6,
               "rss_b": (rss_kb(p.pid) - rss0) * 1024 / a.messages}
        if history:
            stored = metric(admin, "wspush_history_stored_total")
            out["store_b"] = metric(admin, "wspush_history_store_bytes") / max(stored, 1)
            out["stored"] = stored
        return out
    finally:
        p.kill()
        p.wait()


def cmd_publish(a):
    rows = {0: [], a.history: []}
    for r in range(a.repeat):
        for h in ((0, a.history) if r % 2 == 0 else (a.history, 0)):
            rows[h].append(publish_run(a, h))
            print(f"run {r} history {h}: {rows[h][-1]}", file=sys.stderr)
    med = {h: {k: statistics.median(x[k] for x in v) for k in v[0]} for h, v in rows.items()}
    print(f"`bench/history_bench.py publish --repeat {a.repeat} --topics {a.topics} "
          f"--messages {a.messages} --conns {a.conns} --size {a.size}` "
          f"(history on: --history-size {a.history})")
    print()
    print("| history | publishes/s (runs) | median | master CPU µs/publish (runs) | median |")
    print("| --- | --- | --- | --- | --- |")
    for h in (0, a.history):
        rates = ", ".join(f"{x['rate']:,.0f}" for x in rows[h])
        cpus = ", ".join(f"{x['cpu_us']:.2f}" for x in rows[h])
        name = f"{h}/topic" if h else "off"
        print(f"| {name} | {rates} | {med[h]['rate']:,.0f} | {cpus} | {med[h]['cpu_us']:.2f} |")
    print()
    print(f"- throughput on/off: {med[a.history]['rate'] / med[0]['rate']:.3f}; "
          f"master CPU per publish on/off: {med[a.history]['cpu_us'] / med[0]['cpu_us']:.3f}")
    print(f"- history store: {med[a.history]['store_b']:.0f} B per stored message "
          f"({a.size}-byte payloads; {int(med[a.history]['stored']):,} stored); master RSS "
          f"growth per publish: {med[a.history]['rss_b']:.0f} B with history, "
          f"{med[0]['rss_b']:.0f} B without")


REQ = ("GET /storm?format=json&since=storm%3A{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef").decode() +
       "\r\nSec-WebSocket-Version: 13\r\n\r\n")


def storm(port, n, since, replay, box):
    """n clients connect at once with since=; done when each got `replay`
    messages (counted by '"id":' occurrences)."""
    ep = select.epoll()
    socks, got, t0 = {}, {}, time.monotonic()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.bind((f"127.0.9.{1 + i % 200}", 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks[s.fileno()] = s
        got[s.fileno()] = [0, b"", False]
        ep.register(s.fileno(), select.EPOLLOUT)
    done = 0
    while done < n and time.monotonic() - t0 < 120:
        for fd, ev in ep.poll(0.5):
            s, g = socks[fd], got[fd]
            if ev & select.EPOLLOUT and not g[2]:
                s.send(REQ.format(id=since).encode())
                g[2] = True
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                d = s.recv(1 << 16)
            except BlockingIOError:
                continue
            if not d:
                ep.unregister(fd)
                done += 1
                continue
            g[0] += d.count(b'"id":')
            if g[0] >= replay:
                ep.unregister(fd)
                done += 1
    box["storm_s"] = time.monotonic() - t0
    box["complete"] = sum(1 for g in got.values() if g[0] >= replay)
    for s in socks.values():
        s.close()


def bench_run(a, port, admin, dur):
    out = subprocess.run([a.bench, "--url", f"ws://127.0.0.1:{port}/live", "--conns", str(a.live),
                          "--publish-rate", str(a.live_rate), "--topic", "live",
                          "--admin", f"http://127.0.0.1:{admin}", "--duration", f"{dur}s",
                          "--warmup", "3s", "--quiet", "--json", "/dev/stdout"],
                         capture_output=True, text=True)
    return json.loads(out.stdout[out.stdout.index("{"):])


def cmd_storm(a):
    p, port, admin = start(a.bin, ["--workers", "2", "--history-size", str(max(a.replay, 100)),
                                   "--ping-interval", "0", "--max-conns-per-ip", "0"])
    try:
        for i in range(a.replay + 1):  # the first one's id is where the storm resumes from
            req = urllib.request.Request(f"http://127.0.0.1:{admin}/publish/storm",
                                         data=f"s{i}".encode(), method="POST")
            urllib.request.urlopen(req, timeout=10).read()
        # the first id, from the history API
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/history/storm?limit=1",
                                    timeout=10) as r:
            since = json.loads(r.read())["messages"][0]["id"]
        res = {}
        dur = 20
        res["alone"] = bench_run(a, port, admin, dur)
        box = {}

        def later():
            time.sleep(8)  # inside the bench's measured window (warmup 3 s)
            storm(port, a.clients, since, a.replay, box)
        t = threading.Thread(target=later)
        t.start()
        res["storm"] = bench_run(a, port, admin, dur)
        t.join()
    finally:
        p.kill()
        p.wait()
    print(f"`bench/history_bench.py storm --clients {a.clients} --replay {a.replay} "
          f"--live {a.live} --live-rate {a.live_rate}`")
    print()
    print("| run | live latency p50 | p99 | max | delivery ratio |")
    print("| --- | --- | --- | --- | --- |")
    for k in ("alone", "storm"):
        lat = res[k]["latency_us"]
        print(f"| {k} | {lat['p50'] / 1000:.1f} ms | {lat['p99'] / 1000:.1f} ms | "
              f"{lat['max'] / 1000:.1f} ms | {res[k].get('delivery_ratio', 0):.4f} |")
    print()
    print(f"- storm: {a.clients} clients reconnected at once with since=, each replayed "
          f"{a.replay} messages: {box.get('complete')} complete in {box.get('storm_s', 0):.1f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["publish", "storm"])
    ap.add_argument("--bin", default="build/release/wspush")
    ap.add_argument("--bench", default="build/release/wspush-bench")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--history", type=int, default=100)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--replay", type=int, default=50)
    ap.add_argument("--live", type=int, default=2000)
    ap.add_argument("--live-rate", type=int, default=20)
    a = ap.parse_args()
    cmd_publish(a) if a.what == "publish" else cmd_storm(a)


if __name__ == "__main__":
    main()
