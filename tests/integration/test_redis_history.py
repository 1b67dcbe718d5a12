"""Message ids and history from Redis (issue 14, the cross-node part):
with --redis and history on, every node gives a message the same id, so a
client that disconnects from one node resumes on another exactly once; a
Redis that lost its data (restarted without persistence) is a new epoch, so
an old id gets a reset; a node that restarts loads the topics' streams, so
a resume there gets what it missed. Real redis-server and wspush processes;
every wait is on an event (a frame, a polled condition)."""
import json
import os
import signal

import pytest

from conftest import OP_BINARY, OP_TEXT, T, RawWS, wait_until
from test_history import env_next, epoch_of, seq_of
from test_redis import REDIS_CLI, REDIS_SERVER, healthz_ready, redis  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not REDIS_SERVER or not REDIS_CLI,
                                reason="redis-server / redis-cli not installed")


def node(wspush, redis_port, *extra):
    return wspush("--workers", "2", "--history-size", "1000",
                  "--redis", f"redis://127.0.0.1:{redis_port}", *extra)


def wait_ready(*nodes):
    for nd in nodes:
        wait_until(lambda: healthz_ready(nd) == 200, T(15),
                   f"healthz?ready on node {nd.port}")


def collect(ws, n):
    return [env_next(ws, T(10)) for _ in range(n)]


def expect_quiet(ws, seconds=0.3):
    """Nothing but pings for a moment (a duplicate would show up here)."""
    try:
        f = ws.recv_frame(seconds)
    except OSError:
        return
    assert f.opcode not in (OP_TEXT, OP_BINARY), f"unexpected extra frame {f.payload!r}"


def test_resume_on_another_node_exactly_once(wspush, redis):
    a, b = node(wspush, redis.port), node(wspush, redis.port)
    wait_ready(a, b)
    # observers that stay: they see every message live, with its id, in
    # the order Redis ran the publishes (which node's 202 came first says
    # nothing about that)
    obs_a = RawWS(a.port, "/feed?format=json")
    obs_b = RawWS(b.port, "/feed?format=json")
    sub = RawWS(a.port, "/feed?format=json")
    a.wait_connections(2)
    b.wait_connections(1)
    a.admin.publish("feed", "first-a")
    b.admin.publish("feed", "first-b")
    got = collect(sub, 2)
    assert sorted(m["data"] for m in got) == ["first-a", "first-b"]
    assert epoch_of(got[0]["id"]) == epoch_of(got[1]["id"])
    assert seq_of(got[1]["id"]) == seq_of(got[0]["id"]) + 1
    # the same message has the same id on both nodes
    assert collect(obs_a, 2) == got
    assert collect(obs_b, 2) == got
    since = got[-1]["id"]
    sub.shutdown()
    sent = []
    for i in range(50):
        nd = a if i % 3 else b
        nd.admin.publish("feed", f"missed-{i}")
        sent.append(f"missed-{i}")
    seen_a, seen_b = collect(obs_a, 50), collect(obs_b, 50)
    assert seen_a == seen_b, "every node numbers every message alike"
    assert sorted(m["data"] for m in seen_a) == sorted(sent)
    assert [seq_of(m["id"]) for m in seen_a] == list(range(seq_of(since) + 1,
                                                           seq_of(since) + 51))
    # resume on the other node: exactly the 50, in order, same ids
    res = RawWS(b.port, f"/feed?format=json&since={since}")
    assert collect(res, 50) == seen_a
    # then live, no duplicate
    a.admin.publish("feed", "live")
    live = env_next(res, T(10))
    assert live["data"] == "live" and seq_of(live["id"]) == seq_of(seen_a[-1]["id"]) + 1
    assert env_next(obs_b, T(10)) == live
    expect_quiet(res)
    # the admin API of the other node serves the same history
    r = b.admin.request("GET", f"/history/feed?since={since}&limit=1000")
    assert r.status == 200, r
    assert [(m["id"], m["data"]) for m in r.json()["messages"]] == \
        [(m["id"], m["data"]) for m in seen_a + [live]]
    for ws in (res, obs_a, obs_b):
        ws.shutdown()


