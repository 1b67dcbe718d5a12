"""test_redis.py - several wspush nodes sharing messages through a real
Redis (redis-server on 127.0.0.1, its own port, config and temp dir).

Covered: publishes to any node's admin API and from redis-cli reach the
subscribers of every node exactly once, in order per publisher; binary
survives; broadcasts; Redis killed and restarted on the same port: 503 on
publish meanwhile, every node reconnects and resubscribes, nothing is
duplicated; a node started before Redis is not ready until Redis is up.
Every wait is on an event (a socket read, a polled condition)."""
import asyncio
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import websockets

from conftest import RawWS, T, wait_until

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")

pytestmark = pytest.mark.skipif(not REDIS_SERVER or not REDIS_CLI,
                                reason="redis-server / redis-cli not installed")


def reserve_port():
    """A port for redis-server, which cannot bind port 0 and report it
    (--port 0 turns TCP off). The returned socket holds the port for as long
    as it lives: bound with SO_REUSEADDR but not listening, so redis-server
    (which sets SO_REUSEADDR too) can bind it, now and after a restart,
    while no other process's bind or ephemeral connect takes it meanwhile."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


class Redis:
    """One redis-server on 127.0.0.1:port, no persistence, in a temp dir.
    The port is reserved from construction to cleanup()."""

    def __init__(self):
        self.reservation = reserve_port()
        self.port = self.reservation.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="wspush-redis-")
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", self.dir],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING") == "PONG", T(10), "redis-server to answer PING")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        self.log.close()

    def cli(self, *args, raw=False):
        r = subprocess.run([REDIS_CLI, "-p", str(self.port)] + list(args),
                           capture_output=True, timeout=T(10))
        out = r.stdout
        return out if raw else out.decode("utf-8", "replace").strip()

    def numsub(self, channel):
        out = self.cli("PUBSUB", "NUMSUB", channel).split()
        return int(out[1]) if len(out) == 2 else -1

    def cleanup(self):
        self.kill()
        self.reservation.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis():
    r = Redis()
    r.start()
    yield r
    r.cleanup()


def healthz_ready(node):
    c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=T(5))
    try:
        c.request("GET", "/healthz?ready")
        return c.getresponse().status
    finally:
        c.close()


def start_nodes(wspush, redis_port, n=3):
    url = f"redis://127.0.0.1:{redis_port}"
    return [wspush("--workers", "2", "--redis", url) for _ in range(n)]


def wait_ready(nodes, status=200):
    for nd in nodes:
        wait_until(lambda: healthz_ready(nd) == status, T(15),
                   f"healthz?ready == {status} on node {nd.port}")


class Clients:
    """WebSocket clients on every node: `per_node` on /topic, one on / (no
    topic: broadcasts only). Received messages are kept per client."""

    def __init__(self, nodes, topic, per_node=2):
        self.nodes = nodes
        self.topic = topic
        self.per_node = per_node
        self.topic_ws = []
        self.plain_ws = []

    async def open(self):
        for nd in self.nodes:
            for _ in range(self.per_node):
                self.topic_ws.append(await websockets.connect(nd.ws_url("/" + self.topic)))
            self.plain_ws.append(await websockets.connect(nd.ws_url("/")))

    async def recv_n(self, ws, n):
        out = []
        for _ in range(n):
            out.append(await asyncio.wait_for(ws.recv(), T(10)))
        return out

    async def expect_nothing(self, ws, seconds=0.3):
        try:
            m = await asyncio.wait_for(ws.recv(), seconds)
        except asyncio.TimeoutError:
            return
        pytest.fail(f"unexpected extra message {m!r}")

    async def close(self):
        for ws in self.topic_ws + self.plain_ws:
            await ws.close()


def wait_numsub(redis, channel, n):
    wait_until(lambda: redis.numsub(channel) == n, T(15),
               f"{n} Redis subscribers on {channel}")


def publish_text(node, topic, msg, expect=202):
    r = node.admin.request("POST", f"/publish/{topic}", msg, {"Content-Type": "text/plain"})
    assert r.status == expect, r
    return r


def test_three_nodes_exactly_once_in_order(wspush, redis):
    nodes = start_nodes(wspush, redis.port)
    wait_ready(nodes)

    async def run():
        cl = Clients(nodes, "news")
        await cl.open()
        # every node subscribed to the topic's channel (and the broadcast one)
        await asyncio.to_thread(wait_numsub, redis, "wspush:news", 3)
        assert redis.numsub("wspush:") == 3
        per = 10
        sent = []
        for i in range(per):
            for k, nd in enumerate(nodes):
                msg = f"n{k}-{i}"
                r = await asyncio.to_thread(publish_text, nd, "news", msg)
                body = r.json()
                assert body["topic"] == "news" and body["seq"] is None, body
                assert body["via"] == "redis"
                sent.append(msg)
        # from any Redis client: text
        assert redis.cli("PUBLISH", "wspush:news", "hello") == "3"
        sent.append("hello")
        # binary through the admin API
        blob = bytes([0, 0xFF, 0x80, 13, 10]) + b"bin" + bytes(range(256))
        r = await asyncio.to_thread(nodes[1].admin.request, "POST", "/publish/news", blob,
                                    {"Content-Type": "application/octet-stream"})
        assert r.status == 202, r
        # binary bytes that happen to be valid UTF-8 stay binary (through the
        # same node: order is kept per publishing node, and a 202 means the
        # message is on its way to Redis, not that Redis has it yet)
        r = await asyncio.to_thread(nodes[1].admin.request, "POST", "/publish/news", b"abc",
                                    {"Content-Type": "application/octet-stream"})
        assert r.status == 202, r
        for ws in cl.topic_ws:
            got = await cl.recv_n(ws, len(sent) + 2)
            texts, tail = got[:len(sent)], got[len(sent):]
            assert sorted(texts) == sorted(sent), "each message exactly once"
            for k in range(3):  # in order per publishing node
                mine = [m for m in texts if m.startswith(f"n{k}-")]
                assert mine == [f"n{k}-{i}" for i in range(per)]
            assert texts[-1] == "hello"
            assert tail == [blob, b"abc"]
            assert all(isinstance(m, str) for m in texts)
        # broadcasts reach every connection of every node, once
        r = await asyncio.to_thread(nodes[0].admin.request, "POST", "/broadcast", "all",
                                    {"Content-Type": "text/plain"})
        assert r.status == 202 and r.json()["topic"] is None, r
        assert redis.cli("PUBLISH", "wspush:", "all2") == "3"
        for ws in cl.topic_ws + cl.plain_ws:
            assert await cl.recv_n(ws, 2) == ["all", "all2"]
        for ws in cl.topic_ws + cl.plain_ws:
            await cl.expect_nothing(ws)
        await cl.close()

    asyncio.run(run())
    m = nodes[0].metrics()
    assert "wspush_redis_connected 1" in m
    assert "wspush_redis_roundtrip_seconds" in m
    # last subscriber gone: each node unsubscribes after its linger (5 s)
    wait_numsub(redis, "wspush:news", 0)
    assert redis.numsub("wspush:") == 3


def test_redis_restart_reconnects_and_resubscribes(wspush, redis):
    nodes = start_nodes(wspush, redis.port)
    wait_ready(nodes)

    async def run():
        cl = Clients(nodes, "live", per_node=1)
        await cl.open()
        await asyncio.to_thread(wait_numsub, redis, "wspush:live", 3)
        await asyncio.to_thread(publish_text, nodes[0], "live", "before")
        for ws in cl.topic_ws:
            assert await cl.recv_n(ws, 1) == ["before"]

        redis.kill()
        await asyncio.to_thread(wait_ready, nodes, 503)
        for k, nd in enumerate(nodes):  # never a silent drop
            r = await asyncio.to_thread(publish_text, nd, "live", f"gap{k}", 503)
            assert "redis" in r.json()["error"]
        redis.start()  # same port
        t0 = time.monotonic()
        await asyncio.to_thread(wait_ready, nodes, 200)
        await asyncio.to_thread(wait_numsub, redis, "wspush:live", 3)
        took = time.monotonic() - t0
        assert took < T(10), f"resubscribed after {took:.1f}s"
        assert redis.numsub("wspush:") == 3
        for k, nd in enumerate(nodes):
            await asyncio.to_thread(publish_text, nd, "live", f"after{k}")
        for ws in cl.topic_ws:
            got = await cl.recv_n(ws, 3)
            assert sorted(got) == ["after0", "after1", "after2"]
            await cl.expect_nothing(ws)
        await cl.close()

    asyncio.run(run())
    for nd in nodes:
        m = nd.metrics()
        assert "wspush_redis_reconnects_total 1" in m, m
        assert "wspush_redis_publish_unavailable_total 1" in m


def test_node_started_before_redis(wspush):
    r = Redis()
    try:
        node = wspush("--workers", "1", "--redis", f"redis://127.0.0.1:{r.port}")
        assert healthz_ready(node) == 503
        c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=T(5))
        c.request("GET", "/healthz")
        assert c.getresponse().status == 200  # alive, serving, just not ready
        c.close()
        publish_text(node, "x", "lost", 503)
        r.start()
        wait_ready([node], 200)
        assert "wspush_redis_connected 1" in node.metrics()

        async def run():
            async with websockets.connect(node.ws_url("/x")) as ws:
                await asyncio.to_thread(wait_numsub, r, "wspush:x", 1)
                await asyncio.to_thread(publish_text, node, "x", "hi")
                assert await asyncio.wait_for(ws.recv(), T(10)) == "hi"
        asyncio.run(run())
    finally:
        r.cleanup()


def test_issue17_bad_redis_url_one_line_exit_2(wspush):
    from conftest import WSPUSH_BIN
    p = subprocess.run([WSPUSH_BIN, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                        "--redis", "http://nope"], capture_output=True, timeout=T(20))
    # docs/redis.md: one clear line, exit 2, before anything listens
    assert p.returncode == 2, p.stderr
    assert b"--redis" in p.stderr and b"redis://" in p.stderr
    assert b"listening" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_issue11_sigkill_worker_resets_topic_counts(wspush, redis):
    """Issue 11 item 14: a worker killed with SIGKILL never unsubscribes
    its clients. The master resets its column of the shared topic table
    when it reaps it: subscribers_notified stops counting them, and the
    node leaves the Redis channel nobody needs any more."""
    node = wspush("--workers", "1", "--redis", f"redis://127.0.0.1:{redis.port}")
    node.allow_worker_deaths = True  # this test kills one on purpose
    wait_ready([node])
    ws = RawWS(node.port, "/gone")
    try:
        wait_numsub(redis, "wspush:gone", 1)
        r = node.admin.publish("gone", "before")
        assert r["subscribers_notified"] == 1, r
        assert ws.recv_frame().payload == b"before"
        victim = node.stats()["workers"][0]["pid"]
        os.kill(victim, signal.SIGKILL)
        node.wait_stats(lambda s: s["workers"][0]["restarts"] == 1 and
                        s["workers"][0]["pid"] not in (0, victim), T(10), "worker restarted")
        wait_ready([node])
        r = node.admin.publish("gone", "after")
        assert r["subscribers_notified"] == 0, r
        wait_numsub(redis, "wspush:gone", 0)
        # the topic works again for a new client on the new worker
        with RawWS(node.port, "/gone") as ws2:
            wait_numsub(redis, "wspush:gone", 1)
            r = node.admin.publish("gone", "again")
            assert r["subscribers_notified"] == 1, r
            assert ws2.recv_frame().payload == b"again"
    finally:
        ws.abort()
