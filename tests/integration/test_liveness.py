"""Liveness that scales (issue 16, goal 2).

A connection whose peer's TCP acknowledged our data within the ping interval
is proven alive without a ping (wspush_pings_skipped_total): a push-only
client of a ticking topic is never pinged. Pings that are sent spread over
the interval, not in one wave per burst of connections. (A pong already
waiting in the socket when the deadline is judged counts: test_hostile.py,
test_pong_waiting_in_the_socket_is_read_before_the_deadline_is_judged.)"""
import os
import re
import time

from conftest import OP_PING, OP_PONG, OP_TEXT, RawWS, T, publish_pipelined, wait_until
from test_integrity import _metric


def test_a_client_that_acks_pushes_is_not_pinged(wspush):
    srv = wspush("--workers", "1", "--tick", "1s", "--ping-interval", "2s", "--pong-timeout", "2s")
    with RawWS(srv.port, "/", timeout=T(10)) as ws:
        srv.wait_connections(1)
        ticks = 0
        while ticks < 8:  # four ping intervals
            f = ws.recv_frame()
            assert f.opcode != OP_PING, f"pinged after {ticks} ticks"
            assert f.opcode == OP_TEXT, f
            ticks += 1
        assert _metric(srv, "wspush_pings_skipped_total") >= 2
        assert _metric(srv, "wspush_pings_sent_total") == 0
    # an idle client (nothing to ack) is still pinged
    srv2 = wspush("--workers", "1", "--ping-interval", "2s", "--pong-timeout", "5s")
    with RawWS(srv2.port, "/", timeout=T(10)) as ws:
        f = ws.recv_frame()
        assert f.opcode == OP_PING, f
        ws.send(OP_PONG, f.payload)
    assert _metric(srv2, "wspush_pings_sent_total") >= 1


def test_pings_spread_over_the_interval(wspush):
    """20 connections made at once: their first pings come over several
    seconds of the 4 s interval, not in the same second."""
    srv = wspush("--workers", "1", "--ping-interval", "4s", "--pong-timeout", "10s")
    n = 20
    clients = [RawWS(srv.port, "/", timeout=T(15)) for _ in range(n)]
    try:
        srv.wait_connections(n)
        first = {}
        t0 = time.monotonic()

        def poll():
            for i, c in enumerate(clients):
                if i in first:
                    continue
                c.sock.setblocking(False)
                try:
                    chunk = c.sock.recv(4096)
                except BlockingIOError:
                    chunk = b""
                finally:
                    c.sock.settimeout(c.timeout)
                if chunk:
                    assert chunk[0] & 0xF == OP_PING, chunk
                    first[i] = time.monotonic() - t0
                    c.send(OP_PONG, chunk[2:2 + (chunk[1] & 0x7F)])
            return len(first) == n

        wait_until(poll, T(20), "a first ping on every connection", interval=0.01)
        spread = max(first.values()) - min(first.values())
        assert spread >= 1.5, sorted(first.values())
    finally:
        for c in clients:
            c.shutdown()


def test_a_slow_reader_is_not_closed_while_our_ping_waits_behind_its_queue(wspush):
    """A client that reads, slowly, what was queued for it cannot answer a
    ping still queued behind that output: the pong deadline is put off while
    it takes data, and runs from when the ping left."""
    srv = wspush("--workers", "1", "--ping-interval", "1s", "--pong-timeout", "2s",
                 "--max-backlog", "64MiB")
    big = [f"{i:04d}:".encode().ljust(64 * 1024, b"x") for i in range(192)]  # 12 MiB
    with RawWS(srv.port, "/big", rcvbuf=16384, timeout=T(60)) as ws:
        srv.wait_connections(1)
        publish_pipelined(srv.admin_port, "big", big)
        # the reader: slow for 6 s (16 KiB per 50 ms, the condition under
        # test: the kernel's buffers take ~4 MiB, the rest stays queued in
        # the server with the ping behind it past the 3 s pong deadline),
        # then as fast as it can, until every data frame is in
        need = sum(10 + len(b) for b in big)
        slow_until = time.monotonic() + 6
        while len(ws.buf) < need:
            chunk = ws.sock.recv(16384)
            assert chunk, "closed while reading"
            ws.buf += chunk
            if time.monotonic() < slow_until:
                time.sleep(0.05)
        got = []
        while len(got) < len(big):
            f = ws.recv_frame()
            if f.opcode == OP_PING:
                ws.send(OP_PONG, f.payload)
                continue
            assert f.opcode == OP_TEXT, (f, f.close_code)
            got.append(f.payload)
        assert got == big
        assert _metric(srv, "wspush_pongs_deferred_total") >= 1
        srv.admin.publish("big", "still open")
        while True:
            f = ws.recv_frame()
            if f.opcode == OP_PING:
                ws.send(OP_PONG, f.payload)
                continue
            assert (f.opcode, f.payload) == (OP_TEXT, b"still open"), (f, f.close_code)
            break


def test_a_client_that_takes_nothing_is_still_closed_for_its_ping(wspush):
    """The same queue behind the ping, but the client reads nothing: no
    progress for a whole pong timeout, so it is judged as before."""
    srv = wspush("--workers", "1", "--ping-interval", "1s", "--pong-timeout", "2s",
                 "--max-backlog", "64MiB")
    big = [f"{i:04d}:".encode().ljust(64 * 1024, b"x") for i in range(192)]
    with RawWS(srv.port, "/big", rcvbuf=16384, timeout=T(60)):
        srv.wait_connections(1)
        publish_pipelined(srv.admin_port, "big", big)
        srv.wait_connections(0, T(20))
    assert _metric(srv, "wspush_pongs_deferred_total") == 0
    assert 'wspush_disconnects_total{code="1001"} 1' in srv.metrics()


def _gauge(srv, name):
    m = re.search(rf"^{name} ([0-9.e+-]+)$", srv.metrics(), re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def test_ping_budget_stretches_the_interval_with_the_connections(wspush):
    """--ping-budget N: at most N pings per second per core. 12 idle
    clients on one worker with a budget of 1 ping/s per core cannot all be
    pinged every 2 s, so the worker's interval becomes 12 / cores seconds
    (the gauge, and the interval the pings then keep); with the default
    budget the interval stays 2 s. Every client answers: none is closed."""
    ncpu = os.sysconf("SC_NPROCESSORS_ONLN")
    want = max(2.0, 12 / ncpu)
    for budget, expect in (("1", want), ("5000", 2.0)):
        srv = wspush("--workers", "1", "--ping-interval", "2s", "--pong-timeout", "10s",
                     "--ping-budget", budget)
        clients = [RawWS(srv.port, "/", timeout=T(15)) for _ in range(12)]
        try:
            srv.wait_connections(12)
            wait_until(lambda: _gauge(srv, "wspush_ping_interval_seconds") == expect, T(5),
                       f"ping interval {expect} s with --ping-budget {budget}")
            for c in clients:  # answer a first ping each
                f = c.recv_frame()
                assert f.opcode == OP_PING, f
                c.send(OP_PONG, f.payload)
            assert srv.stats()["connections"] == 12
            assert srv.stats()["workers"][0]["deadline_ticks"]["ping"] == int(expect + 0.999) + 1
        finally:
            for c in clients:
                c.shutdown()
