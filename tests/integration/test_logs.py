"""test_logs.py - --log-format json and --access-log (issue 17).

Every line the server writes to stderr must parse on its own with Python's
json module - while a few hundred clients connect (each logged by the
access log) and while a worker is SIGKILLed and restarted - and carry the
stable fields (ts RFC 3339 UTC with ms, level, pid, role, msg)."""
import asyncio
import json
import os
import re
import signal
import subprocess

from conftest import WSPUSH_BIN, Swarm, T, http_get

TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def parse_lines(text):
    objs = []
    for line in text.splitlines():
        o = json.loads(line)  # raises on any line that is not one JSON object
        assert isinstance(o, dict), line
        assert TS_RE.fullmatch(o["ts"]), o
        assert o["level"] in ("error", "warn", "info", "debug"), o
        assert isinstance(o["pid"], int) and o["role"] in ("master", "worker"), o
        assert isinstance(o["msg"], str), o
        if o["role"] == "worker":
            assert isinstance(o["worker"], int), o
        objs.append(o)
    return objs


def test_json_logs_parse_under_load_and_worker_crash(wspush):
    srv = wspush("--workers", "2", "--log-format", "json", "--access-log", "on",
                 "--allow-origin", "https://ok.example")
    srv.allow_worker_deaths = True
    n = 300

    async def run():
        sw = await Swarm.connect(srv.ws_url("/news?topic=sport&token=s3cret"), n,
                                 origin="https://ok.example")
        try:
            st = srv.wait_connections(n, T(30))
            victim = st["workers"][0]
            mark = srv.log_mark()
            os.kill(victim["pid"], signal.SIGKILL)
            srv.wait_for_log(rf"worker 0 \(pid {victim['pid']}\) killed by signal 9",
                             T(10), start=mark)
            srv.wait_stats(lambda s: s["workers"][0]["pid"] not in (victim["pid"], 0),
                           T(10), "worker 0 restarted")
            # more handshakes after the restart, some refused
            extra = await Swarm.connect(srv.ws_url("/after"), 50, origin="https://ok.example")
            await extra.close()
        finally:
            await sw.close()
    asyncio.run(run())
    r = http_get(srv.port, "/x", {"Upgrade": "websocket", "Connection": "Upgrade",
                                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                  "Sec-WebSocket-Version": "13",
                                  "Origin": "https://evil.example"})
    assert r.status == 403
    srv.wait_for_log(r'"handshake refused".*"status":403')
    srv.stop()
    objs = parse_lines(srv.log())
    acc = [o for o in objs if o.get("event") == "handshake"]
    ok = [o for o in acc if o["status"] == 101]
    assert len(ok) == n + 50, len(ok)
    assert all(o["msg"] == "handshake accepted" and o["peer"].startswith("127.0.0.1:")
               for o in ok)
    assert {o["path"] for o in ok} == {"/news", "/after"}
    assert {o["topics"] for o in ok if o["path"] == "/news"} == {"sport"}
    bad = [o for o in acc if o["status"] == 403]
    assert len(bad) == 1 and bad[0]["msg"] == "handshake refused" and bad[0]["reason"], bad
    assert "s3cret" not in srv.log()  # the query's other parameters are never logged
    assert any(o["role"] == "master" and "killed by signal 9" in o["msg"] for o in objs)


def test_access_log_off_by_default_and_text_format(wspush):
    srv = wspush("--workers", "1")
    assert http_get(srv.port, "/x", {"Upgrade": "websocket", "Connection": "Upgrade"}).status
    srv.stop()
    assert "handshake" not in srv.log()
    assert re.match(r"\d{4}-\d\d-\d\dT\S+Z info  \[master\] wspush ", srv.log())


def test_errors_share_one_prefix():
    for args in (["serve", "--bogus"], ["serve", "--tick", "x"], ["serve", "--log-format", "xml"],
                 ["publish"], ["frobnicate"]):
        r = subprocess.run([WSPUSH_BIN, *args], capture_output=True, text=True, timeout=T(10))
        assert r.returncode == 2, (args, r)
        assert r.stderr.startswith("wspush: error: "), (args, r.stderr)


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


