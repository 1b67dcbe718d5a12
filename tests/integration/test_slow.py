"""Slow consumers: a client that never reads is handled per --slow-policy
(close: disconnected and counted in /stats slow.close; drop and latest: it
stays, the server's queued memory stays under --max-backlog) while 1,000
other clients keep receiving every message, in order and on time."""
import asyncio
import time

import pytest

from conftest import OP_TEXT, T, ConnectionClosed, RawWS, Swarm, publish_pipelined

BACKLOG = 64 * 1024
MSG_SIZE = 4096
N_MSGS = 200
N_FAST = 1000


def bodies(n, start=0, tag="S"):
    """n messages of MSG_SIZE bytes, tagged and numbered."""
    return [f"{tag}{i:06d}:".encode().ljust(MSG_SIZE, b".") for i in range(start, start + n)]


def seq_of(payload):
    return int(payload[1:7])


def fill(srv):
    """Fills the never-reading client's socket buffers (the kernel grows
    the server's send buffer to MiBs) through topic "fill", which only it
    has, in small steps until the server has to queue for it, staying well
    under the backlog cap. Returns the number of fill messages."""
    n = 0
    delivered = srv.stats()["deliveries"]
    while True:
        publish_pipelined(srv.admin_port, "fill", bodies(10, n, "F"))
        n += 10
        # judge the queue only once the worker has handed all ten to the
        # slow client (only it has topic "fill"): under load, reading
        # /stats before that let two steps' worth queue at once
        delivered += 10
        st = srv.wait_stats(lambda s: s["deliveries"] >= delivered, T(10),
                            "the fill step to be delivered")
        if st["queued_bytes"] > 0:
            assert st["queued_bytes"] < BACKLOG - 2 * MSG_SIZE, st["queued_bytes"]
            # nothing dropped or closed yet ("latest" may already have
            # replaced a queued fill message with a newer one)
            assert st["slow"]["close"] == 0 and st["slow"]["drop"] == 0, st["slow"]
            return n
        assert n < 5000, "the server never had to queue for the slow client"


def read_all(ws, first_timeout):
    """Frames until the connection ends or goes quiet: (S seqs, F seqs)."""
    s_seqs, f_seqs = [], []
    timeout = first_timeout
    while True:
        try:
            f = ws.recv_frame(timeout)
        except (TimeoutError, ConnectionClosed):
            return s_seqs, f_seqs
        assert f.opcode == OP_TEXT
        (s_seqs if f.payload[:1] == b"S" else f_seqs).append(seq_of(f.payload))
        timeout = 1.0


async def publish_and_check_fast(srv, sw, stuck, start, n):
    """Publishes n messages to topic "s" back to back; every fast client
    must get all of them, in order, within a few seconds."""
    msgs = bodies(n, start)
    before = sw.counts()
    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    resps = await loop.run_in_executor(None, publish_pipelined, srv.admin_port, "s", msgs)
    assert all(r["subscribers_notified"] == N_FAST + 1 for r in resps), resps[0]
    await sw.wait_for(lambda sw: all(c - b >= n for c, b in zip(sw.counts(), before)),
                      T(20), f"{n} messages at each of {N_FAST} fast clients")
    elapsed = time.monotonic() - t0
    want = [m.decode() for m in msgs]
    for i, (b, got) in enumerate(zip(before, sw.msgs)):
        assert [m for _, m in got[b:]] == want, f"fast client {i}: lost or reordered"
    assert all(c is None for c in sw.closed), "a fast client was disconnected"
    # on time: the last message reached everyone soon after the publish
    late = max(got[-1][0] for got in sw.msgs) - t0
    assert late < T(15), f"fast clients got the messages {late:.1f}s after publishing"
    return elapsed


def start(wspush, policy):
    return wspush("--workers", "2", "--slow-policy", policy, "--max-backlog", str(BACKLOG))


async def setup_clients(srv):
    sw = await Swarm.connect(srv.ws_url("/s"), N_FAST)
    # never reads (until we say so)
    stuck = RawWS(srv.port, "/s?topic=fill", rcvbuf=4096)
    srv.wait_connections(N_FAST + 1, T(15))
    nfill = fill(srv)
    return sw, stuck, nfill


