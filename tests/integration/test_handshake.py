"""The opening handshake and plain HTTP on the public port: every bad
request gets its exact status, good ones get 101 with the right
Sec-WebSocket-Accept, subprotocol negotiation, Origin allow-list,
--max-conns, /healthz and /demo."""
import asyncio
import base64
import json
import os

import pytest
import websockets

from conftest import OP_PING, OP_PONG, T, RawWS, http_get, http_raw

GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3


def upgrade(port, path="/", method="GET", version="1.1", drop=(), extra=None, override=None):
    """A raw upgrade request: the standard headers minus `drop`, with
    `override` values and `extra` (list of (name, value)) appended."""
    hs = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
          "Sec-WebSocket-Key": GOOD_KEY, "Sec-WebSocket-Version": "13"}
    hs.update(override or {})
    lines = [f"{method} {path} HTTP/{version}"]
    lines += [f"{k}: {v}" for k, v in hs.items() if k not in drop]
    lines += [f"{k}: {v}" for k, v in (extra or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture(scope="module")
def srv(wspush_module):
    return wspush_module("--workers", "1", "--max-topics", "4", "--max-headers", "20",
                         "--max-head", "4096", "--protocol", "v2.wspush,v1.wspush")


@pytest.fixture(scope="module")
def origin_srv(wspush_module):
    return wspush_module("--workers", "1", "--allow-origin",
                         "https://good.example,https://also.example")


def test_good_handshake_rfc_example(srv):
    r = http_raw(srv.port, upgrade(srv.port))
    assert r.status == 101
    assert r.headers["upgrade"].lower() == "websocket"
    assert "upgrade" in r.headers["connection"].lower()
    assert r.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert "sec-websocket-protocol" not in r.headers


@pytest.mark.parametrize("case,req_kw,status", [
    ("missing Upgrade", dict(drop=("Upgrade",)), 400),
    ("missing Connection", dict(drop=("Connection",)), 400),
    ("missing Key", dict(drop=("Sec-WebSocket-Key",)), 400),
    ("missing Host", dict(drop=("Host",)), 400),
    ("key not base64 of 16 bytes", dict(override={"Sec-WebSocket-Key": "c2hvcnQ="}), 400),
    ("key with bad characters", dict(override={"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25j*Q=="}), 400),
    ("two keys", dict(extra=[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]), 400),
    ("Upgrade not websocket", dict(override={"Upgrade": "h2c"}), 400),
    ("POST upgrade", dict(method="POST"), 405),
    ("HTTP/1.0", dict(version="1.0"), 400),
    ("bad topic name (space)", dict(path="/a%20b"), 400),
    ("bad topic name (too long)", dict(path="/" + "t" * 129), 400),
    ("bad topic in query", dict(path="/?topic="), 400),
    ("too many topics", dict(path="/a?topic=b&topic=c&topic=d&topic=e"), 400),
])
def test_bad_handshake_status(srv, case, req_kw, status):
    r = http_raw(srv.port, upgrade(srv.port, **req_kw))
    assert r.status == status, (case, r)
    assert "sec-websocket-accept" not in r.headers


def test_max_topics_exactly_allowed(srv):
    # path topic + 3 query topics = 4 = --max-topics; a repeat does not count
    with RawWS(srv.port, "/a?topic=b&topic=c&topic=d&topic=a") as ws:
        ws.send(OP_PING, b"x")
        assert ws.recv_frame().opcode == OP_PONG


@pytest.mark.parametrize("version", ["12", "8", "14", ""])
def test_wrong_version_426(srv, version):
    r = http_raw(srv.port, upgrade(srv.port, override={"Sec-WebSocket-Version": version}))
    assert r.status == 426, r
    assert r.headers.get("sec-websocket-version") == "13", r.headers


def test_missing_version_426(srv):
    r = http_raw(srv.port, upgrade(srv.port, drop=("Sec-WebSocket-Version",)))
    assert r.status == 426, r
    assert r.headers.get("sec-websocket-version") == "13"


def test_oversized_head_431(srv):
    r = http_raw(srv.port, upgrade(srv.port, extra=[("X-Big", "b" * 5000)]))
    assert r.status == 431, r


def test_too_many_headers_431(srv):
    extra = [(f"X-H{i}", "v") for i in range(20)]
    r = http_raw(srv.port, upgrade(srv.port, extra=extra))
    assert r.status == 431, r


def test_garbage_request_400(srv):
    r = http_raw(srv.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    assert r.status == 400, r


def test_not_found_404(srv):
    assert http_get(srv.port, "/nothing").status == 404
    assert http_get(srv.port, "/news").status == 404  # topics only via upgrade


def test_healthz_json(srv):
    with RawWS(srv.port, "/news"), RawWS(srv.port, "/"):
        srv.wait_connections(2)
        r = http_get(srv.port, "/healthz")
        assert r.status == 200
        assert r.headers["content-type"].startswith("application/json")
        body = json.loads(r.body)
        assert body["status"] == "ok"
        assert body["connections"] == 2


def test_healthz_post_405(srv):
    r = http_raw(srv.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert r.status == 405


def test_demo_page(srv):
    r = http_get(srv.port, "/demo")
    if r.status == 404 and b"not built into this binary" in r.body:
        pytest.skip("web/demo.html is not in the tree yet (asset not embedded)")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/html")
    assert b"<html" in r.body.lower() or b"<!doctype" in r.body.lower()


def test_subprotocol_negotiation(srv):
    # server preference order wins over the client's
    with RawWS(srv.port, "/", protocols=["v1.wspush", "v2.wspush"]) as ws:
        assert ws.response_headers.get("sec-websocket-protocol") == "v2.wspush"
    with RawWS(srv.port, "/", protocols=["other", "v1.wspush"]) as ws:
        assert ws.response_headers.get("sec-websocket-protocol") == "v1.wspush"
    # nothing in common, or a case mismatch: no protocol header
    with RawWS(srv.port, "/", protocols=["other", "V2.WSPUSH"]) as ws:
        assert "sec-websocket-protocol" not in ws.response_headers
    with RawWS(srv.port, "/") as ws:
        assert "sec-websocket-protocol" not in ws.response_headers

    async def lib():
        async with websockets.connect(srv.ws_url("/"), subprotocols=["v1.wspush"],
                                      ping_interval=None) as ws:
            assert ws.subprotocol == "v1.wspush"
    asyncio.run(lib())


def test_no_origin_is_let_through(origin_srv):
    # ws_handshake.c: the allow-list protects browsers, which always send
    # Origin; a client without one (not a browser) is accepted
    with RawWS(origin_srv.port, "/") as ws:
        ws.send(OP_PING, b"n")
        assert ws.recv_frame().payload == b"n"


def test_origin_allowed(origin_srv):
    for origin in ("https://good.example", "https://also.example"):
        with RawWS(origin_srv.port, "/", headers={"Origin": origin}) as ws:
            ws.send(OP_PING, b"o")
            assert ws.recv_frame().payload == b"o"


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "https://good.example.evil"},
    {"Origin": "null"},
])
def test_origin_refused_403(origin_srv, headers):
    extra = list(headers.items())
    r = http_raw(origin_srv.port, upgrade(origin_srv.port, extra=extra))
    assert r.status == 403, r


def test_max_conns_503(wspush):
    s = wspush("--workers", "1", "--max-conns", "3")
    clients = [RawWS(s.port, "/") for _ in range(3)]
    try:
        s.wait_connections(3)
        r = http_raw(s.port, upgrade(s.port))
        assert r.status == 503, r
        last = clients.pop()
        assert last.close(1000).close_code == 1000
        last.shutdown()
        s.wait_connections(2)
        clients.append(RawWS(s.port, "/"))  # room again
    finally:
        for c in clients:
            c.shutdown()


def test_handshake_timeout(wspush):
    s = wspush("--workers", "1", "--handshake-timeout", "1s")
    import socket
    import time
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        sock.settimeout(T(6))
        t0 = time.monotonic()
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            data = b""
        assert data == b"", data
        assert time.monotonic() - t0 < T(5)


def test_random_keys_accepted(srv):
    for _ in range(5):
        key = base64.b64encode(os.urandom(16)).decode()
        r = http_raw(srv.port, upgrade(srv.port, override={"Sec-WebSocket-Key": key}))
        assert r.status == 101
