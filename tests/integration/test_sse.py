"""test_sse.py - Server-Sent Events on the public port (issue 15, docs/sse.md).

The stream is read from a raw socket and parsed by SSEParser below, written
from the HTML standard's event-stream rules (§9.2.6), independent of the
server's encoder. Every wait is on an event (bytes arriving, /stats), never
a fixed sleep."""
import base64
import json
import re
import os
import signal
import socket
import time

import jwt
import pytest

from conftest import T, LivePublisher, http_raw, publish_pipelined, wait_until


class SSEParser:
    """HTML §9.2.6, fed bytes as they come: lines end at CRLF, LF or CR
    (a CR at the end of a chunk waits to see whether an LF follows)."""

    def __init__(self):
        self.buf = b""
        self.data, self.type, self.last_id = "", "", ""
        self.retry = None
        self.events = []    # (type, data, last_id)
        self.comments = 0
        self.bom_checked = False

    def feed(self, chunk, eof=False):
        self.buf += chunk
        if not self.bom_checked and len(self.buf) >= 3:
            if self.buf.startswith(b"\xef\xbb\xbf"):
                self.buf = self.buf[3:]
            self.bom_checked = True
        while True:
            i = min((k for k in (self.buf.find(b"\r"), self.buf.find(b"\n")) if k >= 0),
                    default=-1)
            if i < 0:
                return
            if self.buf[i:i + 1] == b"\r":
                if i + 1 == len(self.buf) and not eof:
                    return  # maybe CRLF split across reads
                end = i + 2 if self.buf[i + 1:i + 2] == b"\n" else i + 1
            else:
                end = i + 1
            line, self.buf = self.buf[:i].decode("utf-8", "replace"), self.buf[end:]
            self.line(line)

    def line(self, line):
        if line == "":
            self.dispatch()
        elif line.startswith(":"):
            self.comments += 1
        else:
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if name == "event":
                self.type = value
            elif name == "data":
                self.data += value + "\n"
            elif name == "id" and "\0" not in value:
                self.last_id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value)

    def dispatch(self):
        if self.data == "":
            self.type = ""
            return
        data = self.data[:-1] if self.data.endswith("\n") else self.data
        self.events.append((self.type or "message", data, self.last_id))
        self.data, self.type = "", ""


class SSEClient:
    """One EventSource-like stream over a raw socket."""

    def __init__(self, port, path, headers=None, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(T(5))
        self.s.connect(("127.0.0.1", port))
        hs = {"Host": f"127.0.0.1:{port}", "Accept": "text/event-stream", **(headers or {})}
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items())
        self.s.sendall((req + "\r\n").encode())
        self.p = SSEParser()
        self.eof = False
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = self.s.recv(65536)
            assert chunk, f"no response head: {raw!r}"
            raw += chunk
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, _, v in (ln.partition(":") for ln in lines[1:])}
        self.body = rest
        if self.status == 200:
            self.p.feed(rest)

    def read_some(self, timeout):
        self.s.settimeout(timeout)
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            self.p.feed(b"", eof=True)
        self.p.feed(chunk)

    def wait(self, pred, timeout=None, what="events"):
        deadline = time.monotonic() + (timeout or T(10))
        while not pred(self.p):
            if self.eof:
                pytest.fail(f"stream ended waiting for {what}: {self.p.events!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out waiting for {what}: {self.p.events!r}")
            self.read_some(min(left, 0.5))
        return self.p.events

    def wait_eof(self, timeout=None):
        deadline = time.monotonic() + (timeout or T(10))
        while not self.eof:
            assert time.monotonic() < deadline, "stream did not end"
            self.read_some(0.5)

    def close(self):
        self.s.close()


def sse_stats(srv):
    return srv.stats()["transports"]["sse"]


def open_streams(srv, n):
    srv.wait_stats(lambda s: s["transports"]["sse"]["connections"] == n,
                   what=f"{n} SSE streams")