def test_slow_policy_close(wspush):
    srv = start(wspush, "close")

    async def run():
        sw, stuck, nfill = await setup_clients(srv)
        try:
            await publish_and_check_fast(srv, sw, stuck, 0, N_MSGS)
            st = srv.wait_stats(lambda s: s["connections"] == N_FAST, T(10),
                                "the slow client to be disconnected")
            assert st["slow"]["close"] == 1, st["slow"]
            assert st["slow_consumer_events"] >= 1
            # what it gets: some complete messages, then the connection ends
            # (no close frame: it would queue behind the backlog)
            s_got, f_got = read_all(stuck, T(5))
            assert stuck.closed, "the slow client's connection was not ended"
            assert f_got == list(range(len(f_got))) and len(f_got) <= nfill
            assert s_got == list(range(len(s_got))) and len(s_got) < N_MSGS, s_got[-5:]
            m = srv.metrics()
            assert 'wspush_disconnects_total{code="1008"} 1' in m, \
                [l for l in m.splitlines() if "disconnects" in l]
            # the queue went with it
            st = srv.wait_stats(lambda s: s["queued_bytes"] == 0, T(5), "queued_bytes 0")
        finally:
            stuck.shutdown()
            await sw.close()
    asyncio.run(run())


@pytest.mark.parametrize("policy", ["drop", "latest"])
def test_slow_policy_drop_and_latest_bounded(wspush, policy):
    srv = start(wspush, policy)

    async def run():
        sw, stuck, nfill = await setup_clients(srv)
        try:
            await publish_and_check_fast(srv, sw, stuck, 0, N_MSGS)
            st = srv.stats()
            assert st["connections"] == N_FAST + 1  # the slow one stays
            assert st["slow"]["close"] == 0
            assert st["slow"]["drop"] + st["slow"]["latest"] > 0, st["slow"]
            # bounded: only the slow client has a queue, under the cap
            assert 0 < st["queued_bytes"] <= BACKLOG, st["queued_bytes"]
            # keep publishing far past the backlog: memory does not grow
            more = 4 * BACKLOG // MSG_SIZE
            await asyncio.get_running_loop().run_in_executor(
                None, publish_pipelined, srv.admin_port, "fill", bodies(more, nfill, "F"))
            st = srv.stats()
            assert 0 < st["queued_bytes"] <= BACKLOG, st["queued_bytes"]
            assert st["connections"] == N_FAST + 1

            # now it reads: each topic in order, with gaps; for "latest" the
            # newest message of each topic is still there
            s_got, f_got = read_all(stuck, T(5))
            assert not stuck.closed
            assert s_got and s_got == sorted(set(s_got)), s_got
            assert f_got == sorted(set(f_got)), f_got
            assert len(s_got) < N_MSGS and len(f_got) < nfill + more  # some dropped
            if policy == "latest":
                assert s_got[-1] == N_MSGS - 1, s_got[-5:]
                assert f_got[-1] == nfill + more - 1, f_got[-5:]
            # and it is a normal client again
            srv.wait_stats(lambda s: s["queued_bytes"] == 0, T(5), "queued_bytes 0")
            srv.admin.publish("s", "after")
            f = stuck.recv_frame()
            assert f.payload == b"after"
        finally:
            stuck.shutdown()
            await sw.close()
    asyncio.run(run())


def test_issue11_latest_queued_bytes_exact_after_leave(wspush):
    """Issue 11 item 16: with --slow-policy latest, replacing a queued
    message by a newer one of another size changed the queue but not the
    queued_bytes gauge; when the slow client left, the gauge wrapped to
    ~2^64. It must be back to exactly 0."""
    srv = wspush("--workers", "1", "--slow-policy", "latest", "--max-backlog", str(BACKLOG))
    stuck = RawWS(srv.port, "/fill?topic=a", rcvbuf=4096)
    try:
        srv.wait_connections(1)
        fill(srv)
        st = srv.stats()
        before = st["queued_bytes"]
        srv.admin.publish("a", "x")            # queued behind the fill messages
        srv.admin.publish("a", "y" * 3000)     # replaces it: 2999 bytes more
        st = srv.wait_stats(lambda s, d=st["deliveries"]: s["deliveries"] >= d + 2, T(5),
                            "both messages of topic a handled")
        # the queue holds the fill backlog plus the newest "a" (3000 + 4 header bytes)
        assert st["queued_bytes"] >= before + 3000, (before, st["queued_bytes"])
        assert st["queued_bytes"] <= BACKLOG, st["queued_bytes"]
    finally:
        stuck.abort()
    st = srv.wait_connections(0)
    assert st["queued_bytes"] == 0, st["queued_bytes"]