def test_issue17_access_log_has_every_refusal_without_secrets(wspush, tmp_path):
    """Refusals decided by the token check (missing, malformed, expired, bad
    signature, topic not granted), by the SSE origin check and by the per-IP
    limit are all in the access log, with their reason and never the token."""
    import time
    import jwt
    secret = b"access-log-test-hmac-key-0123456789-abcdef"
    key = tmp_path / "hmac.key"
    key.write_bytes(secret + b"\n")
    srv = wspush("--workers", "1", "--log-format", "json", "--access-log", "on",
                 "--auth-hmac-key-file", str(key), "--public-topics", "lobby",
                 "--allow-origin", "https://ok.example")
    now = int(time.time())
    good = jwt.encode({"exp": now + 3600, "topics": ["a"]}, secret, "HS256")
    expired = jwt.encode({"exp": now - 3600, "topics": ["a"]}, secret, "HS256")
    forged = jwt.encode({"exp": now + 3600, "topics": ["a"]}, b"x" * 40, "HS256")
    cases = [  # (path, expected status, expected reason part)
        ("/a", 401, "required"),
        ("/a?token=not.a-token", 401, ""),
        ("/a?token=" + expired, 401, "expired"),
        ("/a?token=" + forged, 401, "signature"),
        ("/b?token=" + good, 403, ""),
    ]
    for path, status, _ in cases:
        assert http_get(srv.port, path, dict(UPGRADE, Origin="https://ok.example")).status == status
    # SSE from an origin not allowed
    assert http_get(srv.port, "/lobby", {"Accept": "text/event-stream",
                                         "Origin": "https://evil.example"}).status == 403
    srv.stop()
    acc = [o for o in parse_lines(srv.log()) if o.get("event") == "handshake"]
    refused = [o for o in acc if o["status"] != 101]
    assert all(o["msg"] == "handshake refused" and o["reason"] for o in refused), refused
    got = [(o["path"], o["status"]) for o in refused]
    want = [(p.split("?")[0], s) for p, s, _ in cases] + [("/lobby", 403)]
    assert got == want, got
    for o, (_, _, part) in zip(refused, cases):
        assert part in o["reason"], (o, part)
    assert refused[5]["reason"].startswith("origin"), refused[5]
    for t in (good, expired, forged, "not.a-token"):
        assert t not in srv.log()


def test_issue17_access_log_has_per_ip_refusals(wspush):
    """A connection refused by --max-conns-per-ip (429 before its request is
    read) is in the access log with its peer and reason."""
    from conftest import RawWS
    srv = wspush("--workers", "1", "--log-format", "json", "--access-log", "on",
                 "--max-conns-per-ip", "1")
    held = RawWS(srv.port, "/lobby", timeout=T(10))
    srv.wait_connections(1)
    assert http_get(srv.port, "/lobby", UPGRADE).status == 429
    srv.wait_for_log(r'"status":429')
    held.shutdown()
    srv.stop()
    acc = [o for o in parse_lines(srv.log()) if o.get("event") == "handshake"]
    refused = [o for o in acc if o["status"] == 429]
    assert len(refused) == 1, acc
    assert refused[0]["msg"] == "handshake refused" and "too many" in refused[0]["reason"]
    assert refused[0]["peer"].startswith("127.0.0.1:"), refused[0]


def test_issue17_log_level_per_subsystem(wspush):
    """--log-level info,http=warn silences the access log (subsystem http)
    and nothing else; error,core=info,http=info keeps it, tagged."""
    srv = wspush("--workers", "1", "--log-format", "json", "--access-log", "on",
                 "--log-level", "info,http=warn")
    assert http_get(srv.port, "/x", dict(UPGRADE, Origin="https://a")).status == 101
    srv.wait_connections(0)
    srv.stop()
    objs = parse_lines(srv.log())
    assert not [o for o in objs if o.get("event") == "handshake"], objs
    assert any(o["msg"] == "stopped" for o in objs)  # core still at info

    srv = wspush("--workers", "1", "--log-format", "json", "--access-log", "on",
                 "--log-level", "error,core=info,http=info")
    assert http_get(srv.port, "/x", UPGRADE).status == 101
    srv.wait_for_log(r'"handshake accepted"')
    srv.stop()
    acc = [o for o in parse_lines(srv.log()) if o.get("event") == "handshake"]
    assert len(acc) == 1 and acc[0]["subsystem"] == "http", acc


def test_issue17_log_level_unknown_subsystem_is_an_error():
    r = subprocess.run([WSPUSH_BIN, "serve", "--log-level", "info,tsl=debug"],
                       capture_output=True, text=True, timeout=T(10))
    assert r.returncode == 2, r
    assert r.stderr.startswith("wspush: error: --log-level: unknown subsystem 'tsl' "
                               "(did you mean 'tls'?"), r.stderr
    r = subprocess.run([WSPUSH_BIN, "serve", "--help"], capture_output=True, text=True,
                       timeout=T(10))
    assert "info,tls=debug,redis=warn" in r.stdout
