"""test_deploy.py - the operator-facing files in deploy/ say only true things.

The Grafana dashboard (deploy/grafana/wspush.json) and the Prometheus alert
rules (deploy/prometheus/wspush-alerts.yml) may use only metrics that a
running wspush really exposes: every metric name in their PromQL is looked
up in a live scrape of a server with Redis, a ticker and clients (so the
metrics exported only in some states are there too). `promtool check rules`
parses the rules and every dashboard query (wrapped as recording rules, with
Grafana's variables substituted), and `promtool test rules` runs the alert
unit tests in deploy/prometheus/wspush-alerts.test.yml. promtool comes from
Debian's `prometheus` package (scripts/setup-web.sh).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import RawWS, T, wait_until

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "wspush.json")
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "wspush-alerts.yml")
ALERT_TESTS = os.path.join(ROOT, "deploy", "prometheus", "wspush-alerts.test.yml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Series Prometheus makes itself for every target, not on /metrics.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "inf", "nan", "atan2"}
# What the issue asks the dashboard and the alerts to show.
DASHBOARD_MUST = {"wspush_connections", "wspush_deliveries_total",
                  "wspush_messages_published_total", "wspush_fanout_duration_seconds_bucket",
                  "wspush_slow_consumer_total", "wspush_ring_lost_total", "wspush_queued_bytes",
                  "wspush_redis_connected", "wspush_worker_restarts_total",
                  "wspush_process_resident_memory_bytes", "wspush_open_files_limit"}
ALERTS_MUST = {"wspush_worker_restarts_total", "wspush_ring_lost_total",
               "wspush_slow_consumer_total", "wspush_redis_connected",
               "wspush_max_connections", "wspush_open_files_limit"}


def need_promtool():
    if not os.path.exists(PROMTOOL):
        pytest.skip("promtool is missing (apt-get install prometheus, or scripts/setup-web.sh)")


def grafana_to_promql(expr):
    """Grafana's variables replaced by values PromQL accepts."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)              # string literals
    e = re.sub(r"\{[^}]*\}", " ", e)                          # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)                          # range selectors
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_names_extractor():
    assert metric_names('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$i"}[5m])))') == {"a_bucket"}
    assert metric_names("(max by (i, j) (a) + on (i, j) b) / on (i) c > 0.9") == {"a", "b", "c"}
    assert metric_names('up{job="wspush"} == 0 or increase(x_total[10m]) > 1e3') == {"up", "x_total"}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    exprs.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"label_values\((\w+)", q or "")
        if m:
            exprs.append((f"variable {v['name']}", m.group(1)))
    assert len(exprs) >= 20, exprs
    return exprs


