"""The admin API's statuses (202, 400, 401, 404, 405, 411, 413), the
bearer token, /stats and /metrics shape, and the `wspush publish` CLI."""
import json
import subprocess

import pytest

from conftest import OP_BINARY, OP_TEXT, T, WSPUSH_BIN, RawWS, http_raw

TOKEN = "s3cret-t0ken"
MAX_MESSAGE = 65536


@pytest.fixture(scope="module")
def srv(wspush_module):
    return wspush_module("--workers", "2", "--publish-token", TOKEN,
                         "--max-message", str(MAX_MESSAGE), token=TOKEN)


def raw(srv, head, body=b""):
    return http_raw(srv.admin_port, head.encode() + body)


def test_right_token_202(srv):
    r = srv.admin.request("POST", "/publish/news", "hello")
    assert r.status == 202, r
    j = r.json()
    assert set(j) == {"topic", "seq", "subscribers_notified"}
    assert j["topic"] == "news" and isinstance(j["seq"], int)
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x", TOKEN[:-1]])
@pytest.mark.parametrize("method,path", [("POST", "/publish/news"), ("POST", "/broadcast"),
                                         ("GET", "/stats"), ("GET", "/metrics")])
def test_missing_or_wrong_token_401(srv, token, method, path):
    r = srv.admin.request(method, path, "x" if method == "POST" else None, token=token)
    assert r.status == 401, r
    assert "bearer" in r.headers.get("www-authenticate", "").lower()


def test_token_scheme_must_be_bearer(srv):
    r = srv.admin.request("POST", "/publish/news", "x", token="",
                          headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status == 401


def test_unauthorized_publish_is_not_delivered(srv):
    with RawWS(srv.port, "/secret") as ws:
        srv.wait_stats(lambda s: s["connections"] >= 1)
        assert srv.admin.request("POST", "/publish/secret", "leak", token="bad").status == 401
        srv.admin.publish("secret", "ok")
        assert ws.recv_frame().payload == b"ok"  # the 401 one never came


@pytest.mark.parametrize("path", ["/publish/a%20b", "/publish/", "/publish/" + "t" * 129,
                                  "/publish/a%00b", "/publish/tab%09"])
def test_bad_topic_400(srv, path):
    r = srv.admin.request("POST", path, "x")
    assert r.status == 400, (path, r)


def test_topic_of_128_bytes_ok(srv):
    assert srv.admin.request("POST", "/publish/" + "t" * 128, "x").status == 202


def test_invalid_utf8_text_400(srv):
    for body in (b"\xff", b"ok\xc0\xaf", b"\xed\xa0\x80", b"trunc\xe2\x82"):
        r = srv.admin.request("POST", "/publish/news", body, {"Content-Type": "text/plain"})
        assert r.status == 400, (body, r)
    # no Content-Type at all is text too
    r = raw(srv, f"POST /publish/news HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Content-Length: 1\r\nConnection: close\r\n\r\n", b"\xff")
    assert r.status == 400, r
    # the same bytes as binary are fine
    r = srv.admin.request("POST", "/publish/news", b"\xff",
                          {"Content-Type": "application/octet-stream"})
    assert r.status == 202, r


def test_unknown_path_404(srv):
    for method, path in (("GET", "/nothing"), ("POST", "/publish"), ("GET", "/stats/x"),
                         ("POST", "/nothing")):
        r = srv.admin.request(method, path, "x" if method == "POST" else None)
        assert r.status == 404, (method, path, r)


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/publish/news", "POST"), ("PUT", "/publish/news", "POST"),
    ("GET", "/broadcast", "POST"), ("DELETE", "/broadcast", "POST"),
    ("POST", "/stats", "GET"), ("POST", "/metrics", "GET"),
])
def test_wrong_method_405(srv, method, path, allow):
    r = srv.admin.request(method, path, "x" if method in ("POST", "PUT") else None)
    assert r.status == 405, r
    assert allow in r.headers.get("allow", ""), r.headers


def test_chunked_411(srv):
    r = raw(srv, f"POST /publish/news HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n")
    assert r.status == 411, r


def test_too_large_413(srv):
    # refused from the Content-Length alone, before the body is read
    r = raw(srv, f"POST /publish/news HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
                 f"Content-Length: {MAX_MESSAGE + 1}\r\n\r\n", b"x" * 1000)
    assert r.status == 413, r
    # and with the whole body sent
    r = srv.admin.request("POST", "/publish/news", b"x" * (MAX_MESSAGE + 1))
    assert r.status == 413, r
    # exactly the limit is fine
    r = srv.admin.request("POST", "/publish/news", b"x" * MAX_MESSAGE)
    assert r.status == 202, r


