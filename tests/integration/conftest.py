"""conftest.py - shared fixtures and helpers for wspush's integration tests.

These tests start the real `wspush` binary (path in $WSPUSH_BIN) on
127.0.0.1 with port 0 and talk to it through real sockets. Nothing here
sleeps for a fixed time: every wait is on an event (a log line, a socket
read, a condition polled against /stats) with a deadline.

What is here, for reuse by every test file (hostile-client, bench, ...):

  Fixtures
    wspush            factory: ``srv = wspush("--workers", "2", ...)`` starts
                      the server (``--listen 127.0.0.1:0 --admin 127.0.0.1:0``
                      are added unless given) and returns a ``Server``. At
                      teardown each server gets SIGTERM, is waited for
                      (SIGKILL if stuck), and the test FAILS if its stderr
                      holds a sanitizer report, "assertion failed", a worker
                      death (unless srv.allow_worker_deaths = True), or its
                      exit code is not 0.
    wspush_module     the same, module-scoped (a server shared by a file).
    server            one default server: ``wspush("--workers", "2")``.

  Classes and functions
    Server            .port, .admin_port, .pid, .log_path, .admin (an Admin),
                      .stats(), .metrics(), .ws_url(path), .worker_pids(),
                      .wait_for_log(regex), .stop(sig) -> exit code,
                      .wait_stats(pred) -> /stats once pred(stats) holds.
    Admin             tiny HTTP client for the admin port over ONE keep-alive
                      connection: .request(method, path, body, headers) ->
                      Response(status, headers, body), .publish(topic, msg,
                      binary=False), .broadcast(msg), .stats(), .metrics().
    RawWS             raw-socket WebSocket client: does the opening handshake
                      by hand, sends any frame (masked or not, any opcode,
                      RSV bits, forged lengths) and reads frames / close codes.
    build_frame(...)  encodes one frame (client-side masking by default).
    http_raw(port, request_bytes) -> Response: one raw HTTP exchange, for
                      malformed requests and bad handshakes.
    Swarm             many python3-websockets clients in one asyncio loop,
                      each recording (arrival time, message) in .msgs[i]:
                      ``sw = await Swarm.connect(urls, n)``, ``await
                      sw.wait_for(pred, timeout, what)``, ``await sw.close()``.
    publish_pipelined(admin_port, topic, bodies) publishes every body on ONE
                      connection without waiting for answers (pipelined);
                      returns the 202 responses' JSON, in order.
    wait_until(pred, timeout, what) polls pred() until truthy or fails.
    T(seconds)        scales a timeout for sanitizer builds ($WSPUSH_SANITIZE).
    make_cert(dir, cn) -> (cert path, key path): a self-signed certificate
                      for cn and 127.0.0.1, made with `openssl req`.

  Skips
    With WSPUSH_STRICT_SKIPS=1 (scripts/test.sh, hence CI) a skipped test
    FAILS: a skip there means something the test needs (a binary, a package)
    was not built or installed. Only a skip for a platform reason stays a
    skip: raise it with platform_skip(reason) (its reason starts with
    "platform:").
"""
import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

WSPUSH_BIN = os.environ.get("WSPUSH_BIN", "")
SANITIZED = bool(os.environ.get("WSPUSH_SANITIZE", ""))
TIME_SCALE = 3.0 if SANITIZED else 1.0

# Lines in a server's stderr that fail the test.
BAD_LOG = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
           "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer", "assertion failed")
# A worker that dies on its own is a crash (a test that kills one on
# purpose sets Server.allow_worker_deaths); one that ignores SIGTERM too.
WORKER_DEATH_RE = re.compile(r"worker \d+ \(pid \d+\) (killed by signal|exited with status)"
                             r"|did not stop in time")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


STRICT_SKIPS = os.environ.get("WSPUSH_STRICT_SKIPS", "") == "1"
PLATFORM_SKIP = "platform: "


