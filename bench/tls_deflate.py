#!/usr/bin/python3
"""bench/tls_deflate.py - what wss:// and permessage-deflate cost the server.

Four server configurations side by side, same N connections and R publishes/s:

  plain        ws://,  --deflate off, clients offer no compression
  tls          wss://, --deflate off, clients offer no compression
  deflate      ws://,  --deflate on,  clients offer permessage-deflate
  tls+deflate  wss://, --deflate on,  clients offer permessage-deflate

For each run (fresh server, fresh clients) it measures
  * server CPU-seconds per million deliveries: utime+stime of the master and
    all its children (/proc/<pid>/stat) over the publish window, drain
    included; the clients' CPU is not counted;
  * delivery ratio: messages the clients received intact / (published x N);
  * bytes per delivery: /stats bytes_sent delta / deliveries delta (the
    WebSocket frames the server wrote, before TLS records), and the TCP
    payload actually sent (sum of `ss -ti` bytes_acked of the server's
    sockets, so TLS record overhead included);
  * workers' user-space bytes per connection: sum of the workers' RssAnon
    after N connected and idle, minus before connecting, divided by N.
Runs are interleaved (plain, tls, deflate, tls+deflate, plain, ...) --repeat
times; the table shows medians (and every run's value), printed and appended
to bench/results/tls_deflate.md (gitignored) with the command line.

  --idle-tls-memory N   only the idle-memory figure, for N wss:// connections
                        on ONE worker (--workers 1: the per-process fd limit
                        allows ~19,900).

Clients are python3-websockets (the C wspush-bench speaks neither TLS nor
deflate), spread over several processes (this script re-run with --_client),
each holding at most --per-proc connections.

  /usr/bin/python3 bench/tls_deflate.py -n 1000 --repeat 1     # quick check
  /usr/bin/python3 bench/tls_deflate.py                         # N=4000, R=5, 3 repeats
  /usr/bin/python3 bench/tls_deflate.py --idle-tls-memory 10000
"""
import argparse
import asyncio
import http.client
import json
import os
import platform
import queue
import re
import shlex
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOPIC = "bench"
PREFIX = '{"type":"quotes","seq":'

CONFIGS = {
    # name: (tls, server --deflate, clients offer deflate)
    "plain": (False, "off", False),
    "tls": (True, "off", False),
    "deflate": (False, "on", True),
    "tls+deflate": (True, "on", True),
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# payload: ~1 KiB of quote-like JSON; repetitive keys, so it compresses well
# even with no context carried between messages

SYMS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "AMD", "INTC", "ORCL",
        "IBM", "CSCO", "ADBE", "CRM", "QCOM", "TXN"]


def make_payload(seq, size):
    head = '%s%d,"ts":%d,"items":[' % (PREFIX, seq, int(time.time() * 1000))
    tail_fmt = '],"pad":"%s"}'
    items = []
    i = 0
    while True:
        s = SYMS[(seq + i) % len(SYMS)]
        px = 100 + ((seq * 7 + i * 13) % 5000) / 100
        item = ('{"sym":"%s","bid":%.2f,"ask":%.2f,"qty":%d,"venue":"XNAS"}'
                % (s, px, px + 0.01 * (1 + i % 3), 100 * (1 + (seq + i) % 9)))
        cand = head + ",".join(items + [item]) + tail_fmt % ""
        if len(cand) > size:
            break
        items.append(item)
        i += 1
    body = head + ",".join(items) + tail_fmt % ""
    return head + ",".join(items) + tail_fmt % ("-" * max(0, size - len(body)))


def intact(msg, size):
    return (isinstance(msg, str) and len(msg) == size and msg.startswith(PREFIX)
            and msg.endswith("}"))


# --------------------------------------------------------------------------
# client process (--_client): N websockets connections, counts messages;
# stdout: one JSON line when connected, then one per "count" line on stdin