@pytest.mark.parametrize("cl", ["abc", "-1", "1 2", "99999999999999999999999999999999"])
def test_bad_content_length_400(srv, cl):
    r = raw(srv, f"POST /publish/news HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
                 f"Content-Length: {cl}\r\n\r\n")
    assert r.status in (400, 413), r


def test_two_content_lengths_400(srv):
    r = raw(srv, f"POST /publish/news HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Content-Length: 1\r\nContent-Length: 1\r\n\r\n", b"x")
    assert r.status == 400, r


def test_garbage_request_400(srv):
    r = http_raw(srv.admin_port, b"NOT HTTP AT ALL\r\n\r\n")
    assert r.status == 400, r


def test_admin_survives_errors_and_keeps_serving(srv):
    for _ in range(3):
        http_raw(srv.admin_port, b"GARBAGE\r\n\r\n")
    assert srv.admin.request("GET", "/stats").status == 200


def test_stats_shape(srv):
    st = srv.stats()
    for key in ("connections", "workers", "deliveries", "published", "ring", "slow",
                "queued_bytes"):
        assert key in st, key
    assert len(st["workers"]) == 2
    for w in st["workers"]:
        assert {"id", "pid", "connections", "deliveries"} <= set(w)
    assert {"close", "drop", "latest"} <= set(st["slow"])
    assert st["published"]["http"] >= 1


def test_metrics_exposition(srv):
    text = srv.metrics()
    assert "# TYPE wspush_connections gauge" in text
    assert "wspush_deliveries_total" in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_labels, _, value = line.rpartition(" ")
            float(value)  # every sample has a numeric value
            assert name_labels.startswith("wspush_"), line


def run_cli(srv, *args, stdin=None, token=TOKEN):
    cmd = [WSPUSH_BIN, "publish", "--admin", f"http://127.0.0.1:{srv.admin_port}"]
    if token is not None:
        cmd += ["--token", token]
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, timeout=T(10))


def test_publish_cli(srv):
    with RawWS(srv.port, "/cli") as ws:
        srv.wait_stats(lambda s: s["connections"] >= 1)
        r = run_cli(srv, "cli", "from the cli")
        assert r.returncode == 0, r
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"from the cli")
        # the message from standard input
        r = run_cli(srv, "cli", stdin=b"from stdin")
        assert r.returncode == 0, r
        assert ws.recv_frame().payload == b"from stdin"
        r = run_cli(srv, "--binary", "cli", stdin=b"\x00\xff")
        assert r.returncode == 0, r
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b"\x00\xff")
        r = run_cli(srv, "--broadcast", "to all")
        assert r.returncode == 0, r
        assert ws.recv_frame().payload == b"to all"
        # the server's answer is printed
        r = run_cli(srv, "cli", "again")
        assert r.returncode == 0
        j = json.loads(r.stdout.decode().strip().splitlines()[-1])
        assert j["topic"] == "cli" and j["subscribers_notified"] == 1
        assert ws.recv_frame().payload == b"again"


def test_publish_cli_errors(srv):
    r = run_cli(srv, "cli", "x", token="wrong")
    assert r.returncode != 0, r
    assert b"401" in r.stderr or b"token" in r.stderr.lower(), r
    r = run_cli(srv, "bad topic", "x")
    assert r.returncode != 0, r
    r = subprocess.run([WSPUSH_BIN, "publish", "--admin", "http://127.0.0.1:1", "t", "x"],
                       capture_output=True, timeout=T(10))
    assert r.returncode != 0, r


def test_publish_cli_token_from_env(srv):
    import os
    env = dict(os.environ, WSPUSH_PUBLISH_TOKEN=TOKEN)
    r = subprocess.run([WSPUSH_BIN, "publish", "--admin", f"http://127.0.0.1:{srv.admin_port}",
                        "envtopic", "x"], capture_output=True, env=env, timeout=T(10))
    assert r.returncode == 0, r


def test_no_token_configured_needs_none(wspush):
    s = wspush("--workers", "1")
    assert s.admin.request("POST", "/publish/x", "y").status == 202
    assert s.admin.request("POST", "/publish/x", "y", token="anything").status == 202