def ids(evs):
    """Events with each message id "<epoch>-<seq>" (docs/history.md) shown
    as "#<seq>": the epoch is random per start. A broadcast has no id line,
    so the parser's last event id carries over to it (HTML standard)."""
    out = []
    for typ, data, last in evs:
        if last:
            m = re.fullmatch(r"(\d+)-(\d+)", last)
            assert m, last
            last = "#" + m.group(2)
        out.append((typ, data, last))
    return out

def test_sse_topics_broadcast_and_line_breaks(wspush):
    srv = wspush("--workers", "2")
    c = SSEClient(srv.port, "/news?topic=img")
    assert c.status == 200
    assert c.headers["content-type"] == "text/event-stream"
    assert c.headers["cache-control"] == "no-cache"
    assert c.headers["x-accel-buffering"] == "no"
    other = SSEClient(srv.port, "/sports")
    open_streams(srv, 2)
    c.wait(lambda p: p.retry is not None, what="the retry hint")
    assert c.p.retry == 3000 and c.p.events == []
    srv.admin.publish("news", "one\r\ntwo\rthree\nfour")
    srv.admin.publish("news", "")
    srv.admin.publish("news", "trailing\n")
    srv.admin.publish("img", b"\x00\xff\r\n", binary=True)
    srv.admin.broadcast("to everyone")
    srv.admin.publish("sports", "not for c")
    evs = c.wait(lambda p: len(p.events) >= 5)
    assert ids(evs) == [("news", "one\ntwo\nthree\nfour", "#1"), ("news", "", "#2"),
                        ("news", "trailing\n", "#3"),
                        ("img binary", base64.b64encode(b"\x00\xff\r\n").decode(), "#1"),
                        ("message", "to everyone", "#1")]
    other.wait(lambda p: len(p.events) >= 2)
    assert ids(other.p.events) == [("message", "to everyone", ""), ("sports", "not for c", "#1")]
    st = srv.wait_stats(lambda s: s["transports"]["sse"]["deliveries"] >= 7)
    assert st["transports"]["sse"]["deliveries"] == 7
    assert st["transports"]["ws"] == {"connections": 0, "deliveries": 0}
    m = srv.metrics()
    assert 'wspush_transport_connections{transport="sse"} 2' in m
    assert 'wspush_transport_deliveries_total{transport="sse"} 7' in m
    c.close()
    other.close()
    open_streams(srv, 0)


def test_sse_ticker_and_heartbeat(wspush):
    srv = wspush("--workers", "1", "--tick", "1s", "--sse-heartbeat", "1s")
    c = SSEClient(srv.port, "/")
    evs = c.wait(lambda p: len(p.events) >= 2 and p.comments >= 2, timeout=T(15),
                 what="two ticks and two heartbeats")
    for typ, data, _ in evs:
        assert typ == "message"
        assert data.endswith("Z") and "T" in data  # ISO 8601
    c.close()


def test_sse_heartbeats_spread_over_the_interval(wspush):
    """20 streams opened at once: their first heartbeats come over several
    seconds of the 4 s interval, not in one wave per burst of streams (as
    WebSocket pings: test_liveness.py, test_pings_spread_over_the_interval)."""
    srv = wspush("--workers", "1", "--sse-heartbeat", "4s")
    n = 20
    cs = [SSEClient(srv.port, "/") for _ in range(n)]
    try:
        srv.wait_connections(n)
        base = [c.p.comments for c in cs]
        t0 = time.monotonic()
        first = {}

        def poll():
            for i, c in enumerate(cs):
                if i not in first:
                    c.read_some(0.001)
                    if c.p.comments > base[i]:
                        first[i] = time.monotonic() - t0
            return len(first) == n

        wait_until(poll, T(20), "a first heartbeat on every stream", interval=0.01)
        spread = max(first.values()) - min(first.values())
        assert spread >= 1.5, sorted(first.values())
    finally:
        for c in cs:
            c.close()


def test_sse_and_websocket_get_the_same_message(wspush):
    srv = wspush("--workers", "2")
    c = SSEClient(srv.port, "/mix")
    from conftest import RawWS
    ws = RawWS(srv.port, "/mix")
    srv.wait_connections(2)
    srv.admin.publish("mix", "hello")
    c.wait(lambda p: p.events)
    assert ids(c.p.events) == [("mix", "hello", "#1")]
    assert ws.recv_frame().payload == b"hello"
    st = srv.wait_stats(lambda s: s["transports"]["ws"]["deliveries"] == 1)
    assert st["transports"]["sse"]["deliveries"] == 1
    c.close()