def platform_skip(reason):
    """Skips for a legitimate platform reason (a kernel feature, an
    architecture), which stays a skip even with WSPUSH_STRICT_SKIPS=1."""
    pytest.skip(PLATFORM_SKIP + reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """WSPUSH_STRICT_SKIPS=1: a skip for anything but a platform reason is
    a failure (what the test needed was not built or installed)."""
    outcome = yield
    rep = outcome.get_result()
    if not STRICT_SKIPS or not rep.skipped or hasattr(rep, "wasxfail"):
        return
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    if PLATFORM_SKIP in reason:
        return
    rep.outcome = "failed"
    rep.longrepr = (f"{reason}\n(skipped, but WSPUSH_STRICT_SKIPS=1: CI builds and installs "
                    f"everything the tests need; see scripts/setup.sh)")


def T(seconds):
    """A timeout in seconds, scaled up under sanitizers."""
    return seconds * TIME_SCALE


def wait_until(pred, timeout, what="condition", interval=0.02):
    """Polls pred() until it returns something truthy (returned) or the
    deadline passes (the test fails, naming `what`)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def make_cert(d, cn="localhost"):
    """A self-signed RSA certificate for DNS:cn and IP:127.0.0.1, valid two
    days, written to d/<cn>.pem and d/<cn>.key (key unencrypted)."""
    key, crt = os.path.join(d, cn + ".key"), os.path.join(d, cn + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", f"subjectAltName=DNS:{cn},IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


# --------------------------------------------------------------------------
# HTTP


class Response:
    """status (int), reason, headers (dict, lower-case names; repeated
    headers joined with ", "), body (bytes); .json() decodes the body."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status} {self.reason}, {self.body[:200]!r})"


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
    if not m:
        raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        k = k.strip().lower()
        v = v.strip()
        headers[k] = headers[k] + ", " + v if k in headers else v
    return int(m.group(1)), m.group(2), headers


def _recv_until(sock, marker, limit=1 << 20):
    buf = b""
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            break
    return buf


def http_raw(port, request, timeout=None, host="127.0.0.1"):
    """Sends the raw bytes `request` to host:port and reads one response
    (head + Content-Length body, or up to EOF). Returns a Response."""
    timeout = timeout or T(5)
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        buf = b""
        try:
            buf = _recv_until(s, b"\r\n\r\n")
        except ConnectionResetError:
            pass
        if b"\r\n\r\n" not in buf:
            raise AssertionError(f"no complete response head, got {buf!r}")
        head, _, body = buf.partition(b"\r\n\r\n")
        status, reason, headers = _parse_head(head)
        n = int(headers.get("content-length", -1))
        if status == 101:
            # the rest is a WebSocket stream: end it with a close handshake
            # (a bare FIN leaves the server a half-open connection)
            try:
                s.sendall(build_frame(OP_CLOSE, close_payload(1000)))
                while s.recv(65536):
                    pass
            except OSError:
                pass
            return Response(status, reason, headers, b"")
        try:
            while (n < 0 or len(body) < n):
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
        except ConnectionResetError:
            pass
        return Response(status, reason, headers, body[:n] if n >= 0 else body)


def http_get(port, path, headers=None):
    """A plain HTTP/1.1 GET (Connection: close)."""
    hs = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    hs.update(headers or {})
    req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
    return http_raw(port, req.encode())


class LivePublisher:
    """Publishes "live-<i>" to topic from a thread, as fast as the admin
    API takes it, from start() until stop() (and at least `least`, at most
    `most` messages):
    the publisher that keeps a resume's replay/live boundary moving.
    `published` holds the bodies in publish order."""

    def __init__(self, admin_port, topic, least=20, most=None):
        self.admin_port, self.topic, self.least, self.most = admin_port, topic, least, most
        self.published = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run)

    def _run(self):
        adm = Admin(self.admin_port)
        try:
            i = 0
            while (not self._stop.is_set() or i < self.least) and i != self.most:
                adm.publish(self.topic, f"live-{i}")
                self.published.append(f"live-{i}")
                i += 1
        finally:
            adm.close()

    def start(self, started=5):
        self._t.start()
        wait_until(lambda: len(self.published) >= started, T(10), "live publishes started")
        return self

    def stop(self):
        self._stop.set()
        self._t.join()


