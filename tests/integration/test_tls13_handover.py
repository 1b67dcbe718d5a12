"""test_tls13_handover.py - after its handshake a TLS 1.3 connection's
records leave OpenSSL for wspush's own record layer (src/tls/tls13rec.c,
issue 16 goal 8); a TLS 1.2 connection keeps OpenSSL's. Seen from a
client (Python's ssl, which is OpenSSL too) nothing changes: every message
arrives intact, also when the socket fills and records go out in pieces,
pings from the client are answered, and a close is clean. The metrics say
which connections were handed over."""
import asyncio
import os
import re
import socket
import ssl

import pytest
import websockets

from conftest import T, make_cert, wait_until


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(str(tmp_path_factory.mktemp("certs")), "localhost")


def client_ctx(crt, version):
    ctx = ssl.create_default_context(cafile=crt)
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def metric(text, name):
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def test_tls13_hands_over_tls12_keeps_openssl(wspush, cert):
    crt, key = cert
    srv = wspush("--workers", "1", "--tls-cert", crt, "--tls-key", key)
    url = f"wss://localhost:{srv.port}/news"
    texts = ["hello", "é€😀" * 3000]
    blobs = [os.urandom(50_000) for _ in range(4)]  # records of 16 KiB, more than a socket takes

    async def connect(version):
        # a small receive buffer, so the server's socket fills while this
        # client does not read and records go out in pieces
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        return await websockets.connect(url, sock=s, ssl=client_ctx(crt, version),
                                        server_hostname="localhost", max_size=None)

    async def run():
        a = await connect(ssl.TLSVersion.TLSv1_3)
        b = await connect(ssl.TLSVersion.TLSv1_2)
        assert a.transport.get_extra_info("ssl_object").version() == "TLSv1.3"
        assert b.transport.get_extra_info("ssl_object").version() == "TLSv1.2"
        # published while this loop is blocked: nobody reads meanwhile
        for t in texts:
            srv.admin.publish("news", t)
        for x in blobs:
            srv.admin.publish("news", x, binary=True)
        for ws in (a, b):
            got = [await asyncio.wait_for(ws.recv(), T(10)) for _ in texts + blobs]
            assert got == texts + blobs
        # the client's records after the hand-over: pings, then a close
        for ws in (a, b):
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, T(10))
        for ws in (a, b):
            await ws.close()
            assert ws.close_code == 1000

    asyncio.run(run())
    wait_until(lambda: metric(srv.metrics(), "wspush_tls_handovers_total") == 1, T(5),
               "one connection handed over")
    m = srv.metrics()
    assert metric(m, "wspush_tls_kept_total") == 1, m
    wait_until(lambda: srv.stats()["workers"][0]["connections"] == 0, T(5), "both closed")