def sse_last_id(srv, topic):
    """Opens a one-topic stream, publishes a marker, returns its id (the
    stream is closed: the client is "away" from here)."""
    c = SSEClient(srv.port, f"/{topic}")
    open_streams(srv, 1)
    srv.admin.publish(topic, "marker")
    evs = c.wait(lambda p: p.events, what="the marker")
    c.close()
    open_streams(srv, 0)
    assert evs[0][:2] == (topic, "marker"), evs
    return evs[0][2]


def seq(msg_id):
    return int(msg_id.split("-")[1])


def epoch(msg_id):
    return msg_id.split("-")[0]


def test_sse_last_event_id_resumes_exactly_then_live(wspush):
    """Away for 100 messages, back with Last-Event-ID while a publisher
    keeps going: exactly the missed ones, then live, no gap, no duplicate
    at the replay/live boundary (resume.c). Then ?lastEventId= the same."""
    srv = wspush("--workers", "2", "--history-size", "10000")
    since = sse_last_id(srv, "feed")
    base = seq(since)
    for i in range(100):
        srv.admin.publish("feed", f"missed-{i}")
    # at most 5,000 live: history holds all, however slow the box
    pub = LivePublisher(srv.admin_port, "feed", most=5000).start()
    try:
        c = SSEClient(srv.port, "/feed", {"Last-Event-ID": since})
        c.wait(lambda p: len(p.events) >= 110, what="the replay and some live")
    finally:
        pub.stop()
    published = pub.published
    total = 100 + len(published)
    evs = c.wait(lambda p: len(p.events) >= total, what="every message")
    c.close()
    assert all(typ == "feed" for typ, _, _ in evs), [e for e in evs if e[0] != "feed"][:3]
    assert [seq(i) for _, _, i in evs] == list(range(base + 1, base + 1 + total))
    assert [d for _, d, _ in evs] == [f"missed-{i}" for i in range(100)] + published
    # the polyfill form, from the last id seen
    last = evs[-1][2]
    srv.admin.publish("feed", "one")
    srv.admin.publish("feed", "two")
    c = SSEClient(srv.port, f"/feed?lastEventId={last}")
    evs = c.wait(lambda p: len(p.events) == 2)
    assert [(d, seq(i)) for _, d, i in evs] == [("one", seq(last) + 1), ("two", seq(last) + 2)]
    c.close()
    assert "wspush_sse_resets_total 0" in srv.metrics()


def test_sse_several_topics_resume_with_since(wspush):
    srv = wspush("--workers", "1", "--history-size", "50")
    a, b = sse_last_id(srv, "ta"), sse_last_id(srv, "tb")
    for i in range(3):
        srv.admin.publish("ta", f"a{i}")
        srv.admin.publish("tb", f"b{i}")
    c = SSEClient(srv.port, f"/?topic=ta&topic=tb&since=ta:{a}&since=tb%3A{b}",
                  {"Last-Event-ID": b})  # since wins over the browser's one id
    c.wait(lambda p: len(p.events) == 6)
    srv.admin.publish("tb", "live")
    evs = c.wait(lambda p: len(p.events) == 7)
    assert [(t, d) for t, d, _ in evs] == ([("ta", f"a{i}") for i in range(3)] +
                                           [("tb", f"b{i}") for i in range(3)] + [("tb", "live")])
    c.close()
    # Last-Event-ID alone names no topic's position in a two-topic stream
    c = SSEClient(srv.port, "/?topic=ta&topic=tb", {"Last-Event-ID": b})
    evs = c.wait(lambda p: p.events, what="the reset event")
    assert evs[0][0] == "reset" and evs[0][2] == ""
    assert json.loads(evs[0][1]) == {"type": "reset", "topic": None, "id": None,
                                     "cause": "epoch"}
    c.close()
    for q in ("since=abc", "since=other:1-1"):
        c = SSEClient(srv.port, f"/ta?{q}")
        assert c.status == 400, q
        c.close()


