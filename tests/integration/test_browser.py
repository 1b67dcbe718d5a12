"""test_browser.py - the web pages in a real browser: the demo page and its
client (web/wspush.js), its SSE mode (EventSource: restart, resume from
history), the admin dashboard (web/dashboard.html), and /wspush.js with
subscriber tokens (getToken, refresh after 4001) on a page served by the
test's own token endpoint (tests/browser/auth_page.html).

Debian's Chromium (/usr/bin/chromium) is driven by playwright-core from npm
(web/node_modules, installed by scripts/setup-web.sh) through the small node
scripts in tests/browser/, which print one JSON object per line. These tests
skip only when Chromium or playwright-core is missing; CI installs both.
Screenshots go to artifacts/ (gitignored).
"""
import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import RawWS, T, wait_until

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"
ARTIFACTS = REPO / "artifacts"
NODE = shutil.which("node") or "/usr/bin/node"
CHROMIUM = os.environ.get("WSPUSH_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = REPO / "web" / "node_modules" / "playwright-core"


def need_browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium, or scripts/setup-web.sh)")
    if not PLAYWRIGHT.is_dir():
        pytest.skip("web/node_modules/playwright-core is missing (npm ci in web/, "
                    "or scripts/setup-web.sh)")


def artifact(name):
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