def publish_pipelined(port, topic, bodies, token=None, binary=False):
    """Sends one POST /publish/<topic> per body (topic None: /broadcast) on
    ONE connection, all at once from a writer thread, and reads the
    responses in order; asserts each is 202 and returns their JSON."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=T(30))
    path = f"/publish/{topic}" if topic is not None else "/broadcast"
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    ctype = "application/octet-stream" if binary else "text/plain"
    reqs = [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {ctype}\r\n"
             f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]
    err = []

    def writer():
        try:
            for i in range(0, len(reqs), 200):
                sock.sendall(b"".join(reqs[i:i + 200]))
        except OSError as e:
            err.append(e)
    th = threading.Thread(target=writer)
    th.start()
    out = []
    buf = b""
    head_re = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r]*\r\n((?:[^\r]+\r\n)*)\r\n")
    try:
        while len(out) < len(bodies):
            m = head_re.match(buf)
            if m:
                n = int(re.search(rb"(?i)content-length: *(\d+)", m.group(2)).group(1))
                if len(buf) >= m.end() + n:
                    assert m.group(1) == b"202", buf[:300]
                    out.append(json.loads(buf[m.end():m.end() + n]))
                    buf = buf[m.end() + n:]
                    continue
            chunk = sock.recv(1 << 16)
            assert chunk, f"admin closed the connection after {len(out)} responses"
            buf += chunk
    finally:
        th.join()
        sock.close()
    assert not err, err
    return out


class Admin:
    """The admin API over one keep-alive http.client connection (reopened
    after the server closes it). `token` adds Authorization: Bearer."""

    def __init__(self, port, token=None, timeout=None):
        self.port = port
        self.token = token
        self.timeout = timeout or T(10)
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, token=None):
        """Returns a Response. `token` overrides the instance's token;
        pass token="" to send none."""
        hs = {}
        tok = self.token if token is None else token
        if tok:
            hs["Authorization"] = f"Bearer {tok}"
        hs.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=hs)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a keep-alive connection the server closed: retry once
                self.close()
                if attempt:
                    raise
                continue
            headers_out = {k.lower(): v for k, v in r.getheaders()}
            if r.will_close:
                self.close()
            return Response(r.status, r.reason, headers_out, data)

    def publish(self, topic, msg, binary=False, expect=202, **kw):
        """POST /publish/<topic>; checks the status; returns the JSON."""
        hs = {"Content-Type": "application/octet-stream" if binary else "text/plain"}
        r = self.request("POST", f"/publish/{topic}", msg, hs, **kw)
        assert r.status == expect, r
        return r.json()

    def broadcast(self, msg, binary=False, expect=202):
        hs = {"Content-Type": "application/octet-stream" if binary else "text/plain"}
        r = self.request("POST", "/broadcast", msg, hs)
        assert r.status == expect, r
        return r.json()

    def stats(self):
        r = self.request("GET", "/stats")
        assert r.status == 200, r
        return r.json()

    def metrics(self):
        r = self.request("GET", "/metrics")
        assert r.status == 200, r
        return r.body.decode()


# --------------------------------------------------------------------------
# The server process


LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+), admin on 127\.0\.0\.1:(\d+)")


class Server:
    """One running `wspush serve`. stderr goes through a pipe to a reader
    thread that copies it to log_path and signals each new line, so tests
    can wait for log lines without polling files."""

    def __init__(self, args, env=None, token=None, start_timeout=None):
        if not WSPUSH_BIN:
            pytest.skip("WSPUSH_BIN is not set")
        self.args = list(args)
        fd, self.log_path = tempfile.mkstemp(prefix="wspush-", suffix=".log")
        os.close(fd)
        self._lines = []
        self._cond = threading.Condition()
        self._eof = False
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        e.update(env or {})
        self.proc = subprocess.Popen([WSPUSH_BIN, "serve"] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.exit_code = None
        self.allow_worker_deaths = False
        m = self.wait_for_log(LISTEN_RE, timeout=start_timeout or T(10))
        self.port = int(m.group(1))
        self.admin_port = int(m.group(2))
        self.admin = Admin(self.admin_port, token=token)

    def _read_stderr(self):
        with open(self.log_path, "wb") as f:
            for line in iter(self.proc.stderr.readline, b""):
                f.write(line)
                f.flush()
                with self._cond:
                    self._lines.append(line.decode("utf-8", "replace"))
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def log(self):
        """Everything the server wrote to stderr so far."""
        with self._cond:
            return "".join(self._lines)

    def wait_for_log(self, regex, timeout=None, start=0):
        """Waits for a stderr line (from index `start`) matching regex;
        returns the match. Fails on timeout or if the server exits first."""
        rx = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + (timeout or T(10))
        i = start
        with self._cond:
            while True:
                while i < len(self._lines):
                    m = rx.search(self._lines[i])
                    i += 1
                    if m:
                        return m
                if self._eof:
                    pytest.fail(f"server exited (rc={self.proc.poll()}) before logging "
                                f"{rx.pattern!r}:\n{''.join(self._lines)[-4000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no log line matching {rx.pattern!r} within timeout:\n"
                                f"{''.join(self._lines)[-4000:]}")
                self._cond.wait(left)

    def log_count(self, regex, start=0):
        """How many stderr lines from index `start` match regex (now)."""
        rx = re.compile(regex)
        with self._cond:
            return sum(1 for line in self._lines[start:] if rx.search(line))

    def log_mark(self):
        """Index to pass as wait_for_log(start=...) to see only new lines."""
        with self._cond:
            return len(self._lines)

    def ws_url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def stats(self):
        return self.admin.stats()

    def metrics(self):
        return self.admin.metrics()

    def worker_pids(self):
        return [w["pid"] for w in self.stats()["workers"]]

    def wait_stats(self, pred, timeout=None, what="stats condition"):
        """Polls /stats until pred(stats) is truthy; returns those stats."""
        box = {}

        def check():
            box["s"] = self.stats()
            return pred(box["s"])
        wait_until(check, timeout or T(10), what, interval=0.02)
        return box["s"]

    def wait_connections(self, n, timeout=None):
        """Waits until /stats shows exactly n established connections."""
        return self.wait_stats(lambda s: s["connections"] == n, timeout,
                               f"{n} connections in /stats")

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Sends sig, waits for exit (SIGKILL after the timeout, which then
        fails the test at teardown), returns the exit code."""
        if self.exit_code is not None:
            return self.exit_code
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.exit_code = self.proc.wait(timeout or T(15))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exit_code = "stuck: killed after SIGTERM timeout"
        self._reader.join(T(10))
        return self.exit_code

    def check_clean(self):
        """Problems found in the log and exit code (empty list when clean)."""
        problems = []
        text = self.log()
        for bad in BAD_LOG:
            if bad in text:
                problems.append(f"stderr contains {bad!r}")
        if not self.allow_worker_deaths:
            for m in WORKER_DEATH_RE.finditer(text):
                problems.append(f"unexpected: {m.group(0)!r}")
        if self.exit_code != 0:
            problems.append(f"exit code {self.exit_code!r}")
        return problems


