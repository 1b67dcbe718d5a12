"""test_prometheus.py - /metrics against the real Prometheus tools.

`promtool check metrics` lints a scrape taken under load (clients connected,
ticks and publishes flowing); a real `prometheus` server, with its own
config and storage in a temporary directory, scrapes the admin port every
second and is queried back through its HTTP API until it reports the number
of open test clients. Both tools come from Debian's `prometheus` package
(scripts/setup-web.sh installs it); the tests skip only when it is missing.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import RawWS, T, wait_until

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def need(tool):
    if not os.path.exists(tool):
        pytest.skip(f"{tool} is missing (apt-get install prometheus, or scripts/setup-web.sh)")


PROM_LISTEN_RE = re.compile(r'msg="Listening on" address=127\.0\.0\.1:(\d+)')


class Load:
    """n open clients plus a publisher thread broadcasting every 20 ms."""

    def __init__(self, srv, n):
        self.srv = srv
        self.clients = [RawWS(srv.port, "/" if i % 2 else "/news") for i in range(n)]
        srv.wait_connections(n, timeout=T(20))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)
        self.thread.start()

    def _publish(self):
        from conftest import Admin
        admin = Admin(self.srv.admin_port)  # its own connection: not shared across threads
        try:
            while not self.stop.is_set():
                admin.publish("news", "hello")
                self.stop.wait(0.02)
        finally:
            admin.close()

    def close(self, k=None):
        """Closes k clients (all by default)."""
        k = len(self.clients) if k is None else k
        for c in self.clients[:k]:
            c.sock.close()
        self.clients = self.clients[k:]

    def finish(self):
        self.stop.set()
        self.thread.join(T(10))
        self.close()


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = rx.match(line)
        assert m, f"unparsable sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def test_promtool_check_metrics_under_load(wspush):
    need(PROMTOOL)
    srv = wspush("--workers", "2", "--tick", "100ms")
    load = Load(srv, 24)
    try:
        srv.wait_stats(lambda s: s["deliveries"] > 100 and s["published"]["tick"] > 3,
                       what="deliveries and ticks flowing")
        # the socket state counts come from a helper thread: wait for them
        text = wait_until(lambda: (lambda t: "wspush_tcp_sockets{" in t and t)(srv.metrics()),
                          T(10), "wspush_tcp_sockets in /metrics")
    finally:
        load.finish()
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        f"promtool check metrics failed (rc={r.returncode}):\n{r.stdout}\n{r.stderr}"

    m = parse_metrics(text)
    assert sum(v for (n, _), v in m.items() if n == "wspush_connections") == 24
    assert m[("wspush_process_resident_memory_bytes", frozenset())] > 1e6
    # the one definition (metrics/procfs.h): anonymous RSS per connection, no
    # idle sample here, so all of it; below VmRSS, which adds file-backed pages
    per_conn = m[("wspush_user_bytes_per_connection", frozenset())]
    assert 0 < per_conn < m[("wspush_process_resident_memory_bytes", frozenset())] / 24
    assert m[("wspush_kernel_socket_memory_bytes", frozenset())] >= 0
    states = {dict(lb)["state"]: v for (n, lb), v in m.items() if n == "wspush_tcp_sockets"}
    assert {"established", "time_wait", "close_wait", "syn_recv", "listen"} <= set(states)
    # host-wide counts: at least our clients' two ends and the server's listeners
    assert states["established"] >= 2 * 24
    assert states["listen"] >= 3
    assert m[("wspush_deliveries_total", frozenset())] > 100


def test_prometheus_scrapes_the_admin_port(wspush, tmp_path):
    need(PROMETHEUS)
    srv = wspush("--workers", "2", "--tick", "200ms")
    load = Load(srv, 12)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: wspush\n"
        "    scrape_interval: 1s\n"
        "    scrape_timeout: 900ms\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{srv.admin_port}']\n")
    log = open(tmp_path / "prometheus.log", "w")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             "--web.listen-address=127.0.0.1:0",
                             "--storage.tsdb.retention.time=1h"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def bound_port():
        if prom.poll() is not None:
            pytest.fail(f"prometheus exited (rc={prom.returncode}):\n"
                        f"{(tmp_path / 'prometheus.log').read_text()[-4000:]}")
        m = PROM_LISTEN_RE.search((tmp_path / "prometheus.log").read_text())
        return int(m.group(1)) if m else None

    port = None

    def query(q):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.load(r)
        except OSError:
            if prom.poll() is not None:
                pytest.fail(f"prometheus exited (rc={prom.returncode}):\n"
                            f"{(tmp_path / 'prometheus.log').read_text()[-4000:]}")
            return None
        assert body["status"] == "success", body
        res = body["data"]["result"]
        return float(res[0]["value"][1]) if res else None

    try:
        # it binds port 0 and logs the port it got
        port = wait_until(bound_port, T(30), "prometheus to log its port")
        wait_until(lambda: query("sum(wspush_connections)") == 12, T(60),
                   "Prometheus to report 12 connections", interval=0.5)
        # it follows changes: close 5 clients
        load.close(5)
        srv.wait_connections(7)
        wait_until(lambda: query("sum(wspush_connections)") == 7, T(30),
                   "Prometheus to report 7 connections", interval=0.5)
        # the counters and the new gauges are scraped too
        for q, ok in (("rate(wspush_deliveries_total[5s])", lambda v: v > 0),
                      ("wspush_process_resident_memory_bytes", lambda v: v > 1e6),
                      ('wspush_tcp_sockets{state="established"}', lambda v: v >= 7),
                      ('up{job="wspush"}', lambda v: v == 1)):
            wait_until(lambda: (lambda v: v is not None and ok(v))(query(q)), T(30),
                       f"Prometheus query {q} to look right", interval=0.5)
    except BaseException:
        # shown by pytest with the failure
        print("prometheus log:\n" + (tmp_path / "prometheus.log").read_text()[-4000:])
        print("server log:\n" + srv.log()[-4000:])
        raise
    finally:
        load.finish()
        prom.terminate()
        try:
            prom.wait(T(20))
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()