def client_main(url, n, compress, cafile, conc, size):
    import websockets

    async def run():
        ctx = ssl.create_default_context(cafile=cafile) if url.startswith("wss:") else None
        kw = {"compression": "deflate" if compress else None, "ping_interval": None,
              "ping_timeout": None, "close_timeout": 1, "open_timeout": 60,
              "max_size": 1 << 20}
        if ctx:
            kw["ssl"] = ctx
        counts = [0] * n
        st = {"bad": 0, "closed": 0, "failed": 0, "deflate": 0}
        conns = []
        sem = asyncio.Semaphore(conc)

        async def reader(ws, i):
            try:
                async for m in ws:
                    if intact(m, size):
                        counts[i] += 1
                    else:
                        st["bad"] += 1
            except Exception:
                pass
            st["closed"] += 1

        async def one(i):
            async with sem:
                for attempt in range(6):
                    try:
                        ws = await websockets.connect(url, **kw)
                        break
                    except Exception:
                        await asyncio.sleep(0.2 * (attempt + 1))
                else:
                    st["failed"] += 1
                    return
            ext = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
            if "permessage-deflate" in ext:
                st["deflate"] += 1
            conns.append(ws)
            asyncio.get_running_loop().create_task(reader(ws, i))

        await asyncio.gather(*(one(i) for i in range(n)))
        out = {"connected": len(conns), **st}
        print(json.dumps(out), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            cmd = line.strip()
            if cmd == "count":
                print(json.dumps({"count": sum(counts), "min": min(counts) if counts else 0,
                                  "max": max(counts) if counts else 0, **st}), flush=True)
            else:  # "quit" or EOF: leave without closing handshakes
                sys.stdout.flush()
                os._exit(0)

    asyncio.run(run())


class ClientProc:
    def __init__(self, url, n, compress, cafile, conc, size):
        self.n = n
        self.p = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--_client", url, str(n),
             "1" if compress else "0", cafile or "-", str(conc), str(size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.q = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            self.q.put(json.loads(line))
        self.q.put(None)

    def get(self, timeout):
        try:
            r = self.q.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("client process gave no answer within %.0fs" % timeout)
        if r is None:
            raise RuntimeError("client process exited (rc=%s)" % self.p.wait())
        return r

    def ask(self, cmd, timeout=30):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.get(timeout)

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# --------------------------------------------------------------------------
# server under test


class Server:
    def __init__(self, binary, args, logdir, name):
        self.log_path = os.path.join(logdir, "server-%s.log" % name.replace("+", "-"))
        self.cmd = [binary, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"] + args
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.logf)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 15
        while True:
            text = open(self.log_path).read()
            m = re.search(r"listening on [\d.]+:(\d+), admin on [\d.]+:(\d+)", text)
            if m:
                self.port, self.admin_port = int(m.group(1)), int(m.group(2))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + text[-2000:])
            time.sleep(0.05)
        self.admin = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        self.pub = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        deadline = time.monotonic() + 15
        while True:  # wait for every worker to be up
            try:
                st = self.stats()
                if st["workers"] and all(w.get("pid") for w in st["workers"]):
                    break
            except (OSError, http.client.HTTPException, ValueError):
                self.admin.close()
            if time.monotonic() > deadline:
                raise RuntimeError("server workers did not come up")
            time.sleep(0.05)

    def stats(self):
        self.admin.request("GET", "/stats")
        r = self.admin.getresponse()
        return json.loads(r.read())

    def short_writes(self):
        self.admin.request("GET", "/metrics")
        text = self.admin.getresponse().read().decode()
        m = re.search(r"^wspush_short_writes_total(?:\{[^}]*\})? (\d+)", text, re.M)
        return int(m.group(1)) if m else 0

    def publish(self, body):
        self.pub.request("POST", "/publish/" + TOPIC, body=body.encode(),
                         headers={"Content-Type": "text/plain"})
        r = self.pub.getresponse()
        r.read()
        return r.status == 202

    def worker_pids(self):
        return [w["pid"] for w in self.stats()["workers"]]

    def all_pids(self):
        pids = {self.pid}
        try:
            for tid in os.listdir("/proc/%d/task" % self.pid):
                with open("/proc/%d/task/%s/children" % (self.pid, tid)) as f:
                    pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
        pids.update(self.worker_pids())
        return sorted(pids)

    def cpu_seconds(self):
        total = 0
        for pid in self.all_pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                total += int(rest[11]) + int(rest[12])  # utime, stime
            except OSError:
                pass
        return total / CLK_TCK

    def anon_kb(self):
        total = 0
        for pid in self.worker_pids():
            with open("/proc/%d/status" % pid) as f:
                m = re.search(r"^RssAnon:\s+(\d+) kB", f.read(), re.M)
                total += int(m.group(1))
        return total

    def tcp_bytes_acked(self):
        """Sum of bytes_acked over the server's established sockets."""
        out = subprocess.run(["ss", "-tinH", "state", "established",
                              "( sport = :%d )" % self.port],
                             capture_output=True, text=True).stdout
        return sum(int(x) for x in re.findall(r"bytes_acked:(\d+)", out))

    def stop(self):
        try:
            self.admin.close()
            self.pub.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        text = open(self.log_path).read()
        for bad in ("AddressSanitizer", "runtime error:", "assertion failed", "killed by signal"):
            if bad in text:
                log("WARNING: server log has %r: %s" % (bad, self.log_path))


def make_cert(d):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def warm_up(srv, url, cafile):
    """Opens connections until every worker holds at least one, then closes
    them, before the 'before' memory reading: one-time set-up (a worker's
    first connection pool chunk and arrays, OpenSSL's first handshake) is
    not charged to the measured connections."""
    import websockets

    async def run():
        kw = {"compression": None, "ping_interval": None, "close_timeout": 1}
        if url.startswith("wss:"):
            kw["ssl"] = ssl.create_default_context(cafile=cafile)
        conns = []
        try:
            while len(conns) < 256:
                for _ in range(4):
                    conns.append(await websockets.connect(url, **kw))
                st = srv.stats()
                if all(w["connections"] > 0 for w in st["workers"]):
                    return len(conns)
            raise RuntimeError("warm-up: some worker got no connection of 256")
        finally:
            for ws in conns:
                await ws.close()
    n = asyncio.run(run())
    wait_for(lambda: srv.stats()["connections"] == 0, 10, "warm-up connections to close")
    return n


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def spread(n, per_proc, min_procs):
    procs = max(min_procs, -(-n // per_proc))
    procs = min(procs, n)
    return [n // procs + (1 if i < n % procs else 0) for i in range(procs)]


def connect_clients(srv, url, n, compress, cafile, a):
    shares = spread(n, a.per_proc, a.min_procs)
    t0 = time.monotonic()
    clients = [ClientProc(url, k, compress, cafile, a.connect_concurrency, a.payload)
               for k in shares]
    hello = [c.get(timeout=120 + n / 20) for c in clients]
    connected = sum(h["connected"] for h in hello)
    failed = sum(h["failed"] for h in hello)
    deflated = sum(h["deflate"] for h in hello)
    wait_for(lambda: srv.stats()["connections"] >= connected, 30, "server to count connections")
    log("  %d connected (%d failed, %d with permessage-deflate) over %d processes in %.1fs"
        % (connected, failed, deflated, len(clients), time.monotonic() - t0))
    return clients, connected, failed, deflated


# --------------------------------------------------------------------------
# one run of one configuration


def run_one(name, a, cert, logdir):
    tls, deflate, offer = CONFIGS[name]
    args = ["--workers", str(a.workers), "--ping-interval", "0", "--deflate", deflate]
    if a.deflate_min is not None:
        args += ["--deflate-min", str(a.deflate_min)]
    if tls:
        args += ["--tls-cert", cert[0], "--tls-key", cert[1]]
    srv = Server(a.bin, args, logdir, name)
    clients = []
    try:
        url = "%s://127.0.0.1:%d/%s" % ("wss" if tls else "ws", srv.port, TOPIC)
        a.warm = warm_up(srv, url, cert[0])
        time.sleep(0.5)
        mem0 = srv.anon_kb()
        clients, n, failed, deflated = connect_clients(srv, url, a.n, offer, cert[0], a)
        if offer and deflated != n:
            log("  WARNING: only %d of %d connections negotiated permessage-deflate" % (deflated, n))
        if not offer and deflated:
            log("  WARNING: %d connections negotiated permessage-deflate" % deflated)
        time.sleep(a.settle)
        mem1 = srv.anon_kb()

        # the measured window: publish R/s for D seconds, then drain
        sw0 = srv.short_writes()
        st0, cpu0, wire0 = srv.stats(), srv.cpu_seconds(), srv.tcp_bytes_acked()
        published = 0
        total = int(a.rate * a.duration)
        t0 = time.monotonic()
        for i in range(total):
            delay = t0 + i / a.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            published += srv.publish(make_payload(i, a.payload))
        target = st0["deliveries"] + published * n
        last = [None, time.monotonic()]

        prev_bytes = [None]

        def drained():
            # deliveries are counted when a send is prepared and bytes when it
            # completes (io_uring batches): done once both are still
            # for one poll interval, with nothing queued
            st = srv.stats()
            still = st["bytes_sent"] == prev_bytes[0]
            prev_bytes[0] = st["bytes_sent"]
            if st["deliveries"] >= target and st["queued_bytes"] == 0 and still:
                return st
            key = (st["deliveries"], st["queued_bytes"])
            if key != last[0]:
                last[0], last[1] = key, time.monotonic()
            elif time.monotonic() - last[1] > 5:
                log("  WARNING: server stopped progressing short of its target: %s" % (key,))
                return st
            return None
        st1 = wait_for(drained, 120, "the server to deliver everything", interval=0.25)
        cpu1, wire1 = srv.cpu_seconds(), srv.tcp_bytes_acked()
        window = time.monotonic() - t0
        short = srv.short_writes() - sw0

        # what the clients got
        expected = published * n
        prev = [None, time.monotonic()]

        def received():
            rs = [c.ask("count") for c in clients]
            got = sum(r["count"] for r in rs)
            if got >= expected:
                return rs
            if got != prev[0]:
                prev[0], prev[1] = got, time.monotonic()
            elif time.monotonic() - prev[1] > 3:
                return rs
            return None
        rs = wait_for(received, 60, "the clients to read everything", interval=0.25)
        got = sum(r["count"] for r in rs)
        bad = sum(r["bad"] for r in rs)
        closed = sum(r["closed"] for r in rs)
        deliveries = st1["deliveries"] - st0["deliveries"]
        restarts = sum(w.get("restarts", 0) for w in st1["workers"])
        r = {
            "config": name, "n": n, "failed": failed, "deflate_conns": deflated,
            "published": published, "deliveries": deliveries, "window_s": window,
            "cpu_s": cpu1 - cpu0,
            "cpu_per_m": (cpu1 - cpu0) / deliveries * 1e6 if deliveries else float("nan"),
            "ratio": got / expected if expected else float("nan"),
            "bad": bad, "closed": closed, "restarts": restarts,
            "ws_bytes_per_delivery": (st1["bytes_sent"] - st0["bytes_sent"]) / deliveries
            if deliveries else float("nan"),
            "tcp_bytes_per_delivery": (wire1 - wire0) / deliveries if deliveries else float("nan"),
            "mem_kb": (mem0, mem1),
            "user_bytes_per_conn": (mem1 - mem0) * 1024 / n if n else float("nan"),
            "slow": st1.get("slow_consumer_events", 0) - st0.get("slow_consumer_events", 0),
            "short_writes": short,
            "drain_s": window - (total - 1) / a.rate,
        }
        log("  %-11s cpu %.2fs (%.2f s/M deliveries), ratio %.4f (%d of %d x %d; server "
            "deliveries %d, bytes_sent +%d, TCP +%d), %.0f B/delivery (TCP %.0f), "
            "%.0f B/conn (anon %d -> %d kB), short writes %d, drain %.1fs%s"
            % (name, r["cpu_s"], r["cpu_per_m"], r["ratio"], got, published, n, deliveries,
               st1["bytes_sent"] - st0["bytes_sent"], wire1 - wire0, r["ws_bytes_per_delivery"],
               r["tcp_bytes_per_delivery"], r["user_bytes_per_conn"], mem0, mem1, short, r["drain_s"],
               "" if not (bad or closed or restarts or r["slow"]) else
               "  [bad %d, closed %d, restarts %d, slow-consumer %d]"
               % (bad, closed, restarts, r["slow"])))
        return r
    finally:
        for c in clients:
            c.quit()
        srv.stop()


# --------------------------------------------------------------------------
# reporting


def med(vals, fmt):
    vals = [v for v in vals if v == v]
    if not vals:
        return "–"
    m = fmt % statistics.median(vals)
    if len(vals) == 1:
        return "**%s**" % m
    return "**%s** (%s)" % (m, ", ".join(fmt % v for v in vals))


def machine():
    try:
        model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except Exception:
        model = "?"
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    return "%d CPUs (%s), Linux %s, wspush %s" % (os.cpu_count(), model, platform.release(), rev)


def emit(text, out):
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(text + "\n")


def report_four_way(results, a, started, out):
    by = {}
    for r in results:
        by.setdefault(r["config"], []).append(r)
    base = by.get("plain")
    base_cpu = statistics.median(r["cpu_per_m"] for r in base) if base else None
    lines = [
        "", "## TLS / permessage-deflate, %s UTC" % started.strftime("%Y-%m-%d %H:%M"), "",
        "`%s`" % " ".join(shlex.quote(x) for x in ["/usr/bin/python3", "bench/tls_deflate.py"]
                           + sys.argv[1:]), "",
        "N=%d connections on topic `%s`, %g publishes/s of a %d-byte JSON text for %gs "
        "(%d messages) per run, --workers %d, --ping-interval 0, %d run(s) per configuration "
        "interleaved; medians, every run in parentheses. %s."
        % (a.n, TOPIC, a.rate, a.payload, a.duration, int(a.rate * a.duration), a.workers,
           a.repeat, machine()),
        "",
        "| config | server CPU-s / 1M deliveries | vs plain | delivery ratio "
        "| WS bytes / delivery | TCP bytes / delivery | worker user bytes / conn "
        "| short writes (% of deliveries) | drain after last publish (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in CONFIGS:
        rs = by.get(name)
        if not rs:
            continue
        cpu = statistics.median(r["cpu_per_m"] for r in rs)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, med([r["cpu_per_m"] for r in rs], "%.2f"),
            "%.2f×" % (cpu / base_cpu) if base_cpu else "–",
            med([r["ratio"] for r in rs], "%.4f"),
            med([r["ws_bytes_per_delivery"] for r in rs], "%.0f"),
            med([r["tcp_bytes_per_delivery"] for r in rs], "%.0f"),
            med([r["user_bytes_per_conn"] for r in rs], "%.0f"),
            med([100.0 * r["short_writes"] / r["deliveries"] if r["deliveries"] else float("nan")
                 for r in rs], "%.2f"),
            med([r["drain_s"] for r in rs], "%.1f")))
    issues = [r for r in results if r["failed"] or r["bad"] or r["closed"] or r["restarts"]
              or r["slow"]]
    lines.append("")
    lines.append("CPU = utime+stime of master and workers over the publish window and its "
                 "drain; WS bytes = /stats bytes_sent (frames, before TLS); TCP bytes = "
                 "sum of `ss -ti` bytes_acked of the server's sockets; user bytes = workers' "
                 "RssAnon after N idle connections minus before (read after warm-up "
                 "connections had reached every worker and closed), / N. Short writes (output "
                 "left queued because a client's socket was full) and a long drain mean the "
                 "clients fell behind, which changes what the server does per delivery. "
                 "Total time %.0fs."
                 % (time.monotonic() - a.t_start))
    for r in issues:
        lines.append("* %s: failed connects %d, bad messages %d, closed %d, worker restarts "
                     "%d, slow-consumer events %d" % (r["config"], r["failed"], r["bad"],
                                                      r["closed"], r["restarts"], r["slow"]))
    emit("\n".join(lines), out)


def idle_tls_memory(a, cert, logdir, started, out):
    n = a.idle_tls_memory
    rows = []
    for rep in range(a.repeat):
        log("idle TLS memory, run %d/%d: %d connections on one worker" % (rep + 1, a.repeat, n))
        args = ["--workers", "1", "--ping-interval", "0", "--tls-cert", cert[0],
                "--tls-key", cert[1]]
        srv = Server(a.bin, args, logdir, "idle-tls")
        clients = []
        try:
            url = "wss://127.0.0.1:%d/" % srv.port
            a.warm = warm_up(srv, url, cert[0])
            time.sleep(0.5)
            mem0 = srv.anon_kb()
            clients, got, failed, deflated = connect_clients(srv, url, n, a.offer_deflate,
                                                             cert[0], a)
            time.sleep(a.settle)
            mem1 = srv.anon_kb()
            rows.append((got, failed, mem0, mem1, (mem1 - mem0) * 1024 / got))
            log("  anon %d -> %d kB: %.0f B/conn" % (mem0, mem1, rows[-1][4]))
        finally:
            for c in clients:
                c.quit()
            srv.stop()
    lines = [
        "", "## Idle wss:// memory, %s UTC" % started.strftime("%Y-%m-%d %H:%M"), "",
        "`%s`" % " ".join(shlex.quote(x) for x in ["/usr/bin/python3", "bench/tls_deflate.py"]
                           + sys.argv[1:]), "",
        "`wspush serve --workers 1 --ping-interval 0 --tls-cert ... --tls-key ...` (RSA 2048, "
        "self-signed), N idle wss:// connections%s from %d client processes; the worker's "
        "RssAnon after minus before (read after a few warm-up connections had come and "
        "gone), / N. %s."
        % (" offering permessage-deflate" if a.offer_deflate else "",
           len(spread(n, a.per_proc, a.min_procs)), machine()),
        "",
        "| connections | worker anon RSS before → after (kB) | user bytes per connection |",
        "| --- | --- | --- |",
    ]
    for got, failed, m0, m1, b in rows:
        lines.append("| %d%s | %d → %d | %.0f |" % (got, " (%d failed)" % failed if failed else "",
                                                   m0, m1, b))
    lines.append("| **median** | | **%.0f** |" % statistics.median(r[4] for r in rows))
    lines.append("")
    lines.append("Total time %.0fs." % (time.monotonic() - a.t_start))
    emit("\n".join(lines), out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_client":
        url, n, compress, cafile, conc, size = sys.argv[2:8]
        client_main(url, int(n), compress == "1", None if cafile == "-" else cafile,
                    int(conc), int(size))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--conns", dest="n", type=int, default=4000,
                   help="connections per run (default 4000)")
    p.add_argument("-r", "--rate", type=float, default=5, help="publishes per second (default 5)")
    p.add_argument("-d", "--duration", type=float, default=20,
                   help="seconds of publishing per run (default 20)")
    p.add_argument("--repeat", type=int, default=3, help="runs per configuration (default 3)")
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help="comma-separated subset of " + ", ".join(CONFIGS))
    p.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    p.add_argument("--payload", type=int, default=1024, help="message bytes (default 1024)")
    p.add_argument("--deflate-min", type=int, default=None,
                   help="pass --deflate-min to the server (default: the server's, 128)")
    p.add_argument("--per-proc", type=int, default=1000,
                   help="connections per client process at most (default 1000; "
                   "2500 for --idle-tls-memory)")
    p.add_argument("--min-procs", type=int, default=2, help="client processes at least (2)")
    p.add_argument("--connect-concurrency", type=int, default=50,
                   help="handshakes in flight per client process (default 50)")
    p.add_argument("--settle", type=float, default=2,
                   help="seconds idle after connecting before the memory reading (2)")
    p.add_argument("--idle-tls-memory", type=int, metavar="N",
                   help="only measure worker bytes per idle wss:// connection at N connections")
    p.add_argument("--offer-deflate", action="store_true",
                   help="with --idle-tls-memory: clients offer permessage-deflate")
    p.add_argument("--bin", default=str(REPO / "build" / "release" / "wspush"))
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "tls_deflate.md"),
                   help="markdown file the table is appended to ('' = none)")
    a = p.parse_args()
    a.t_start = time.monotonic()
    if a.idle_tls_memory and "--per-proc" not in sys.argv:
        a.per_proc = 2500
    if not os.access(a.bin, os.X_OK):
        sys.exit("%s is missing: scripts/build.sh release" % a.bin)
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="tls_deflate.") as d:
        cert = make_cert(d)
        if a.idle_tls_memory:
            idle_tls_memory(a, cert, d, started, a.out)
            return
        names = [c.strip() for c in a.configs.split(",") if c.strip()]
        for c in names:
            if c not in CONFIGS:
                sys.exit("unknown config %r (known: %s)" % (c, ", ".join(CONFIGS)))
        log("payload: %d bytes, zlib -9 raw: %d bytes" % (
            a.payload, len(__import__("zlib").compress(make_payload(1, a.payload).encode()))))
        results = []
        for rep in range(a.repeat):
            for name in names:
                log("run %d/%d: %s, N=%d" % (rep + 1, a.repeat, name, a.n))
                results.append(run_one(name, a, cert, d))
        report_four_way(results, a, started, a.out)


if __name__ == "__main__":
    main()
