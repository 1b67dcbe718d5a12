"""test_tls_deflate.py - wss:// and permessage-deflate (RFC 7692), both
without giving up encode-once; and the dashboard feed's token in the query.

Certificates are made by the test with `openssl req` (self-signed, one for
"localhost" and one for "other.test" to check SNI)."""
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import zlib

import pytest
import websockets

from conftest import (OP_BINARY, OP_TEXT, RawWS, T, build_frame, http_raw, make_cert,
                      wait_until)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    return {"localhost": make_cert(d, "localhost"), "other.test": make_cert(d, "other.test")}


def client_ctx(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx


async def collect(url, n, compression, ctx=None, server_hostname=None):
    kw = {"compression": compression}
    if ctx:
        kw["ssl"] = ctx
        if server_hostname:
            kw["server_hostname"] = server_hostname
    ws = await websockets.connect(url, **kw)
    return ws


def publish_all(srv, topic, bodies, binary=False):
    for b in bodies:
        srv.admin.publish(topic, b, binary=binary)


@pytest.mark.parametrize("tls", [False, True])
def test_every_message_intact_with_and_without_compression(wspush, certs, tls):
    crt, key = certs["localhost"]
    args = ["--workers", "2", "--deflate-min", "64"]
    if tls:
        args += ["--tls-cert", crt, "--tls-key", key]
    srv = wspush(*args)
    scheme = "wss" if tls else "ws"
    url = f"{scheme}://localhost:{srv.port}/news"
    ctx = client_ctx(crt) if tls else None
    texts = ["short", "x" * 63, "y" * 64, "hello world " * 500, "é€😀" * 300]
    binaries = [bytes(range(256)) * 8, b"\x00" * 5000, os.urandom(3000)]

    async def run():
        z = [await collect(url, 0, "deflate", ctx) for _ in range(3)]
        p = [await collect(url, 0, None, ctx) for _ in range(3)]
        for ws in z:
            assert "permessage-deflate" in ws.response_headers.get("Sec-WebSocket-Extensions", "")
        for ws in p:
            assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
        await asyncio.get_running_loop().run_in_executor(None, publish_all, srv, "news", texts)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: publish_all(srv, "news", binaries, binary=True))
        for ws in z + p:
            got = [await asyncio.wait_for(ws.recv(), T(10)) for _ in texts + binaries]
            assert got == texts + binaries
        for ws in z + p:
            await ws.close()

    asyncio.run(run())
    # compression happened once per publish and saved bytes: the three
    # compressing clients cost far less than the three plain ones
    st = srv.stats()
    plain_bytes = sum(len(t.encode()) for t in texts) + sum(len(b) for b in binaries)
    assert st["bytes_sent"] < 6 * plain_bytes, st["bytes_sent"]


def test_compressed_frame_is_shared_and_inflates(wspush):
    """Two raw deflate clients get byte-identical compressed frames (RSV1 set)
    that inflate (raw deflate + 00 00 ff ff) to the published text."""
    srv = wspush("--workers", "1", "--deflate-min", "16")
    ext = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    a, b = RawWS(srv.port, "/t", headers=ext), RawWS(srv.port, "/t", headers=ext)
    for ws in (a, b):
        assert "server_no_context_takeover" in ws.response_headers["sec-websocket-extensions"]
    msg = "compress me once " * 40
    srv.admin.publish("t", msg)
    fa, fb = a.recv_frame(), b.recv_frame()
    assert fa.rsv == 4 and fb.rsv == 4 and fa.opcode == OP_TEXT
    assert fa.payload == fb.payload and len(fa.payload) < len(msg)
    d = zlib.decompressobj(-15)
    assert d.decompress(fa.payload + b"\x00\x00\xff\xff").decode() == msg
    # a short message goes plain even on a deflate connection
    srv.admin.publish("t", "tiny")
    f = a.recv_frame()
    assert f.rsv == 0 and f.payload == b"tiny"
    a.shutdown()
    b.shutdown()


def deflate_raw(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_echo_with_compression(wspush):
    srv = wspush("--workers", "1", "--echo-path", "/echo")

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/echo",
                                      compression="deflate") as ws:
            for m in ["hi", "z" * 10000, b"\x01\x02" * 4000]:
                await ws.send(m)
                assert await asyncio.wait_for(ws.recv(), T(5)) == m

    asyncio.run(run())


def test_deflate_bomb_closes_1009(wspush):
    srv = wspush("--workers", "1", "--max-message", "64KiB", "--echo-path", "/echo")
    ext = {"Sec-WebSocket-Extensions": "permessage-deflate"}
    ws = RawWS(srv.port, "/echo", headers=ext)
    bomb = deflate_raw(b"\x00" * (8 << 20))  # 8 MiB of zeros in ~8 KiB
    assert len(bomb) < 64 * 1024
    ws.send(OP_BINARY, bomb, rsv=4)
    t0 = time.monotonic()
    assert ws.recv_close_code() == 1009
    assert time.monotonic() - t0 < T(5)
    # a good compressed message on a fresh connection still works
    ok = RawWS(srv.port, "/echo", headers=ext)
    ok.send(OP_TEXT, deflate_raw(b"fine"), rsv=4)
    f = ok.recv_frame()
    assert f.payload == b"fine" or zlib.decompressobj(-15).decompress(
        f.payload + b"\x00\x00\xff\xff") == b"fine"
    ok.shutdown()