def test_sse_resume_exhausted_gets_reset_with_the_current_id(wspush):
    srv = wspush("--workers", "1", "--history-size", "10")
    since = sse_last_id(srv, "x")
    for i in range(30):
        srv.admin.publish("x", f"m{i}")
    cur = f"{epoch(since)}-{seq(since) + 30}"
    c = SSEClient(srv.port, "/x", {"Last-Event-ID": since})
    evs = c.wait(lambda p: p.events, what="the reset event")
    assert evs[0] == ("reset", json.dumps({"type": "reset", "topic": "x", "id": cur,
                                           "cause": "gap"}, separators=(",", ":")), cur)
    srv.admin.publish("x", "after")  # still subscribed: live goes on
    evs = c.wait(lambda p: len(p.events) == 2)
    assert evs[1] == ("x", "after", f"{epoch(cur)}-{seq(cur) + 1}")
    c.close()
    # the browser now sends the reset's id: nothing missed, nothing replayed
    c = SSEClient(srv.port, "/x", {"Last-Event-ID": evs[1][2]})
    open_streams(srv, 1)
    srv.admin.publish("x", "next")
    assert c.wait(lambda p: p.events)[0][:2] == ("x", "next")
    c.close()
    # an id that is not one: reset too
    c = SSEClient(srv.port, "/x", {"Last-Event-ID": "garbage"})
    assert c.wait(lambda p: p.events)[0][0] == "reset"
    c.close()
    assert "wspush_sse_resets_total 2" in srv.metrics()


def test_sse_restart_new_epoch_reset(wspush):
    srv = wspush("--history-size", "50")
    since = sse_last_id(srv, "r")
    srv.stop()
    srv2 = wspush("--history-size", "50")
    c = SSEClient(srv2.port, "/r", {"Last-Event-ID": since})
    evs = c.wait(lambda p: p.events, what="the reset event")
    body = json.loads(evs[0][1])
    assert evs[0][0] == "reset" and body["cause"] == "epoch", evs
    assert epoch(body["id"]) != epoch(since) and evs[0][2] == body["id"]
    c.close()


def test_sse_history_off_reset_clears_the_id(wspush):
    srv = wspush("--workers", "1")
    for n, (headers, path) in enumerate((({"Last-Event-ID": "17-4"}, "/news"),
                                         ({}, "/news?lastEventId=9-1")), 1):
        c = SSEClient(srv.port, path, headers)
        evs = c.wait(lambda p: p.events, what="the reset event")
        assert evs[0][0] == "reset"
        assert json.loads(evs[0][1]) == {"type": "reset", "topic": "news", "id": None,
                                         "cause": "off"}
        assert evs[0][2] == ""  # the empty id clears the client's last id
        srv.admin.publish("news", "after")
        c.wait(lambda p: len(p.events) == 2)
        assert ids(c.p.events)[1] == ("news", "after", f"#{n}")
        c.close()
    # no id: no reset
    c = SSEClient(srv.port, "/news")
    open_streams(srv, 1)
    srv.admin.publish("news", "x")
    c.wait(lambda p: p.events)
    assert ids(c.p.events) == [("news", "x", "#3")]
    assert "wspush_sse_resets_total 2" in srv.metrics()
    c.close()