class _Servers:
    """Starts servers and checks them all at teardown."""

    def __init__(self):
        self.servers = []

    def start(self, *args, env=None, token=None):
        args = list(args)
        if "--listen" not in args:
            args += ["--listen", "127.0.0.1:0"]
        if "--admin" not in args:
            args += ["--admin", "127.0.0.1:0"]
        if "--drain-timeout" not in args and "WSPUSH_DRAIN_TIMEOUT" not in (env or {}):
            # the 30 s default spreads the closes of a SIGTERM over 27 s:
            # a teardown with clients still connected would wait them out
            args += ["--drain-timeout", "2s"]
        s = Server(args, env=env, token=token)
        self.servers.append(s)
        return s

    def finish(self):
        problems = []
        for s in self.servers:
            s.stop()
            bad = s.check_clean()
            for p in bad:
                problems.append(f"wspush {' '.join(s.args)}: {p} (log: {s.log_path})\n"
                                f"{s.log()[-6000:]}")
            if not bad:
                try:
                    os.unlink(s.log_path)
                except OSError:
                    pass
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def wspush():
    """Factory: wspush(*args, env=None, token=None) -> Server.

    Adds --listen 127.0.0.1:0 --admin 127.0.0.1:0 unless given. `token`
    only configures the Admin helper (pass --publish-token yourself).
    Teardown stops every server and fails the test on a sanitizer report or
    a non-zero exit code."""
    pool = _Servers()
    yield pool.start
    pool.finish()