# ---- issue 11: the admin port (items 8-12) ----


def test_publish_response_is_json_safe_issue11(srv):
    """Item 11: a topic holding '"' and '\\' was printed raw into the 202
    JSON, so /publish/x%22,%22seq%22:1337 forged fields. Every string is
    escaped by core/json.c now."""
    from urllib.parse import quote
    for topic in ('x","seq":1337,"subscribers_notified":9', 'back\\slash', 'q"'):
        r = srv.admin.request("POST", "/publish/" + quote(topic, safe=""), "hi")
        assert r.status == 202, r
        j = r.json()
        assert set(j) == {"topic", "seq", "subscribers_notified"}, r.body
        assert j["topic"] == topic and j["seq"] != 1337, r.body


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def test_secrets_scrubbed_from_cmdline_issue11(wspush):
    """Item 12: --publish-token and the password in --redis URL were
    readable by any local user in /proc/<pid>/cmdline (master and workers).
    Both are overwritten in place once parsed."""
    url_pw = "hunter2-redis-pw"
    s = wspush("--workers", "1", "--publish-token", TOKEN,
               f"--redis=redis://:{url_pw}@127.0.0.1:1/0", token=TOKEN)
    pids = [s.pid] + s.worker_pids()
    assert len(pids) == 2
    for pid in pids:
        cl = _cmdline(pid)
        assert TOKEN.encode() not in cl and url_pw.encode() not in cl, (pid, cl)
        assert b"--publish-token" in cl and b"127.0.0.1:1/0" in cl, (pid, cl)
    # still in force
    assert s.admin.request("GET", "/stats", token="").status == 401
    assert s.admin.request("GET", "/stats").status == 200


def test_publish_token_file_issue11(wspush, tmp_path):
    """Item 12: the token from a file (one trailing newline removed), by
    flag or environment variable, for the server and `wspush publish`."""
    import os
    tok = "t0ken-from-a-file"
    f = tmp_path / "token"
    f.write_text(tok + "\n")
    os.chmod(f, 0o600)
    s = wspush("--workers", "1", "--publish-token-file", str(f), token=tok)
    assert s.admin.request("POST", "/publish/x", "y").status == 202
    assert s.admin.request("POST", "/publish/x", "y", token=tok + "x").status == 401
    assert s.admin.request("POST", "/publish/x", "y", token="").status == 401
    assert tok.encode() not in _cmdline(s.pid)
    r = run_cli(s, "--token-file", str(f), "x", "via cli", token=None)
    assert r.returncode == 0, r
    env = dict(os.environ, WSPUSH_PUBLISH_TOKEN_FILE=str(f))
    r = subprocess.run([WSPUSH_BIN, "publish", "--admin", f"http://127.0.0.1:{s.admin_port}",
                        "x", "via env"], capture_output=True, env=env, timeout=T(10))
    assert r.returncode == 0, r
    s2 = wspush("--workers", "1", env={"WSPUSH_PUBLISH_TOKEN_FILE": str(f)}, token=tok)
    assert s2.admin.request("POST", "/publish/x", "y").status == 202
    assert s2.admin.request("POST", "/publish/x", "y", token="").status == 401
    # a missing or empty file stops the start with one clear line
    (tmp_path / "empty").write_text("")
    for bad in (str(tmp_path / "missing"), str(tmp_path / "empty")):
        p = subprocess.run([WSPUSH_BIN, "serve", "--listen", "127.0.0.1:0", "--admin",
                            "127.0.0.1:0", "--publish-token-file", bad],
                           capture_output=True, timeout=T(20))
        assert p.returncode == 2 and b"--publish-token-file" in p.stderr, p


def test_redis_password_file_issue11(wspush, tmp_path):
    """Item 12: the Redis password from --redis-password-file (the URL
    then carries none): the node authenticates and becomes ready."""
    from test_redis import REDIS_SERVER, Redis, healthz_ready
    if not REDIS_SERVER:
        pytest.skip("redis-server not installed")
    from conftest import wait_until
    pw = "redis-pw-from-file"
    f = tmp_path / "redis-pw"
    f.write_text(pw + "\n")
    r = Redis()
    r.start()
    try:
        assert r.cli("CONFIG", "SET", "requirepass", pw) == "OK"
        node = wspush("--workers", "1", "--redis", f"redis://127.0.0.1:{r.port}",
                      "--redis-password-file", str(f))
        wait_until(lambda: healthz_ready(node) == 200, T(15), "the node to authenticate")
        assert pw.encode() not in _cmdline(node.pid)
    finally:
        r.cleanup()