def test_sse_needs_the_accept_header(wspush):
    srv = wspush("--workers", "1")
    r = http_raw(srv.port, b"GET /news HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
    assert r.status == 404
    r = http_raw(srv.port, b"GET /bad%20topic HTTP/1.1\r\nHost: x\r\n"
                           b"Accept: text/event-stream\r\n\r\n")
    assert r.status == 400


def test_sse_cors(wspush):
    srv = wspush("--workers", "1", "--allow-origin", "https://good.example")
    pre = (b"OPTIONS /news HTTP/1.1\r\nHost: x\r\nOrigin: https://good.example\r\n"
           b"Access-Control-Request-Method: GET\r\n"
           b"Access-Control-Request-Headers: last-event-id\r\n\r\n")
    r = http_raw(srv.port, pre)
    assert r.status == 204
    assert r.headers["access-control-allow-origin"] == "https://good.example"
    assert "GET" in r.headers["access-control-allow-methods"]
    assert "last-event-id" in r.headers["access-control-allow-headers"].lower()
    r = http_raw(srv.port, pre.replace(b"good.example", b"evil.example"))
    assert r.status == 403
    c = SSEClient(srv.port, "/news", {"Origin": "https://good.example", "Cookie": "a=b"})
    assert c.status == 200
    assert c.headers["access-control-allow-origin"] == "https://good.example"
    assert c.headers["access-control-allow-credentials"] == "true"
    assert c.headers["vary"] == "Origin"
    c.close()
    c = SSEClient(srv.port, "/news", {"Origin": "https://good.example"})
    assert "access-control-allow-credentials" not in c.headers
    c.close()
    bad = SSEClient(srv.port, "/news", {"Origin": "https://evil.example"})
    assert bad.status == 403
    bad.close()


SECRET = b"integration-test-hmac-key-0123456789-abcdef"


def tok(topics, exp_in=3600):
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + exp_in, "topics": topics},
                      SECRET, "HS256")


def test_sse_tokens(wspush, tmp_path):
    key = tmp_path / "hmac.key"
    key.write_bytes(SECRET)
    srv = wspush("--workers", "1", "--auth-hmac-key-file", str(key), "--public-topics", "pub")
    assert SSEClient(srv.port, "/orders").status == 401
    assert SSEClient(srv.port, "/orders?token=" + tok(["other"])).status == 403
    pub = SSEClient(srv.port, "/pub")
    assert pub.status == 200
    c = SSEClient(srv.port, "/orders", {"Authorization": "Bearer " + tok(["orders"])})
    assert c.status == 200
    open_streams(srv, 2)
    srv.admin.publish("orders", "o1")
    c.wait(lambda p: p.events)
    assert ids(c.p.events) == [("orders", "o1", "#1")]
    m = srv.metrics()
    assert 'wspush_auth_refused_total{reason="missing"} 1' in m
    assert 'wspush_auth_refused_total{reason="topic_denied"} 1' in m
    c.close()
    pub.close()


def test_sse_slow_reader_meets_the_policy(wspush):
    srv = wspush("--workers", "1", "--slow-policy", "close", "--max-backlog", "65536")
    c = SSEClient(srv.port, "/flood", rcvbuf=4096)
    open_streams(srv, 1)
    body = b"x" * 16384
    sent = 0
    # the reader reads nothing: the socket fills, then the backlog, then
    # the policy closes the stream
    while srv.stats()["slow"]["close"] == 0:
        publish_pipelined(srv.admin_port, "flood", [body] * 64)
        sent += 64
        assert sent < 20000, "the slow-consumer policy never applied"
    c.wait_eof(timeout=T(15))  # the stream ends once what was queued is out (or the deadline)
    open_streams(srv, 0)
    assert srv.stats()["queued_bytes"] == 0


def test_sse_drain_ends_the_stream(wspush):
    srv = wspush("--workers", "1", "--drain-timeout", "2s")
    c = SSEClient(srv.port, "/news")
    open_streams(srv, 1)
    os.kill(srv.pid, signal.SIGTERM)
    c.wait_eof()  # the drain ends the stream (SSE has no 1012: EventSource just reconnects)
    assert srv.stop() == 0


def test_sse_reset_for_the_longest_topic_name(wspush):
    """A reset names its topic in JSON: a topic of the longest length a
    name may have (128 bytes) gets its reset like any other, and the worker
    goes on (fuzz_conn found the reset's buffer sized for ~70 bytes, and an
    always-on assertion ended the worker)."""
    srv = wspush("--workers", "1")
    topic = "t" * 128
    c = SSEClient(srv.port, f"/{topic}?lastEventId=a%0%A")
    evs = c.wait(lambda p: p.events, what="the reset event")
    assert evs[0][0] == "reset"
    assert json.loads(evs[0][1]) == {"type": "reset", "topic": topic, "id": None, "cause": "off"}
    c.close()
    c = SSEClient(srv.port, "/after")  # the same worker still serves
    open_streams(srv, 1)
    c.close()