@pytest.fixture(scope="module")
def wspush_module():
    """Like `wspush`, for servers shared by the tests of one module (the
    teardown check is reported on the module's last test)."""
    pool = _Servers()
    yield pool.start
    pool.finish()


@pytest.fixture
def server(wspush):
    """A default server: 2 workers, no ticker."""
    return wspush("--workers", "2")


# --------------------------------------------------------------------------
# Raw WebSocket client


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None, key=None):
    """One frame. mask=True masks with a random (or given 4-byte) key;
    rsv is the 3-bit RSV field; length forces the encoded length (e.g. a
    64-bit length with the top bit set) regardless of the payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if length is not None and length > 0xFFFF:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    elif n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, payload, masked):
        self.fin, self.rsv, self.opcode, self.payload, self.masked = fin, rsv, opcode, payload, masked

    @property
    def close_code(self):
        """Close code of a close frame (None when the payload is empty)."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        return f"Frame(op={self.opcode:#x}, fin={self.fin}, len={len(self.payload)}, {self.payload[:60]!r})"


class ConnectionClosed(Exception):
    """The server closed the TCP connection (EOF or reset)."""


class RawWS:
    """A WebSocket client over a plain socket, for tests that need exact
    bytes on the wire.

        ws = RawWS(port, "/news")             # handshake; fails unless 101
        ws.send(OP_TEXT, b"hi")               # masked; mask=False, rsv=, fin=
        ws.send_raw(build_frame(...))         # any bytes
        f = ws.recv_frame()                   # next Frame (timeout -> fail)
        code = ws.recv_close_code()           # skips data frames; returns the
                                              # close code (None if empty)
        ws.close(1000)                        # close handshake, returns reply
        ws.shutdown()                         # close handshake if still open,
                                              # then close the socket
        ws.abort()                            # TCP reset, no close frame
    `rcvbuf` sets SO_RCVBUF before connecting (a client that never reads).
    `headers` replaces/extends the request headers; response headers are in
    .response_headers. `sent` is called once the request is on the wire,
    before the response is read (e.g. to let a stopped worker go on)."""

    def __init__(self, port, path="/", headers=None, protocols=None, rcvbuf=None,
                 timeout=None, host="127.0.0.1", source=None, sent=None):
        self.timeout = timeout or T(5)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:  # a source address, e.g. 127.0.2.1 (apart from a per-IP limit)
            self.sock.bind((source, 0))
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(self.timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.closed = False  # a close frame or EOF was seen
        key = base64.b64encode(os.urandom(16)).decode()
        hs = {"Host": f"{host}:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        if protocols:
            hs["Sec-WebSocket-Protocol"] = ", ".join(protocols)
        hs.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
        self.sock.sendall(req.encode())
        if sent:
            sent()
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"connection closed during handshake: {self.buf!r}")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status, _, self.response_headers = _parse_head(head)
        if self.status != 101:
            self.sock.close()
            raise AssertionError(f"handshake got {self.status}, not 101: {head!r}")
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert self.response_headers.get("sec-websocket-accept") == want, self.response_headers

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", **kw):
        self.send_raw(build_frame(opcode, payload, **kw))

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no frame within {self.timeout}s (have {self.buf!r})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError as e:
                self.closed = True
                raise ConnectionClosed("reset") from e
            if not chunk:
                self.closed = True
                raise ConnectionClosed(f"EOF with {len(self.buf)} bytes buffered")
            self.buf += chunk

    def recv_frame(self, timeout=None):
        """The next frame. Raises ConnectionClosed on EOF, socket.timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            pos = 10
        masked = bool(b1 & 0x80)
        key = None
        if masked:
            self._fill(pos + 4, deadline)
            key = self.buf[pos:pos + 4]
            pos += 4
        self._fill(pos + n, deadline)
        payload = self.buf[pos:pos + n]
        if masked:
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        self.buf = self.buf[pos + n:]
        if b0 & 0xF == OP_CLOSE:
            self.closed = True
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload, masked)

    def recv_close(self, timeout=None):
        """Skips data/ping frames until a close frame; returns it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f.opcode == OP_CLOSE:
                return f

    def recv_close_code(self, timeout=None):
        return self.recv_close(timeout).close_code

    def expect_eof(self, timeout=None):
        """Asserts the server closes the TCP connection (after anything
        still buffered, which is discarded)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("server did not close the connection")
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    self.closed = True
                    return
        except ConnectionResetError:
            self.closed = True
            return

    def close(self, code=1000, reason=b""):
        """Sends a close frame and returns the server's close frame."""
        self.send(OP_CLOSE, close_payload(code, reason) if code is not None else b"")
        return self.recv_close()

    def shutdown(self):
        """Ends the connection politely: a close handshake unless a close
        frame or EOF was already seen, then close(). (The server keeps a
        half-closed connection alive while it can still write to it, so a
        bare close() would leave it counted until its next write fails.)"""
        if not self.closed:
            try:
                self.sock.sendall(build_frame(OP_CLOSE, close_payload(1000)))
                self.recv_close(min(self.timeout, T(2)))
            except (OSError, ConnectionClosed, socket.timeout):
                pass
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes with a TCP reset (SO_LINGER 0): a client that vanishes."""
        self.closed = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def readable(socks, timeout):
    """select() helper: which of socks have input within timeout."""
    r, _, _ = select.select(socks, [], [], timeout)
    return r


# --------------------------------------------------------------------------
# Many clients at once (python3-websockets, asyncio)


class Swarm:
    """n websockets clients in the running asyncio loop. Each has a reader
    task appending (time.monotonic(), message) to msgs[i]; closed[i] is the
    close code once its connection ended (None while open).

        sw = await Swarm.connect([srv.ws_url("/a"), srv.ws_url("/b")], 1000)
        await sw.wait_for(lambda sw: all(len(m) >= 5 for m in sw.msgs),
                          T(10), "5 messages each")
        await sw.close()

    urls is one URL or a list used round-robin (client i gets urls[i % k]).
    Connections are opened `concurrency` at a time."""

    def __init__(self):
        self.clients = []
        self.urls = []
        self.msgs = []
        self.closed = []
        self.tasks = []

    @classmethod
    async def connect(cls, urls, n, concurrency=100, timeout=None, **kw):
        import websockets
        if isinstance(urls, str):
            urls = [urls]
        sw = cls()
        sw.urls = [urls[i % len(urls)] for i in range(n)]
        sw.clients = [None] * n
        sw.msgs = [[] for _ in range(n)]
        sw.closed = [None] * n
        kw.setdefault("ping_interval", None)
        kw.setdefault("close_timeout", T(5))
        kw.setdefault("max_queue", None)
        sem = asyncio.Semaphore(concurrency)

        async def one(i):
            async with sem:
                sw.clients[i] = await asyncio.wait_for(websockets.connect(sw.urls[i], **kw),
                                                       timeout or T(20))
            sw.tasks.append(asyncio.ensure_future(sw._reader(i)))
        try:
            await asyncio.gather(*(one(i) for i in range(n)))
        except BaseException:
            await sw.close()
            raise
        return sw

    async def _reader(self, i):
        import websockets
        ws = self.clients[i]
        out = self.msgs[i]
        try:
            async for m in ws:
                out.append((time.monotonic(), m))
        except websockets.ConnectionClosed:
            pass
        self.closed[i] = ws.close_code if ws.close_code is not None else 1006

    def counts(self):
        return [len(m) for m in self.msgs]

    async def wait_for(self, pred, timeout, what="swarm condition", interval=0.05):
        deadline = time.monotonic() + timeout
        while not pred(self):
            if time.monotonic() > deadline:
                c = self.counts()
                pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}; messages per "
                            f"client min {min(c, default=0)} max {max(c, default=0)}, "
                            f"closed {sum(x is not None for x in self.closed)}")
            await asyncio.sleep(interval)

    async def close(self):
        """Close handshake with every client still open; waits for the
        reader tasks."""
        async def one(ws):
            try:
                await ws.close()
            except Exception:
                pass
        await asyncio.gather(*(one(ws) for ws in self.clients if ws is not None))
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=T(10))
