"""Topics and publishing across 4 worker processes: a topic's messages
reach all of its subscribers on every worker and no one else, broadcasts
reach everyone, order is kept per topic for each client, and 10,000
messages published back-to-back over one keep-alive connection all arrive
in order."""
import asyncio
import threading
import time

import pytest

from conftest import OP_BINARY, OP_TEXT, T, RawWS, Swarm, publish_pipelined


@pytest.fixture(scope="module")
def srv4(wspush_module):
    return wspush_module("--workers", "4")


def test_topic_isolation_and_order_across_4_workers(srv4):
    srv = srv4
    groups = {"A": "/A", "B": "/B", "none": "/", "AB": "/?topic=A&topic=B"}
    names = list(groups)
    n = 200  # 50 per group: every group lands on every worker (p ~ 1 - 4 * 0.75^50)

    async def run():
        sw = await Swarm.connect([srv.ws_url(groups[g]) for g in names], n)
        try:
            st = srv.wait_connections(n)
            per = [w["connections"] for w in st["workers"]]
            assert len(per) == 4 and min(per) > 0, per
            group_of = [names[i % 4] for i in range(n)]
            count = {g: group_of.count(g) for g in names}

            sent = []
            for i in range(30):
                for topic in ("A", "B"):
                    body = f"{topic}-{i}"
                    r = srv.admin.publish(topic, body)
                    assert r["topic"] == topic
                    assert r["subscribers_notified"] == count[topic] + count["AB"], r
                    sent.append((topic, body))
            r = srv.admin.broadcast("to-everyone")
            assert r["topic"] is None
            assert r["subscribers_notified"] == n, r
            sent.append((None, "to-everyone"))

            def expected(g):
                return [b for t, b in sent
                        if t is None or t == g or (g == "AB" and t in ("A", "B"))]
            want = {g: expected(g) for g in names}
            # the broadcast goes last: once every client has it, everything
            # published before it has been delivered (order per client)
            await sw.wait_for(lambda sw: all(len(sw.msgs[i]) >= len(want[group_of[i]])
                                             for i in range(n)), T(10), "every message")
            for i in range(n):
                got = [m for _, m in sw.msgs[i]]
                assert got == want[group_of[i]], (group_of[i], got[:10])
        finally:
            await sw.close()
    asyncio.run(run())


def test_publish_to_topic_without_subscribers(srv4):
    r = srv4.admin.publish("nobody-here", "x")
    assert r == {"topic": "nobody-here", "seq": r["seq"], "subscribers_notified": 0}


def test_seq_increases_by_one(srv4):
    seqs = [srv4.admin.publish("seq", f"m{i}")["seq"] for i in range(5)]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_binary_publish_arrives_as_binary_frame(srv4):
    with RawWS(srv4.port, "/bin") as ws:
        srv4.wait_stats(lambda s: s["connections"] >= 1)
        blob = bytes(range(256)) + b"\xff\xfe\x00"
        r = srv4.admin.publish("bin", blob, binary=True)
        assert r["subscribers_notified"] == 1
        f = ws.recv_frame()
        assert (f.opcode, f.fin, f.masked, f.payload) == (OP_BINARY, True, False, blob)
        srv4.admin.publish("bin", "text now")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"text now")
        srv4.admin.broadcast(b"\x00\x01", binary=True)
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b"\x00\x01")


def test_large_message_16bit_and_64bit_lengths(srv4):
    with RawWS(srv4.port, "/big") as ws:
        srv4.wait_stats(lambda s: s["connections"] >= 1)
        for size in (125, 126, 65535, 65536, 300000):
            body = ("z" * size).encode()
            srv4.admin.publish("big", body)
            f = ws.recv_frame(T(10))
            assert (f.opcode, len(f.payload)) == (OP_TEXT, size)
            assert f.payload == body


def test_10000_back_to_back_publishes_arrive_in_order(srv4):
    n = 10000
    got = []
    with RawWS(srv4.port, "/flood", timeout=T(20)) as ws:
        srv4.wait_stats(lambda s: s["connections"] >= 1)
        done = threading.Event()

        def reader():
            try:
                while len(got) < n:
                    f = ws.recv_frame(T(30))
                    got.append(f.payload)
            finally:
                done.set()
        th = threading.Thread(target=reader)
        th.start()
        t0 = time.monotonic()
        bodies = [f"msg-{i:05d}".encode() for i in range(n)]
        resps = publish_pipelined(srv4.admin_port, "flood", bodies)
        assert len(resps) == n
        seqs = [r["seq"] for r in resps]
        assert seqs == list(range(seqs[0], seqs[0] + n))
        assert all(r["subscribers_notified"] == 1 for r in resps)
        done.wait(T(30))
        th.join(T(5))
        assert len(got) == n, f"only {len(got)} of {n} arrived"
        assert got == bodies, "out of order or corrupted"
        elapsed = time.monotonic() - t0
        assert elapsed < T(30)


def test_keepalive_http_client_many_publishes(srv4):
    """The same with http.client over one keep-alive connection (what
    publishers typically do), fewer messages."""
    n = 500
    with RawWS(srv4.port, "/ka", timeout=T(10)) as ws:
        srv4.wait_stats(lambda s: s["connections"] >= 1)
        adm = srv4.admin
        for i in range(n):
            r = adm.publish("ka", f"k{i}")
            assert r["subscribers_notified"] == 1
        assert adm.conn is not None  # still the same connection
        got = [ws.recv_frame().payload for _ in range(n)]
        assert got == [f"k{i}".encode() for i in range(n)]



def topic_names(n):
    """n distinct two-character topic names (base 62)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [digits[i // 62] + digits[i % 62] for i in range(n)]


def test_issue11_max_topics_past_256_no_leak_on_pooled_conn(wspush):
    """Issue 11 item 1: the per-connection topic count held 8 bits while
    --max-topics allows 1024. A client at the limit (1024 topics in one URL:
    the request-target limit leaves room for it, the head limit is raised to
    16 KiB) leaves; the next client, which reuses its pooled connection (one
    worker, LIFO pool), must get none of those topics' messages; one topic
    more than the limit is refused."""
    n = 1024
    srv = wspush("--workers", "1", "--max-topics", str(n), "--max-head", "16KiB")
    names = topic_names(n)
    path = "/?" + "&".join(f"topic={t}" for t in names)
    ws = RawWS(srv.port, path)
    srv.wait_connections(1)
    for t in (names[0], names[255], names[256], names[-1]):
        assert srv.admin.publish(t, t)["subscribers_notified"] == 1
        assert ws.recv_frame().payload == t.encode()
    # one more topic than allowed is refused
    with pytest.raises(AssertionError, match="400"):
        RawWS(srv.port, path[:-2] + "zz&topic=" + names[-1])
    ws.shutdown()
    srv.wait_connections(0)

    with RawWS(srv.port, "/other") as ws2:
        srv.wait_connections(1)
        for t in names:
            r = srv.admin.publish(t, "leak " + t)
            assert r["subscribers_notified"] == 0, (t, r)
        srv.admin.publish("other", "end")
        assert ws2.recv_frame().payload == b"end"
