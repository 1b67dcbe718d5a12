"""Faults: a worker killed or stopped during a publish burst, an admin
client hanging up mid-body, a publish over the ring's entry limit, and the
accept rate limit. In each case the clients that are not directly hit lose
nothing, and the server carries on."""
import os
import signal
import socket
import time

import pytest

from conftest import OP_TEXT, RawWS, T, http_raw, wait_until
from hostile_util import GoodClients, Publisher

N = 200


@pytest.fixture(scope="module")
def srv(wspush_module):
    return wspush_module("--workers", "2")


def test_sigkill_worker_during_burst(srv):
    srv.allow_worker_deaths = True  # this test kills one on purpose
    good = GoodClients(srv.port, "burst", N)
    good.start(srv)
    try:
        pub = Publisher(srv.admin_port, "burst", interval=0.005)
        pub.start()
        wait_until(lambda: pub.published >= 50, T(10), "burst under way")
        victim = srv.stats()["workers"][0]
        os.kill(victim["pid"], signal.SIGKILL)
        wait_until(lambda: pub.published >= 150, T(10), "burst continues")
        published = pub.stop()
        assert not pub.failures, pub.failures[:5]
        st = srv.wait_stats(lambda s: s["workers"][0]["restarts"] == 1 and
                            s["workers"][0]["pid"] not in (0, victim["pid"]),
                            T(10), "worker restarted")
        survivors = [i for i in range(N) if good.closed[i] is None]
        cut = [i for i in range(N) if good.closed[i] is not None]
        assert survivors and cut, (len(survivors), len(cut))  # both workers had clients
        behind = good.wait_all(published, T(15), survivors)
        assert not behind, f"{len(behind)} clients on the other worker lost messages"
        assert sum(good.gaps) == 0
        assert st["workers"][1]["restarts"] == 0
    finally:
        good.stop()
    # the restarted worker serves again
    for _ in range(8):
        with RawWS(srv.port, "/burst") as ws:
            srv.admin.publish("burst", "again")
            assert ws.recv_frame().payload == b"again"


def test_sigstop_worker_for_5s(srv):
    good = GoodClients(srv.port, "stop", N)
    # the previous test's clients are gone before the baseline is read: a
    # count read while some were still being closed made the baseline too
    # high for these N to ever reach (seen once in CI, on a busy run)
    srv.wait_stats(lambda s: s["connections"] == 0, T(30), "the previous test's clients gone")
    good.start(srv, baseline=0)
    pub = Publisher(srv.admin_port, "stop", interval=0.05)
    try:
        pub.start()
        wait_until(lambda: pub.published >= 10, T(10), "publishing")
        victim = srv.stats()["workers"][1]["pid"]
        os.kill(victim, signal.SIGSTOP)
        try:
            # the fault lasts until ~60 messages went out (3 s at 20/s) and
            # the clients split: those of the running worker keep up, those
            # of the stopped one fall behind
            wait_until(lambda: pub.published >= 60, T(20), "60 publishes during the stop")

            def split():
                now = pub.published
                live = [i for i in range(N) if good.last[i] >= now - 3]
                stalled = [i for i in range(N) if good.last[i] < now - 10]
                return (now, live, stalled) if live and len(live) + len(stalled) == N else None
            now, live, stalled = wait_until(split, T(10), "live clients caught up, the rest stalled")
            # the stopped worker's backlog grows by 20 more messages
            wait_until(lambda: pub.published >= now + 20, T(10), "20 more publishes")
        finally:
            os.kill(victim, signal.SIGCONT)
        # the master and the other worker carried on
        assert now >= 60 and not pub.failures, (now, pub.failures[:5])
        assert live and stalled, (len(live), len(stalled))
        assert len(live) + len(stalled) == N
        published = pub.stop()
        behind = good.wait_all(published, T(15))
        assert not behind, f"{len(behind)} clients did not catch up"
        assert sum(good.gaps) == 0
        assert all(c is None for c in good.closed)
        assert srv.stats()["workers"][1]["pid"] == victim  # stopped, not restarted
    finally:
        pub.stop()
        good.stop()


def test_admin_client_hangs_up_mid_body(srv):
    before = srv.stats()["published"]["http"]
    with RawWS(srv.port, "/mid") as ws:
        s = socket.create_connection(("127.0.0.1", srv.admin_port))
        s.sendall(b"POST /publish/mid HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
                  b"only ten b")
        s.close()
        srv.admin.publish("mid", "whole")
        assert ws.recv_frame().payload == b"whole"  # and not the partial one first
    assert srv.stats()["published"]["http"] == before + 1


def test_publish_over_ring_entry_limit_is_413(wspush):
    s = wspush("--workers", "1", "--ring-size", "64KiB")
    assert s.stats()["ring"]["max_entry"] <= 16 * 1024
    with RawWS(s.port, "/big") as ws:
        r = s.admin.request("POST", "/publish/big", "x" * (20 * 1024),
                            {"Content-Type": "text/plain"})
        assert r.status == 413, r
        ok = bytes(range(32, 127)) * 100  # 9.5 KiB: fits
        s.admin.publish("big", ok)
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, ok)
    assert s.stats()["published"]["http"] == 1


def test_accept_rate_defers_a_burst(wspush):
    s = wspush("--workers", "1", "--accept-rate", "20")
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    req = (f"GET /r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    t0 = time.monotonic()
    socks = []
    for _ in range(60):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=T(10))
        c.sendall(req)
        socks.append(c)
    for c in socks:
        assert c.recv(4096).startswith(b"HTTP/1.1 101 "), "every deferred connection is served"
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.0, elapsed  # 60 at 20/s: at least two sweeps
    m = s.metrics()
    paused = [l for l in m.splitlines() if l.startswith("wspush_accept_paused_total ")]
    assert paused and int(float(paused[0].split()[1])) >= 2, paused
    for c in socks:
        c.close()
    s.wait_connections(0)
    assert http_raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_msg_rate_and_pong_timeout(wspush):
    s = wspush("--workers", "1", "--msg-rate", "10", "--ping-interval", "1s",
               "--pong-timeout", "1s")
    with RawWS(s.port, "/r") as ws:
        for i in range(50):
            ws.send(OP_TEXT, f"m{i}")
        assert ws.recv_close_code(T(5)) == 1008
    with RawWS(s.port, "/p") as ws:
        t0 = time.monotonic()
        f = ws.recv_frame(T(5))
        assert f.opcode == 0x9  # the server's ping, left unanswered
        assert ws.recv_close_code(T(6)) == 1001
        assert time.monotonic() - t0 < T(8)
