"""test_restart_spread.py - SIGTERM without a reconnect storm (issue 17):
every client gets 1012 (service restart) with a reconnect hint, and the
closes are spread evenly over the drain window in random order.

Close times are taken on the client side (arrival of the close frame),
relative to the SIGTERM."""
import re
import signal
import time

from conftest import OP_CLOSE, RawWS, T, close_payload, readable

HINT_RE = re.compile(r"^restart; retry-after-ms=(\d+)$")


def collect_closes(clients, t0, timeout):
    """Answers each server close frame; returns [(seconds after t0, code,
    reason)] in arrival order."""
    open_ = {ws.sock: ws for ws in clients}
    got = []
    deadline = time.monotonic() + timeout
    while open_ and time.monotonic() < deadline:
        for s in readable(list(open_), 0.5):
            ws = open_[s]
            f = ws.recv_frame()
            if f.opcode != OP_CLOSE:
                continue
            got.append((time.monotonic() - t0, f.close_code, f.payload[2:].decode()))
            ws.send(OP_CLOSE, close_payload(f.close_code))
            del open_[s]
    return got


def test_sigterm_spreads_1012_over_the_drain_window(wspush):
    n, drain = 120, 6.0  # spread = 6 s - 1.2 s of tail = 4.8 s
    spread = drain - drain / 5
    srv = wspush("--workers", "2", "--drain-timeout", "%gs" % drain)
    clients = [RawWS(srv.port, "/t%d" % (i % 7)) for i in range(n)]
    srv.wait_connections(n)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    closes = collect_closes(clients, t0, spread + T(10))
    assert len(closes) == n, f"{len(closes)} of {n} clients were told"
    assert {c for _, c, _ in closes} == {1012}
    hints = []
    for _, _, reason in closes:
        m = HINT_RE.match(reason)
        assert m, reason
        hints.append(int(m.group(1)))
    assert all(1000 <= h < 3000 for h in hints), hints
    assert len(set(hints)) > n // 4, "the hints are not jittered"
    times = sorted(t for t, _, _ in closes)
    # uniform over the spread: no second holds much more than its share
    # (share = n / spread; slack for scheduling and the 100 ms step), the
    # first ones come early and the last ones late, and all before the tail
    per_sec = [0] * (int(spread + T(10)) + 2)
    for t in times:
        per_sec[int(t)] += 1
    share = n / spread
    assert max(per_sec) <= share * 1.5 + 5, (per_sec, share)
    assert times[0] < 1.0, times[:5]
    assert times[-1] > spread * 0.75, times[-5:]
    assert times[n // 2] > spread * 0.25, times
    assert srv.stop() == 0


def test_sigterm_close_order_is_random(wspush):
    n = 60
    srv = wspush("--workers", "1", "--drain-timeout", "2s")
    clients = [RawWS(srv.port, "/") for _ in range(n)]
    srv.wait_connections(n)
    index = {ws.sock: i for i, ws in enumerate(clients)}
    open_ = {ws.sock: ws for ws in clients}
    ranks = []
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    while open_ and time.monotonic() - t0 < T(10):
        for s in readable(list(open_), 0.5):
            f = open_[s].recv_frame()
            if f.opcode == OP_CLOSE:
                ranks.append(index[s])
                open_[s].send(OP_CLOSE, close_payload(f.close_code))
                del open_[s]
    assert len(ranks) == n
    assert srv.stop() == 0
    # neither the connect order nor its reverse (the dense array's order)
    ascending = sum(1 for a, b in zip(ranks, ranks[1:]) if b > a)
    assert n // 5 < ascending < n - n // 5, ranks