def alert_exprs():
    """(alert name, expr) of the rules file, read without a YAML library:
    each expr is one line or a folded (>) block."""
    out, name, lines = [], None, open(ALERTS).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- alert:\s*(\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in (">", "|", ">-", "|-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append((name, " ".join(block)))
                continue
            out.append((name, rest))
        i += 1
    assert len(out) >= 6, out
    return out


def test_alert_rules_pass_promtool():
    need_promtool()
    p = subprocess.run([PROMTOOL, "check", "rules", ALERTS], capture_output=True, text=True,
                       timeout=T(60))
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([PROMTOOL, "test", "rules", ALERT_TESTS], capture_output=True, text=True,
                       timeout=T(60))
    assert p.returncode == 0, p.stdout + p.stderr


def test_dashboard_queries_are_valid_promql():
    """Every dashboard query, as a recording rule, through promtool."""
    need_promtool()
    with tempfile.TemporaryDirectory(prefix="wspush-dash-") as d:
        path = os.path.join(d, "dash.yml")
        with open(path, "w") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for k, (title, expr) in enumerate(dashboard_exprs()):
                f.write(f"      - record: dashboard:q{k}\n")
                f.write(f"        expr: {json.dumps(grafana_to_promql(expr))}\n")
        p = subprocess.run([PROMTOOL, "check", "rules", path], capture_output=True, text=True,
                           timeout=T(60))
        assert p.returncode == 0, p.stdout + p.stderr


def scrape_names(text):
    """Sample names and metric family names of a text exposition."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
        if m:
            names.add(m.group(1))
    return names


@pytest.fixture
def full_scrape(wspush):
    """The names on /metrics of a server in the state that exports the most:
    Redis configured and up, clients connected, ticks flowing."""
    from test_redis import REDIS_SERVER, Redis
    if not REDIS_SERVER:
        pytest.skip("redis-server is missing")
    r = Redis()
    r.start()
    try:
        srv = wspush("--workers", "2", "--tick", "100ms", "--redis", f"redis://127.0.0.1:{r.port}")
        clients = [RawWS(srv.port, "/") for _ in range(3)]
        srv.wait_connections(3, timeout=T(20))
        needed = {"wspush_redis_ready 1", "wspush_tcp_sockets{", "wspush_kernel_socket_memory_bytes",
                  "wspush_fanout_duration_seconds_count"}
        text = wait_until(lambda: (lambda t: t if all(n in t for n in needed) else None)(srv.metrics()),
                          T(20), "Redis ready, socket states and a fan-out on /metrics")
        for c in clients:
            c.sock.close()
        yield scrape_names(text)
    finally:
        r.cleanup()


def test_dashboard_and_alerts_use_only_exposed_metrics(full_scrape):
    used_dash = {n for _, e in dashboard_exprs() for n in metric_names(grafana_to_promql(e))}
    used_alerts = {n for _, e in alert_exprs() for n in metric_names(e)}
    missing = sorted((used_dash | used_alerts) - full_scrape - SYNTHETIC)
    assert not missing, f"not on /metrics: {missing}"
    assert DASHBOARD_MUST <= used_dash, sorted(DASHBOARD_MUST - used_dash)
    assert ALERTS_MUST <= used_alerts, sorted(ALERTS_MUST - used_alerts)
    # the extractor found real names, not nothing
    assert len(used_dash) >= 25 and all(n.startswith("wspush_") for n in used_dash)


def test_issue17_admin_healthz_ready_follows_redis(wspush):
    """Issue 17: the admin port's GET /healthz is liveness (always 200) and
    /healthz?ready is 503 until a configured Redis is ready, as on the
    public port, for probes that can reach only the admin port."""
    from test_redis import REDIS_SERVER, Redis
    if not REDIS_SERVER:
        pytest.skip("redis-server is missing")
    r = Redis()  # its port is chosen, the server not started yet
    try:
        srv = wspush("--workers", "1", "--redis", f"redis://127.0.0.1:{r.port}")
        plain = wspush("--workers", "1")  # no Redis: always ready

        def status(s, path):
            return s.admin.request("GET", path).status

        assert status(srv, "/healthz") == 200
        assert status(srv, "/healthz?ready") == 503
        assert status(plain, "/healthz?ready") == 200
        r.start()
        wait_until(lambda: status(srv, "/healthz?ready") == 200, T(20), "admin /healthz?ready 200")
    finally:
        if r.proc:
            r.cleanup()
        else:
            shutil.rmtree(r.dir, ignore_errors=True)


def _exec_start(unit_text):
    line = next(l for l in unit_text.splitlines() if l.startswith("ExecStart="))
    return line[len("ExecStart="):].split()


def test_issue17_systemd_unit_passes_the_installed_config(tmp_path):
    """The unit `wspush tune --emit systemd` prints (deploy/wspush.service)
    and the one the build installs start `serve --config` with the example
    config the install puts in place, and that command line parses."""
    import pathlib
    import subprocess
    from conftest import WSPUSH_BIN
    proc = tmp_path / "proc"
    proc.mkdir()
    out = subprocess.run([WSPUSH_BIN, "tune", "--conns", "1000000", "--proc-root", str(proc),
                          "--emit", "systemd"], capture_output=True, text=True, check=True).stdout
    argv = _exec_start(out)
    assert argv[1:4] == ["serve", "--config", "/etc/wspush/wspush.yaml"], argv
    assert "ExecReload=/bin/kill -HUP $MAINPID" in out
    repo = pathlib.Path(__file__).resolve().parents[2]
    assert (repo / "deploy" / "wspush.service").read_text() == out
    # the command line with the example config: valid, and the file is read
    args = [str(repo / "deploy" / "wspush.yaml") if a == "/etc/wspush/wspush.yaml" else a
            for a in argv[1:]]
    r = subprocess.run([WSPUSH_BIN, *args, "--print-config"], capture_output=True, text=True)
    assert r.returncode == 0 and "\nmax-conns: 1000000\n" in r.stdout, r
    # the unit the build generated for `cmake --install`: BINDIR and SYSCONFDIR
    built = pathlib.Path(WSPUSH_BIN).resolve().parent / "dist" / "wspush.service"
    if built.exists():
        cache = (built.parent.parent / "CMakeCache.txt").read_text()
        prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
        etc = "/etc" if prefix == "/usr" else prefix + "/etc"
        argv = _exec_start(built.read_text())
        assert argv[0] == prefix + "/bin/wspush", argv
        assert argv[1:4] == ["serve", "--config", etc + "/wspush/wspush.yaml"], argv