def node_and_first(wspush, redis):
    """One ready node, an envelope subscriber on "feed", and the first
    message published through the node (its id is Redis')."""
    a = node(wspush, redis.port)
    wait_ready(a)
    ws = RawWS(a.port, "/feed?format=json")
    a.wait_connections(1)
    a.admin.publish("feed", "first")
    return a, ws, env_next(ws, T(10))


def test_foreign_publish_is_live_without_id(wspush, redis):
    a, ws, mine = node_and_first(wspush, redis)
    # an application's own PUBLISH straight to the channel: delivered, no id
    assert redis.cli("PUBLISH", "wspush:feed", "theirs") == "1"
    assert env_next(ws, T(10)) == {"topic": "feed", "id": None, "data": "theirs"}
    a.admin.publish("feed", "mine again")
    nxt = env_next(ws, T(10))
    assert seq_of(nxt["id"]) == seq_of(mine["id"]) + 1, "a foreign message takes no seq"
    ws.shutdown()


def test_redis_restarted_empty_is_a_new_epoch(wspush, redis):
    a, b = node(wspush, redis.port), node(wspush, redis.port)
    wait_ready(a, b)
    sub = RawWS(a.port, "/feed?format=json")
    a.wait_connections(1)
    a.admin.publish("feed", "before")
    old = env_next(sub, T(10))["id"]
    sub.shutdown()
    a.wait_connections(0)
    # Redis restarted without persistence: its epoch, seqs and streams are gone
    redis.kill()
    wait_until(lambda: healthz_ready(a) == 503 and healthz_ready(b) == 503, T(15),
               "both nodes to notice Redis is gone")
    redis.start()
    wait_ready(a, b)
    res = RawWS(b.port, f"/feed?format=json&since={old}")
    m = env_next(res, T(10))
    assert m["type"] == "reset" and m["cause"] == "epoch" and m["topic"] == "feed", m
    assert epoch_of(m["id"]) != epoch_of(old), m
    # the connection stays, live with the new epoch's ids
    b.admin.publish("feed", "after")
    nxt = env_next(res, T(10))
    assert nxt["data"] == "after" and epoch_of(nxt["id"]) == epoch_of(m["id"]), nxt
    assert seq_of(nxt["id"]) == 1, "the new epoch's seqs start again"
    # a raw client with the old id: 4002
    raw = RawWS(a.port, f"/feed?since={old}")
    assert raw.recv_close_code() == 4002
    res.shutdown()


def test_restarted_node_loads_the_streams(wspush, redis):
    a, b = node(wspush, redis.port), node(wspush, redis.port)
    wait_ready(a, b)
    obs = RawWS(a.port, "/feed?format=json")
    sub = RawWS(b.port, "/feed?format=json")
    a.wait_connections(1)
    b.wait_connections(1)
    a.admin.publish("feed", "seen")
    since = env_next(sub, T(10))["id"]
    assert env_next(obs, T(10))["id"] == since
    sub.shutdown()
    assert b.stop() == 0
    for i in range(20):
        a.admin.publish("feed", f"while-b-was-down-{i}")
    missed = collect(obs, 20)
    b2 = node(wspush, redis.port)
    wait_ready(b2)
    res = RawWS(b2.port, f"/feed?format=json&since={since}")
    assert collect(res, 20) == missed
    a.admin.publish("feed", "live")
    live = env_next(res, T(10))
    assert live["data"] == "live" and seq_of(live["id"]) == seq_of(missed[-1]["id"]) + 1
    expect_quiet(res)
    m = b2.metrics()
    assert "wspush_redis_history_loaded_total" in m
    for ws in (res, obs):
        ws.shutdown()


def metric(nd, name):
    for line in nd.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_script_flushed_under_a_live_node_is_loaded_again(wspush, redis):
    a, ws, first = node_and_first(wspush, redis)
    assert redis.cli("SCRIPT", "FLUSH") == "OK"
    # the publish that meets the flushed cache fails (counted, not silent)
    a.admin.publish("feed", "refused")
    wait_until(lambda: metric(a, "wspush_redis_publish_errors_total") == 1, T(10),
               "the NOSCRIPT refusal to be counted")
    # and the node loads the script again before the next one
    a.admin.publish("feed", "two")
    nxt = env_next(ws, T(10))
    assert nxt["data"] == "two" and seq_of(nxt["id"]) == seq_of(first["id"]) + 1, nxt
    ws.shutdown()