def test_rsv1_without_negotiation_is_1002(wspush):
    srv = wspush("--workers", "1")
    ws = RawWS(srv.port, "/")
    ws.send(OP_TEXT, deflate_raw(b"hello"), rsv=4)
    assert ws.recv_close_code() == 1002


def test_bad_offers_fall_back_to_no_compression(wspush):
    srv = wspush("--workers", "1")
    for offer in ["permessage-deflate; server_max_window_bits=7",
                  "permessage-deflate; client_max_window_bits=99",
                  "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                  "permessage-deflate; unknown_param", "x-webkit-deflate-frame"]:
        ws = RawWS(srv.port, "/", headers={"Sec-WebSocket-Extensions": offer})
        assert "sec-websocket-extensions" not in ws.response_headers, offer
        ws.shutdown()
    # off entirely
    srv2 = wspush("--workers", "1", "--deflate", "off")
    ws = RawWS(srv2.port, "/", headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
    assert "sec-websocket-extensions" not in ws.response_headers
    ws.shutdown()


def test_tls_stalled_handshake_is_timed_out(wspush, certs):
    crt, key = certs["localhost"]
    srv = wspush("--workers", "1", "--tls-cert", crt, "--tls-key", key,
                 "--handshake-timeout", "1s")
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello, then nothing
    s.settimeout(T(6))
    t0 = time.monotonic()
    assert s.recv(100) == b""  # closed by the server
    assert time.monotonic() - t0 < T(5)
    s.close()
    # and a real client is served meanwhile
    async def run():
        async with websockets.connect(f"wss://localhost:{srv.port}/",
                                      ssl=client_ctx(crt)) as ws:
            await ws.ping()
    asyncio.run(run())


def test_tls_sni_and_reload_keep_connections(wspush, certs):
    (c1, k1), (c2, k2) = certs["localhost"], certs["other.test"]
    srv = wspush("--workers", "1", "--tls-cert", c1, "--tls-key", k1,
                 "--tls-cert", c2, "--tls-key", k2)

    def peer_cn(name):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            with ctx.wrap_socket(s, server_hostname=name) as t:
                der = t.getpeercert(binary_form=True)
                pem = ssl.DER_cert_to_PEM_cert(der)
                out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem.encode(),
                                     capture_output=True, check=True).stdout.decode()
                return out.strip()

    assert "localhost" in peer_cn("localhost")
    assert "other.test" in peer_cn("other.test")
    assert "localhost" in peer_cn("unknown.example")  # the default pair

    async def run():
        ws = await websockets.connect(f"wss://localhost:{srv.port}/r", ssl=client_ctx(c1))
        mark = srv.log_mark()
        os.kill(srv.pid, signal.SIGHUP)
        srv.wait_for_log(r"certificates reloaded", start=mark)
        await asyncio.get_running_loop().run_in_executor(None, srv.admin.publish, "r", "after")
        assert await asyncio.wait_for(ws.recv(), T(5)) == "after"
        ws2 = await websockets.connect(f"wss://localhost:{srv.port}/r", ssl=client_ctx(c1))
        await ws2.close()
        await ws.close()

    asyncio.run(run())
    assert "wspush_tls_reloads_total 1" in srv.metrics()


def test_live_feed_token_in_query(wspush):
    srv = wspush("--workers", "1", "--publish-token", "s3cret", token="s3cret")
    hs = ("GET /live{q} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert http_raw(srv.admin_port, hs.format(q="").encode()).status == 401
    assert http_raw(srv.admin_port, hs.format(q="?token=wrong").encode()).status == 401
    assert http_raw(srv.admin_port, hs.format(q="?token=s3cret").encode()).status == 101
    # the query token is for the read-only feed only, never for publishing
    r = http_raw(srv.admin_port, b"POST /publish/x?token=s3cret HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 2\r\n\r\nhi")
    assert r.status == 401


def test_mixed_plain_and_deflate_past_one_uring_batch(wspush):
    """Regression: with more subscribers on one worker than one io_uring batch
    (1,024), a full batch settled while handling a deflate client was checked
    against the compressed message's length, so plain clients' complete
    sends looked like overlong short writes (worker abort in outq). 1,200
    clients, every other one offering deflate, all get the message intact."""
    srv = wspush("--workers", "1", "--deflate-min", "64")
    msg = "mixed batch " * 100
    for parity in (0, 1):
        async def run():
            socks = []
            for i in range(1200):
                socks.append(await websockets.connect(
                    f"ws://127.0.0.1:{srv.port}/mix",
                    compression="deflate" if i % 2 == parity else None))
            await asyncio.get_running_loop().run_in_executor(None, srv.admin.publish, "mix", msg)
            got = await asyncio.gather(*(asyncio.wait_for(s.recv(), T(20)) for s in socks))
            assert all(g == msg for g in got)
            await asyncio.gather(*(s.close() for s in socks))
        asyncio.run(run())
    assert srv.stats()["workers"][0]["restarts"] == 0
