"""hostile_util.py - helpers for the hostile-client and fault tests.

GoodClients: many well-behaved WebSocket clients (python websockets on an
asyncio loop in a helper thread) subscribed to one topic, each counting the
messages it receives and checking they arrive in order without gaps.
Publisher: a helper thread publishing numbered messages to that topic at a
steady rate through its own admin connection, counting the accepted ones.
Together they prove "the others lose nothing" while a test attacks the
server. Also: worker RSS from /proc."""
import asyncio
import threading
import time

import websockets

from conftest import Admin, T, wait_until


def worker_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class GoodClients:
    """n clients on ws://127.0.0.1:port/topic, bound to source addresses
    127.0.1.x (n_per_ip each) so a per-IP limit aimed at the attackers on
    127.0.0.1 does not touch them. Each client expects messages "seq:K"
    with K = 1, 2, 3... (starting at the first one it sees) and records a
    gap if one is skipped."""

    def __init__(self, port, topic, n, n_per_ip=50):
        self.port, self.topic, self.n, self.n_per_ip = port, topic, n, n_per_ip
        self.counts = [0] * n
        self.last = [0] * n
        self.first = [0] * n
        self.gaps = [0] * n
        self.closed = [None] * n  # close code (or exception name) if a client ended
        self.connected = 0
        self.errors = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._stop = None
        self._ready = threading.Event()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _client(self, i):
        ip = f"127.0.1.{1 + i // self.n_per_ip}"
        try:
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/{self.topic}",
                                          local_addr=(ip, 0), ping_interval=None,
                                          close_timeout=1, max_queue=None,
                                          open_timeout=T(30)) as ws:
                self.connected += 1
                async for msg in ws:
                    k = int(msg.split(":", 1)[1]) if isinstance(msg, str) else -1
                    if self.first[i] == 0:
                        self.first[i] = k
                    elif k != self.last[i] + 1:
                        self.gaps[i] += 1
                    self.last[i] = k
                    self.counts[i] += 1
                self.closed[i] = ws.close_code
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - recorded, asserted on by the test
            self.closed[i] = type(e).__name__
            self.errors.append(f"client {i}: {e!r}")

    async def _main(self):
        self._stop = asyncio.Event()
        tasks = []
        for i in range(self.n):
            tasks.append(asyncio.ensure_future(self._client(i)))
            if i % 50 == 49:
                await asyncio.sleep(0.01)  # a gentle ramp
        self._ready.set()
        await self._stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def start(self, server, baseline=0):
        self.thread.start()
        self._ready.wait(T(30))
        wait_until(lambda: self.connected == self.n or self.errors, T(60),
                   f"{self.n} good clients connected")
        assert not self.errors, self.errors[:5]
        server.wait_stats(lambda s: s["connections"] >= baseline + self.n, T(30),
                          "good clients in /stats")

    def stop(self):
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(T(30))

    def wait_all(self, published, timeout, which=None):
        """Waits until every client (or those in `which`) saw message
        `published`; returns the clients that did not."""
        idx = range(self.n) if which is None else which
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = [i for i in idx if self.last[i] != published]
            if not behind:
                return []
            time.sleep(0.05)
        return [i for i in idx if self.last[i] != published]


class Publisher:
    """Publishes "seq:K" to topic every interval seconds from a thread."""

    def __init__(self, admin_port, topic, interval=0.05):
        self.admin = Admin(admin_port)
        self.topic, self.interval = topic, interval
        self.published = 0
        self.failures = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.publish_one()
            self._stop.wait(self.interval)

    def publish_one(self):
        try:
            r = self.admin.request("POST", f"/publish/{self.topic}",
                                   f"seq:{self.published + 1}",
                                   {"Content-Type": "text/plain"})
            if r.status == 202:
                self.published += 1
            else:
                self.failures.append(r.status)
        except OSError as e:
            self.failures.append(repr(e))

    def start(self):
        self.thread.start()

    def stop(self):
        self._stop.set()
        self.thread.join(T(10))
        self.admin.close()
        return self.published