def test_redis_restarted_with_its_data_is_a_new_epoch_too(wspush, redis):
    """A snapshot may miss the last messages: a restarted Redis (another
    run_id) is a new epoch even when it kept the keys, and the streams'
    entries of the old epoch are not loaded."""
    a, ws, first = node_and_first(wspush, redis)
    ws.shutdown()
    a.wait_connections(0)
    assert redis.cli("SAVE") == "OK"
    redis.kill()
    wait_until(lambda: healthz_ready(a) == 503, T(15), "the node to notice Redis is gone")
    redis.start()  # loads the snapshot: the epoch and the stream survive
    # (the node may already have replaced the epoch: it reconnects at once)
    assert redis.cli("XLEN", "wspush:stream:feed") == "1"
    wait_ready(a)
    res = RawWS(a.port, f"/feed?format=json&since={first['id']}")
    m = env_next(res, T(10))
    assert m["type"] == "reset" and m["cause"] == "epoch", m
    assert epoch_of(m["id"]) != epoch_of(first["id"])
    r = a.admin.request("GET", "/history/feed")
    assert r.status == 200 and r.json()["messages"] == [], r
    # the seq goes on (Redis kept it), under the new epoch
    a.admin.publish("feed", "after")
    nxt = env_next(res, T(10))
    assert epoch_of(nxt["id"]) == epoch_of(m["id"]) and seq_of(nxt["id"]) == 2, nxt
    res.shutdown()


def test_an_id_this_node_has_not_received_yet_is_no_reset(wspush, redis):
    """A client that got an id from a node that was quicker resumes on a node
    that has not received that message yet (here: its master is stopped):
    no reset; the messages come live (the ones the client already has
    again, with their ids, which it drops) and the stream goes on."""
    a, b = node(wspush, redis.port), node(wspush, redis.port)
    wait_ready(a, b)
    sub = RawWS(a.port, "/feed?format=json")
    a.wait_connections(1)
    a.admin.publish("feed", "both have it")
    base = env_next(sub, T(10))
    wait_until(lambda: b.admin.request("GET", "/history/feed").json()["newest"] == base["id"],
               T(10), "B to have the first message")
    os.kill(b.pid, signal.SIGSTOP)  # B's master stops taking messages from Redis
    try:
        for i in range(3):
            a.admin.publish("feed", f"only-a-{i}")
        got = collect(sub, 3)
        res = RawWS(b.port, f"/feed?format=json&since={got[-1]['id']}")  # B's worker
    finally:
        os.kill(b.pid, signal.SIGCONT)
    again = collect(res, 3)
    assert "type" not in again[0], again[0]
    assert again == got, "the ones it had, live, with the same ids"
    a.admin.publish("feed", "new")
    nxt = env_next(res, T(10))
    assert nxt["data"] == "new" and seq_of(nxt["id"]) == seq_of(base["id"]) + 4, nxt
    # the admin API says the same: nothing after it here (yet), not 410
    ahead = f"{epoch_of(nxt['id'])}-{seq_of(nxt['id']) + 1}"
    r = b.admin.request("GET", f"/history/feed?since={ahead}")
    assert r.status == 200 and r.json()["messages"] == [], r
    sub.shutdown()
    res.shutdown()


def test_ticks_have_no_id_and_take_no_seq(wspush, redis):
    """The ticker is node-local: with ids from Redis its messages have no id
    (a node's own seq would collide with Redis' for the same topic)."""
    a = node(wspush, redis.port, "--tick", "50ms", "--tick-topic", "feed")
    wait_ready(a)
    ws = RawWS(a.port, "/feed?format=json")
    a.wait_connections(1)
    a.admin.publish("feed", "one")
    a.admin.publish("feed", "two")
    mine, ticks = [], 0
    while len(mine) < 2 or ticks < 2:
        m = env_next(ws, T(10))
        if m["data"] in ("one", "two"):
            mine.append(m)
        else:
            assert m["id"] is None, m
            ticks += 1
    assert seq_of(mine[1]["id"]) == seq_of(mine[0]["id"]) + 1
    ws.shutdown()