class NodeScript:
    """A tests/browser/*.mjs script as a child process: JSON lines out,
    go-ahead lines in."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([NODE, str(BROWSER_DIR / script)] + [str(a) for a in args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.stderr = []
        self._t = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)
        self._t.start()

    def event(self, timeout):
        """The next JSON event (fails on EOF, an "error" event or timeout)."""
        box = {}
        t = threading.Thread(target=lambda: box.update(line=self.proc.stdout.readline()),
                             daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self.kill()
            pytest.fail(f"browser script gave no event within {timeout}s; "
                        f"stderr: {''.join(self.stderr)[-3000:]}")
        line = box.get("line", "")
        if not line:
            self.proc.wait(5)
            pytest.fail(f"browser script ended (rc={self.proc.returncode}); "
                        f"stderr: {''.join(self.stderr)[-3000:]}")
        ev = json.loads(line)
        if ev.get("event") == "error":
            pytest.fail(f"browser script failed: {ev['message']}")
        return ev

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.close()

    def finish(self, timeout=30):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        assert self.proc.returncode == 0, ''.join(self.stderr)[-3000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_script(script, *args, timeout=90):
    s = NodeScript(script, *args)
    try:
        ev = s.event(timeout)
        while ev.get("event") != "done":
            ev = s.event(timeout)
        s.finish()
        return ev
    finally:
        s.kill()


def parse_iso_ms(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


# --------------------------------------------------------------------------
# the browser client without a browser


def test_wspush_js_unit():
    """web/wspush.js's backoff, URLs and state machine under node's test
    runner (fake WebSocket and timers)."""
    if not os.path.exists(NODE):
        pytest.skip("node is missing")
    r = subprocess.run([NODE, "--test", str(BROWSER_DIR / "wspush_js.test.mjs")],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "# fail 0" in r.stdout


# --------------------------------------------------------------------------
# the demo page


def test_demo_page_receives_timestamps(wspush):
    need_browser()
    srv = wspush("--workers", "2", "--tick", "200ms")
    s = NodeScript("demo.mjs", f"http://127.0.0.1:{srv.port}/demo", artifact("demo.png"))
    try:
        got = s.event(T(60))
        assert got["event"] == "received"
        assert got["count"] >= 3
        assert got["rows"] >= 3
        assert got["status"].startswith(f"connected to ws://127.0.0.1:{srv.port}/")
        stamps = [parse_iso_ms(t) for t in got["received"]]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        # ages are computed in the browser: small, since the clock is shared
        assert all(a is not None and -1000 < a < 5000 for a in got["ages"]), got["ages"]
        done = s.event(T(30))
        assert done["errors"] == [], done["errors"]
        s.finish()
    finally:
        s.kill()


def test_demo_page_sse_mode_receives_ticks(wspush):
    """/demo?transport=sse: the same ticks over new EventSource(...)."""
    need_browser()
    srv = wspush("--workers", "2", "--tick", "200ms")
    s = NodeScript("demo.mjs", f"http://127.0.0.1:{srv.port}/demo?transport=sse",
                   artifact("demo-sse.png"))
    try:
        got = s.event(T(60))
        assert got["event"] == "received" and got["count"] >= 3
        assert got["status"].startswith(f"connected to http://127.0.0.1:{srv.port}/")
        stamps = [parse_iso_ms(t) for t in got["received"]]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        # the page went through EventSource: its ticks were SSE deliveries
        # (a counter: the script may close the page before stats are read)
        assert srv.stats()["transports"]["sse"]["deliveries"] >= 3
        done = s.event(T(30))
        assert done["errors"] == [], done["errors"]
        s.finish()
    finally:
        s.kill()


def restart_under_page(wspush, transport, shot):
    """Stop the server under /demo (transport "ws" or "sse"), start a new one
    on the same port: the page's client reconnects by itself and new
    timestamps arrive over the same transport."""
    need_browser()
    query, scheme = ("?transport=sse", "http") if transport == "sse" else ("", "ws")
    srv = wspush("--workers", "2", "--tick", "200ms")
    port = srv.port  # bound to port 0 first; the restart reuses the port it got
    s = NodeScript("demo.mjs", f"http://127.0.0.1:{port}/demo{query}", artifact(shot),
                   "--reconnect")
    try:
        first = s.event(T(60))
        assert first["event"] == "received" and first["count"] >= 3
        assert first["status"].startswith(f"connected to {scheme}://127.0.0.1:{port}/")
        assert s.event(T(10))["event"] == "ready"
        assert srv.stop() == 0
        srv2 = wspush("--workers", "2", "--tick", "200ms", "--listen", f"127.0.0.1:{port}")
        assert srv2.port == port
        s.send("restarted")
        done = s.event(T(60))
        assert done["event"] == "done"
        assert done["opens"] >= 2
        assert done["count"] >= done["before"] + 3
        assert done["reconnects"] != "0"
        assert done["status"].startswith(f"connected to {scheme}://127.0.0.1:{port}/")
        assert done["errors"] == [], done["errors"]
        # the timestamps after the restart come from the new server
        stamps = [parse_iso_ms(t) for t in done["received"]]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert stamps[-1] > parse_iso_ms(first["received"][-1])
        srv2.wait_stats(lambda st: st["transports"][transport]["connections"] >= 1,
                        what="the page's connection")
        s.finish()
    finally:
        s.kill()


def test_demo_page_reconnects_after_restart(wspush):
    restart_under_page(wspush, "ws", "demo-reconnect.png")


def test_demo_page_sse_mode_reconnects_after_restart(wspush):
    """The same with /demo?transport=sse: the page's EventSource client
    reconnects by itself (a new EventSource after the error) and ticks arrive
    again, over SSE."""
    restart_under_page(wspush, "sse", "demo-sse-reconnect.png")


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_demo_page_shows_what_it_missed_after_a_dropped_connection(wspush, transport):
    """/demo?topic=news (a WebSocket through /wspush.js with resume: true)
    and /demo?transport=sse&topic=news, with --history-size 100: the server
    drops the connection (its worker is stopped, messages are published,
    then it is SIGKILLed; the master restarts it, history lives in the
    master's shared memory) and the page reconnects by itself with
    since=news:<id> and shows every message published meanwhile, in order,
    exactly once, then the live ones."""
    need_browser()
    srv = wspush("--workers", "1", "--history-size", "100")
    srv.allow_worker_deaths = True  # the test kills the worker on purpose
    msgs = [f"news {i:02d}" for i in range(1, 14)]
    before, missed, after = msgs[:5], msgs[5:10], msgs[10:]
    mode = "transport=sse&" if transport == "sse" else ""
    s = NodeScript("demo_resume.mjs", f"http://127.0.0.1:{srv.port}/demo?{mode}topic=news",
                   artifact(f"demo-{transport}-resume.png"), len(before), len(msgs))
    try:
        assert s.event(T(60))["event"] == "open"
        for m in before:
            srv.admin.publish("news", m)
        got = s.event(T(30))
        assert got["event"] == "received"
        assert got["received"] == before and got["rows"] == before, got
        last_id = got["lastIds"]["news"]
        # the worker cannot deliver while stopped: these are missed for sure
        victim = srv.stats()["workers"][0]["pid"]
        os.kill(victim, signal.SIGSTOP)
        try:
            for m in missed:
                srv.admin.publish("news", m)
        finally:
            os.kill(victim, signal.SIGKILL)  # the stream drops with it
        srv.wait_stats(lambda st: st["workers"][0]["restarts"] == 1 and
                       st["workers"][0]["pid"] not in (0, victim), T(20), "worker restarted")
        reopened = s.event(T(60))
        assert reopened["event"] == "reopened"
        # the page's own reconnect asked from the last id it had seen
        q = parse_qs(urlsplit(reopened["streams"][-1]).query)
        assert q["topic"] == ["news"] and q["since"] == [f"news:{last_id}"], reopened["streams"]
        for m in after:
            srv.admin.publish("news", m)
        done = s.event(T(60))
        assert done["event"] == "done"
        # everything once, in order: the page's state and its table
        assert done["received"] == msgs, done["received"]
        assert done["rows"] == msgs, done["rows"]
        assert done["count"] == len(msgs)
        assert done["opens"] >= 2 and done["reconnects"] != "0"
        scheme = "http" if transport == "sse" else "ws"
        assert done["status"].startswith(f"connected to {scheme}://127.0.0.1:{srv.port}/")
        assert done["errors"] == [], done["errors"]
        assert all(u.startswith(f"{scheme}://127.0.0.1:{srv.port}/?topic=news")
                   for u in done["streams"]), done["streams"]
        # the missed five came from history, not from a live ring
        m = srv.metrics()
        replayed = [ln for ln in m.splitlines() if ln.startswith("wspush_history_replayed_total ")]
        assert replayed and int(float(replayed[0].split()[1])) >= len(missed), replayed
        s.finish()
    finally:
        s.kill()


# --------------------------------------------------------------------------
# the dashboard


def open_clients(srv, n, path="/"):
    clients = [RawWS(srv.port, path) for _ in range(n)]
    srv.wait_connections(n, timeout=T(20))
    return clients


def test_dashboard_renders_live_charts(wspush):
    need_browser()
    srv = wspush("--workers", "2", "--tick", "200ms")
    clients = open_clients(srv, 20)
    stop = threading.Event()

    def publisher():
        while not stop.is_set():
            srv.admin.broadcast("x" * 64)
            stop.wait(0.05)
    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    try:
        ev = run_script("dashboard.mjs", f"http://127.0.0.1:{srv.admin_port}/",
                        artifact("dashboard.png"))
    finally:
        stop.set()
        t.join(5)
        for c in clients:
            c.sock.close()
    a, b = ev["a"], ev["b"]
    assert ev["errors"] == [], ev["errors"]
    assert a["haveChart"] and a["banner"] == "none"
    assert a["charts"] == 6 and a["canvases"] >= 6
    assert all(w > 100 and h > 100 for w, h in a["canvasSizes"])
    # values move over 3 seconds: samples, chart points, headline counters
    assert b["samples"] >= a["samples"] + 2
    assert b["points"] >= a["points"] + 2
    assert a["text"]["v-connections"] == "20"
    assert b["last"]["deliveries"] > a["last"]["deliveries"]
    assert b["text"]["v-ring"] != a["text"]["v-ring"]
    assert b["text"]["uptime"] != a["text"]["uptime"]
    dps = [v for v in b["series"]["dps"][0] if v is not None]
    assert dps and max(dps) > 20, b["series"]["dps"]
    assert b["text"]["v-dps"] not in ("–", "0")
    # the richer live sample: memory and socket figures reach the charts
    last = b["last"]
    assert last["rss_bytes"] > 0 and last["user_bytes_per_conn"] > 0
    assert last["tcp_states_source"] in ("netlink", "proc")
    assert last["tcp_states"]["ESTABLISHED"] >= 20 and last["tcp_states"]["LISTEN"] >= 2
    assert any(v for v in b["series"]["mem"][0] if v), b["series"]["mem"]
    assert any(v for v in b["series"]["tcp"][0] if v), b["series"]["tcp"]
    pids = [w["pid"] for w in last["workers"]]
    assert all(str(p) in b["text"]["s-workers"] for p in pids)


def test_dashboard_without_chart_library(wspush):
    """A binary built without web/node_modules serves no /uplot.js: the page
    says so and still shows live numbers."""
    need_browser()
    srv = wspush("--workers", "1", "--tick", "200ms")
    ev = run_script("dashboard.mjs", f"http://127.0.0.1:{srv.admin_port}/",
                    artifact("dashboard-no-uplot.png"), "--no-uplot")
    a, b = ev["a"], ev["b"]
    assert not a["haveChart"] and a["banner"] == "block"
    assert a["canvases"] == 0
    assert b["samples"] > a["samples"] and b["text"]["v-ring"] != a["text"]["v-ring"]
    assert [e for e in ev["errors"] if "404" not in e] == []


# --------------------------------------------------------------------------
# subscriber tokens (docs/auth.md): getToken and the refresh after 4001


class TokenEndpoint:
    """The application's side, in a thread on 127.0.0.1 port 0: GET / serves
    tests/browser/auth_page.html (wspush's host:port filled in), GET /token
    mints an HS256 token for alice on `topic` with python3-jwt (an
    implementation independent of the server's). The first token expires
    `first_ttl` seconds ahead (whole seconds: the server compares seconds),
    later ones in an hour. `minted` lists (token, exp) in order."""

    def __init__(self, key, wspush_port, topic, first_ttl):
        import http.server
        import time

        import jwt
        page = (BROWSER_DIR / "auth_page.html").read_text().replace(
            "__WSPUSH__", f"127.0.0.1:{wspush_port}").encode()
        self.minted = []
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/token"):
                    with lock:
                        now = int(time.time())
                        exp = now + 1 + first_ttl if not outer.minted else now + 3600
                        tok = jwt.encode({"sub": "alice", "topics": [topic], "exp": exp},
                                         key, "HS256")
                        outer.minted.append((tok, exp))
                    self.reply(tok.encode(), "text/plain")
                elif self.path == "/" or self.path.startswith("/?"):
                    self.reply(page, "text/html; charset=utf-8")
                else:
                    self.send_error(404)

            def reply(self, body, ctype):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._t.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._t.join(5)


def test_token_page_receives_private_topic_and_refreshes_expired_token(wspush, tmp_path):
    """A page of the application (its own origin) loads /wspush.js from
    wspush and connects with getToken fetching from the application's token
    endpoint: it receives the private topic; when its first, short-lived
    token expires the server closes with 4001, /wspush.js fetches a fresh
    token by itself, reconnects and receives what is published next. A page
    without a token is refused (401) and receives nothing."""
    need_browser()
    key = b"browser-test-hmac-key-0123456789-abcdefgh"
    keyfile = tmp_path / "hmac.key"
    keyfile.write_bytes(key + b"\n")
    srv = wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile), "--auth-leeway", "0",
                 "--public-topics", "status")
    app = TokenEndpoint(key, srv.port, "orders-42", first_ttl=max(2, round(T(2))))
    s = NodeScript("auth_demo.mjs", app.url, artifact("auth-demo.png"), int(T(30) * 1000))
    try:
        opened = s.event(T(60))
        assert opened["event"] == "open", opened
        assert opened["openTokens"] == [app.minted[0][0]]  # the short-lived token
        srv.admin.publish("orders-42", "before-expiry")
        reopened = s.event(T(60))
        assert reopened["event"] == "reopened", reopened
        srv.admin.publish("orders-42", "after-expiry")
        done = s.event(T(60))
        assert done["event"] == "done", done
        s.finish()
    finally:
        s.kill()
        app.close()
    tok, none = done["token"], done["none"]
    # the first connection received the private topic, then was closed for expiry
    assert tok["messages"] == ["before-expiry", "after-expiry"], tok
    assert {"code": 4001, "reason": "token expired"} in tok["closes"], tok["closes"]
    assert tok["closes"][0]["code"] == 4001, tok["closes"]
    # ... and /wspush.js fetched a fresh (long-lived) token by itself
    assert tok["tokenFetches"] >= 2 and len(app.minted) >= 2, (tok, app.minted)
    assert tok["openTokens"][0] == app.minted[0][0]
    assert tok["openTokens"][-1] in [t for t, _ in app.minted[1:]]
    assert tok["clientState"] == "open"
    assert done["errors"] == [], done["errors"]
    # the page without a token: every upgrade refused, nothing received
    assert none["opens"] == 0 and none["messages"] == [], none
    assert none["tokenFetches"] == 0 and len(none["closes"]) >= 2
    assert done["noneErrors"] == [], done["noneErrors"]
    st = srv.stats()["auth"]
    assert st["expired"] >= 1, st
    assert st["refused"]["missing"] >= 2, st
    assert st["accepted"] >= 2, st