def _req(port, method, path, headers, body=b""):
    hs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return http_raw(port, f"{method} {path} HTTP/1.1\r\n{hs}Content-Length: {len(body)}\r\n"
                          f"Connection: close\r\n\r\n".encode() + body)


def test_cross_site_and_rebinding_refused_issue11(wspush):
    """Item 10: without a token, a browser form POST (text/plain) from any
    page published a broadcast, and `Host: evil.example` was served (DNS
    rebinding). Now: loopback Host names only, and an Origin (or
    Sec-Fetch-Site: cross-site) other than the admin port's own -> 403."""
    s = wspush("--workers", "1")
    p = s.admin_port
    own = f"127.0.0.1:{p}"
    before = s.stats()["published"]["http"]
    form = {"Host": own, "Origin": "http://evil.example", "Content-Type": "text/plain"}
    for hs in (form,
               {"Host": f"evil.example:{p}", "Content-Type": "text/plain"},
               {"Host": own, "Origin": f"http://localhost:{p + 1}"},  # another local site
               {"Host": own, "Origin": "null"},
               {"Host": own, "Origin": f"http://{own}.evil.example"},
               {"Host": own, "Sec-Fetch-Site": "cross-site"}):
        r = _req(p, "POST", "/broadcast", hs, b"pwned")
        assert r.status == 403 and r.json()["error"], (hs, r)
    for path in ("/", "/stats", "/metrics"):
        r = _req(p, "GET", path, {"Host": "evil.example"})
        assert r.status == 403, (path, r)
    hs = ("GET /live HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n")
    assert http_raw(p, hs.format(host=own, origin="http://evil.example").encode()).status == 403
    assert http_raw(p, hs.format(host=own, origin=f"http://{own}").encode()).status == 101
    assert s.stats()["published"]["http"] == before
    # what the dashboard, curl and wspush publish send is served
    for host in (own, f"localhost:{p}", "LOCALHOST", "127.0.0.1", f"[::1]:{p}"):
        r = _req(p, "POST", "/broadcast", {"Host": host}, b"ok")
        assert r.status == 202, (host, r)
    r = _req(p, "POST", "/broadcast", {"Host": own, "Origin": f"http://{own}",
                                       "Sec-Fetch-Site": "same-origin"}, b"ok")
    assert r.status == 202, r
    assert _req(p, "GET", "/", {"Host": f"localhost:{p}"}).status == 200


def test_token_server_refuses_foreign_origin_issue11(srv):
    """Item 10 with a token: any Host (the port may be public), but still
    never a foreign Origin (the /live feed takes ?token= from a page)."""
    p = srv.admin_port
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _req(p, "POST", "/broadcast", {"Host": "wspush.example:9090", **auth}, b"x").status \
        == 202
    r = _req(p, "POST", "/broadcast", {"Host": "wspush.example:9090",
                                      "Origin": "http://evil.example", **auth}, b"x")
    assert r.status == 403, r
    assert _req(p, "POST", "/broadcast", {"Host": "wspush.example:9090",
                                         "Origin": "http://wspush.example:9090", **auth},
                b"x").status == 202


def test_token_checked_before_body_issue11(srv):
    """Item 9: a body (up to --max-message) was buffered before the token
    was checked. Now the head decides: 401 at once, the body never read."""
    import socket
    for auth in ("", "Authorization: Bearer wrong\r\n"):
        with socket.create_connection(("127.0.0.1", srv.admin_port), timeout=T(5)) as s:
            s.sendall(f"POST /publish/news HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
                      f"Content-Length: {MAX_MESSAGE}\r\n\r\n".encode() + b"x" * 100)
            head = s.recv(4096)  # times out before the fix: the server awaits the body
            assert head.startswith(b"HTTP/1.1 401 "), head


