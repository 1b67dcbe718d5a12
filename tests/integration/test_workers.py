"""Worker processes: SO_REUSEPORT spreads clients over both workers; a
worker killed with SIGKILL is restarted (new pid) and serves new clients
while the other worker's clients keep receiving ticks; SIGTERM closes every
client with 1012 (service restart, spread over --drain-timeout) and the
server exits 0 within --drain-timeout."""
import asyncio
import os
import signal
import time

from conftest import OP_CLOSE, OP_PING, T, RawWS, Swarm, close_payload
from test_ticker import tick_ms


def test_two_workers_both_serve(wspush):
    srv = wspush("--workers", "2")

    async def run():
        sw = await Swarm.connect(srv.ws_url("/w"), 50)
        try:
            st = srv.wait_connections(50)
            per = [w["connections"] for w in st["workers"]]
            assert len(per) == 2 and sum(per) == 50
            assert min(per) > 0, f"SO_REUSEPORT did not spread 50 clients: {per}"
            pids = [w["pid"] for w in st["workers"]]
            assert len(set(pids)) == 2 and srv.pid not in pids
            # a topic publish reaches the clients of both workers
            r = srv.admin.publish("w", "to both")
            assert r["subscribers_notified"] == 50
            await sw.wait_for(lambda sw: all(len(m) == 1 for m in sw.msgs), T(5),
                              "the publish at all 50")
            assert {m[0][1] for m in sw.msgs} == {"to both"}
        finally:
            await sw.close()
    asyncio.run(run())


def test_killed_worker_is_restarted_and_others_unaffected(wspush):
    srv = wspush("--workers", "2", "--tick", "1s")
    srv.allow_worker_deaths = True

    async def run():
        sw = await Swarm.connect(srv.ws_url("/"), 50)
        extra = None
        try:
            st = srv.wait_connections(50)
            victim = st["workers"][0]
            other = st["workers"][1]
            assert victim["connections"] > 0 and other["connections"] > 0, st["workers"]
            mark = srv.log_mark()
            os.kill(victim["pid"], signal.SIGKILL)
            srv.wait_for_log(rf"worker 0 \(pid {victim['pid']}\) killed by signal 9",
                             T(5), start=mark)
            # the victim's clients lose their connection, the others do not
            await sw.wait_for(lambda sw: sum(c is not None for c in sw.closed)
                              == victim["connections"], T(5), "the victim's clients to drop")
            assert all(c == 1006 for c in sw.closed if c is not None), sw.closed
            alive = [i for i, c in enumerate(sw.closed) if c is None]
            assert len(alive) == other["connections"]

            # restarted: a new pid serving worker 0's slot
            st = srv.wait_stats(lambda s: s["workers"][0]["pid"] not in (victim["pid"], 0)
                                and s["workers"][0]["restarts"] >= 1, T(10), "worker 0 restarted")
            assert st["workers"][1]["pid"] == other["pid"]
            new_pid = st["workers"][0]["pid"]
            assert os.path.exists(f"/proc/{new_pid}")

            # the survivors keep getting every tick: 2 more, consecutive
            base = {i: len(sw.msgs[i]) for i in alive}
            await sw.wait_for(lambda sw: all(len(sw.msgs[i]) - base[i] >= 2 for i in alive),
                              T(5), "2 more ticks at the other worker's clients")
            for i in alive:
                ticks = [tick_ms(m) for _, m in sw.msgs[i]]
                for a, b in zip(ticks, ticks[1:]):
                    assert 700 <= b - a <= 1300, f"client {i}: tick gap {a} -> {b}"

            # new clients land on both workers, including the new one
            extra = await Swarm.connect(srv.ws_url("/"), 40)
            st = srv.wait_connections(len(alive) + 40)
            assert st["workers"][0]["connections"] > 0, st["workers"]
            await extra.wait_for(lambda e: all(len(m) >= 1 for m in e.msgs), T(5),
                                 "a tick at every new client")
        finally:
            if extra:
                await extra.close()
            await sw.close()
    asyncio.run(run())


def test_sigterm_sends_1012_and_exits_0(wspush):
    srv = wspush("--workers", "2", "--drain-timeout", "3s")

    async def run():
        sw = await Swarm.connect(srv.ws_url("/t"), 20)
        raw = [RawWS(srv.port, "/") for _ in range(4)]
        srv.wait_connections(24)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        # raw clients: a close frame with 1012, then we answer it
        for ws in raw:
            f = ws.recv_close(T(5))
            assert f.close_code == 1012, f
            ws.send(OP_CLOSE, close_payload(1012))
            ws.expect_eof()
        await sw.wait_for(lambda sw: all(c is not None for c in sw.closed), T(5),
                          "every client closed")
        assert sw.closed == [1012] * 20, sw.closed
        rc = await asyncio.get_running_loop().run_in_executor(None, srv.stop)
        assert rc == 0
        # the closes are spread over the window minus its tail (docs/close-codes.md);
        # everyone answered, so the exit comes then, not at a later deadline
        assert time.monotonic() - t0 < 3.0 + T(3)
    asyncio.run(run())


def test_sigterm_with_unresponsive_client_exits_within_drain_timeout(wspush):
    srv = wspush("--workers", "1", "--drain-timeout", "1s")
    silent = RawWS(srv.port, "/")  # never answers the close frame
    polite = RawWS(srv.port, "/")
    srv.wait_connections(2)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert polite.recv_close_code() == 1012
    polite.send(OP_CLOSE, close_payload(1012))
    assert srv.stop(timeout=T(10)) == 0
    assert time.monotonic() - t0 < 1.0 + T(2)
    assert silent.recv_close_code() == 1012
    silent.expect_eof()


def test_new_upgrade_during_drain_refused_or_closed(wspush):
    srv = wspush("--workers", "1", "--drain-timeout", "2s")
    hold = RawWS(srv.port, "/")  # keeps the drain going until we answer
    srv.wait_connections(1)
    srv.proc.send_signal(signal.SIGTERM)
    assert hold.recv_close_code() == 1012
    # while draining, the worker does not take new WebSocket clients: the
    # listener is closed (refused) or the upgrade gets 503
    try:
        ws = RawWS(srv.port, "/", timeout=T(2))
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    except AssertionError as e:
        assert "503" in str(e) or "closed" in str(e), e
    else:
        ws.send(OP_PING, b"late")
        raise AssertionError("a new client was accepted while draining")
    hold.send(OP_CLOSE, close_payload(1012))
    assert srv.stop() == 0
