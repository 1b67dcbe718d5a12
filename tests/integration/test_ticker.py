"""The ticker (--tick 1s) reaches every one of 1,000 clients every second,
with nothing missing; /stats deliveries match what 100 clients counted;
/metrics' wspush_connections sums to the open client count."""
import asyncio
import re
from datetime import datetime, timezone

from conftest import T, Swarm

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def tick_ms(msg):
    """ms since the epoch of a tick message; asserts its exact form."""
    assert isinstance(msg, str), f"tick is not a text frame: {msg!r}"
    assert ISO_MS.match(msg), f"tick is not ISO 8601 UTC with ms: {msg!r}"
    dt = datetime.strptime(msg, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def check_ticks_contiguous(sw, since_ms, need):
    """Every client got every tick stamped after since_ms: the same run of
    >= need consecutive ticks ~1 s apart, none missing between first and
    last."""
    all_ticks = sorted({tick_ms(m) for msgs in sw.msgs for _, m in msgs})
    window = [t for t in all_ticks if t > since_ms]
    for a, b in zip(window, window[1:]):
        assert 700 <= b - a <= 1300, f"ticks {a} and {b} are not ~1 s apart"
    for i, msgs in enumerate(sw.msgs):
        mine = [tick_ms(m) for _, m in msgs]
        assert mine == sorted(mine), f"client {i}: ticks out of order"
        assert len(set(mine)) == len(mine), f"client {i}: a tick twice"
        after = [t for t in mine if t > since_ms]
        assert len(after) >= need, f"client {i}: only {len(after)} ticks"
        # the client's ticks are exactly the first len(after) of the window
        assert after == window[:len(after)], f"client {i}: missing ticks {set(window[:len(after)]) - set(after)}"
        for a, b in zip(after, after[1:]):
            assert 700 <= b - a <= 1300, f"client {i}: ticks {a}, {b} not ~1 s apart"


def test_ticker_reaches_1000_clients_every_second(wspush):
    srv = wspush("--workers", "2", "--tick", "1s")
    n, need = 1000, 5

    async def run():
        # ticks go to every connection, whatever its topics
        sw = await Swarm.connect([srv.ws_url("/"), srv.ws_url("/news"),
                                  srv.ws_url("/a?topic=b")], n)
        try:
            s = srv.wait_connections(n, T(10))
            since = s["unix_ms"]  # ticks after this must reach all 1000
            await sw.wait_for(
                lambda sw: all(sum(tick_ms(m) > since for _, m in msgs) >= need
                               for msgs in sw.msgs),
                need + T(4), f"{need} ticks at each of {n} clients")
            assert all(c is None for c in sw.closed), "a client was disconnected"
            check_ticks_contiguous(sw, since, need)
            # on time: each tick arrived within a second of its timestamp
            # (same machine, same clock)
            st = srv.stats()
            offset_ms = st["unix_ms"] - _mono_ms()
            late = [(i, m, round(_ms(t) + offset_ms - tick_ms(m)))
                    for i, msgs in enumerate(sw.msgs) for t, m in msgs
                    if tick_ms(m) > since and _ms(t) + offset_ms - tick_ms(m) > T(1000)]
            assert not late, f"{len(late)} late ticks, e.g. {late[:3]}"
            per_worker = [w["connections"] for w in st["workers"]]
            assert sum(per_worker) == n and min(per_worker) > 0, per_worker
        finally:
            await sw.close()
        srv.wait_connections(0)
    asyncio.run(run())


def _mono_ms():
    import time
    return time.monotonic() * 1000


def _ms(t):
    return t * 1000


async def settled(srv, sw, timeout):
    """(deliveries, messages counted, ticks published, counts) at an instant
    between two ticks: every client's latest message is the same tick, and
    neither the server's counters nor the clients' counts moved since the
    previous poll (the clients' reader tasks ran in between)."""
    deadline = asyncio.get_running_loop().time() + timeout
    prev = None
    while True:
        st = srv.stats()
        c = sw.counts()
        lasts = {msgs[-1][1] if msgs else None for msgs in sw.msgs}
        now = (st["deliveries"], st["published"]["tick"], c)
        if len(lasts) == 1 and None not in lasts and now == prev:
            return st["deliveries"], sum(c), st["published"]["tick"], c
        prev = now
        assert asyncio.get_running_loop().time() < deadline, "counters never settled"
        await asyncio.sleep(0.05)  # polling interval: lets the readers run


def test_deliveries_counter_matches_reality(wspush):
    srv = wspush("--workers", "2", "--tick", "1s")
    n, need = 100, 5

    async def run():
        sw = await Swarm.connect([srv.ws_url("/"), srv.ws_url("/x")], n)
        try:
            srv.wait_connections(n)
            d0, got0, p0, c0 = await settled(srv, sw, T(10))
            await sw.wait_for(lambda sw: all(a - b >= need for a, b in zip(sw.counts(), c0)),
                              need + T(4), f"{need} more ticks each")
            d1, got1, p1, c1 = await settled(srv, sw, T(10))
            assert p1 - p0 >= need
            # every client got every tick, and the counter counted exactly those
            assert all(b - a == p1 - p0 for a, b in zip(c0, c1)), (p1 - p0, c0, c1)
            assert d1 - d0 == got1 - got0 == n * (p1 - p0), (d1 - d0, got1 - got0, p1 - p0)
            st = srv.stats()
            assert st["connections"] == n
            assert sum(w["deliveries"] for w in st["workers"]) == st["deliveries"]
            # /metrics agrees: wspush_connections per worker sums to n
            text = srv.metrics()
            conns = _metric_values(text, "wspush_connections")
            assert len(conns) == 2 and sum(conns) == n, conns
        finally:
            await sw.close()
        srv.wait_connections(0)
        conns = _metric_values(srv.metrics(), "wspush_connections")
        assert sum(conns) == 0, conns
    asyncio.run(run())


def _metric_values(text, name):
    """Values of every sample of metric `name` (any labels)."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if m:
            out.append(float(m.group(2)))
    return out