def _server_side_sockets(port):
    """{client port: (state, tx_queue, rx_queue)} of the server's end of
    each IPv4 connection to 127.0.0.1:port (from /proc/net/tcp)."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            lport = int(p[1].split(":")[1], 16)
            if lport != port or p[3] == "0A":  # 0A: the listener
                continue
            tx, rx = (int(x, 16) for x in p[4].split(":"))
            out[int(p[2].split(":")[1], 16)] = (p[3], tx, rx)
    return out


def test_unread_pipelined_output_is_bounded_issue11(wspush):
    """Item 9: pipelined GETs of the dashboard that are never read cost the
    master +7.2 MiB per connection (or, past 8 MiB, the connection). Now an
    admin connection stops reading and parsing once its queued output
    passes a bound (the requests wait in the kernel), and one that never
    reads is closed after --admin-idle-timeout."""
    import socket
    from conftest import wait_until
    from hostile_util import worker_rss_kib as _rss_kib  # any pid's VmRSS
    s = wspush("--workers", "1", "--admin-idle-timeout", "5s")
    p = s.admin_port
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nX-Pad: {'p' * 3000}\r\n\r\n").encode()
    quota = req * 800  # 2.4 MB of requests, 16 MB of answers each
    rss0 = _rss_kib(s.pid)
    socks = []
    for _ in range(8):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", p))
        c.setblocking(False)
        socks.append([c, c.getsockname()[1], 0])

    def pushed_until_stuck():
        """Sends more of each quota; true once every socket is done, or
        can send no more while the server leaves its requests unread."""
        srv_side = _server_side_sockets(p)
        done = True
        for e in socks:
            try:
                while e[2] < len(quota):
                    e[2] += e[0].send(quota[e[2]:e[2] + 65536])
            except BlockingIOError:
                if srv_side.get(e[1], ("", 0, 0))[2] == 0:
                    done = False
            except OSError:
                e[2] = len(quota)  # closed on us (the old behaviour past 8 MiB)
        return done
    wait_until(pushed_until_stuck, T(30), "the pipelined requests to be sent or stuck")
    s.admin.request("GET", "/healthz")  # the master has gone round its loop since
    srv_side = _server_side_sockets(p)
    for _, cp, sent in socks:
        st = srv_side.get(cp, ("gone", 0, 0))
        # still connected, and the rest of its requests unread in the kernel
        assert st[0] == "01" and st[2] > 0, (cp, sent, st)
    grew = _rss_kib(s.pid) - rss0
    assert grew < 8 * 2048 + 16 * 1024, f"master RSS grew by {grew} KiB"
    # and a peer that never reads is closed
    wait_until(lambda: not any(_server_side_sockets(p).get(cp, ("",))[0] == "01"
                               for _, cp, _ in socks), T(30), "the stalled connections to close")
    for c, _, _ in socks:
        c.close()
    assert s.admin.request("GET", "/healthz").status == 200


def _wait_eof(sock):
    """Reads until the server closes (b"") within the socket's timeout;
    returns what came before it."""
    got = b""
    while True:
        chunk = sock.recv(65536)  # socket.timeout fails the test
        if not chunk:
            return got
        got += chunk


def test_admin_head_and_idle_timeouts_issue11(wspush):
    """Item 8: the admin port had no head or idle timeout, so idle
    connections stayed forever. A request head must now arrive within
    --admin-head-timeout, an idle keep-alive connection ends after
    --admin-idle-timeout (short values here; each wait is on the close)."""
    import socket
    s = wspush("--workers", "1", "--admin-head-timeout", "300ms", "--admin-idle-timeout", "300ms")
    p = s.admin_port
    silent = socket.create_connection(("127.0.0.1", p), timeout=T(10))
    partial = socket.create_connection(("127.0.0.1", p), timeout=T(10))
    partial.sendall(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    idle = socket.create_connection(("127.0.0.1", p), timeout=T(10))
    idle.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n".encode())
    for sock in (silent, partial, idle):
        got = _wait_eof(sock)
        assert got == b"" or got.startswith(b"HTTP/1.1 200 "), got
        sock.close()


def test_idle_connections_do_not_lock_out_publishers_issue11(wspush):
    """Item 8: 256 idle TCP connections filled the admin port's table and
    every publisher was refused until they left. Now the oldest connection
    without a complete request is evicted for a newcomer."""
    import socket
    s = wspush("--workers", "1")
    p = s.admin_port
    hogs = []
    for i in range(300):
        c = socket.create_connection(("127.0.0.1", p), timeout=T(10))
        if i % 2:
            c.sendall(b"GET / HTTP/1.1\r\n")  # a head that never ends
        hogs.append(c)
    try:
        r = _req(p, "POST", "/broadcast", {"Host": "127.0.0.1"}, b"still publishing")
        assert r.status == 202, r
    finally:
        for c in hogs:
            c.close()
