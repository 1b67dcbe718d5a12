"""Message ids, the JSON envelope, per-topic history and resume (issue 14):
a subscriber that reconnects with ?since= gets exactly what it missed, in
order, then the live stream, with no gap and no duplicate at the boundary
while messages keep coming; when history cannot cover it, it is told
(envelope: a "reset" message; raw: close 4002 with the current id)."""
import base64
import json
import os
import signal

import pytest

from conftest import (OP_BINARY, OP_TEXT, T, LivePublisher, RawWS, publish_pipelined,
                      wait_until)


def env_next(ws, timeout=None):
    """The next envelope message (skips pings)."""
    while True:
        f = ws.recv_frame(timeout)
        if f.opcode == OP_TEXT:
            return json.loads(f.payload)
        assert f.opcode not in (OP_BINARY, 0x8), f


def seq_of(msg_id):
    return int(msg_id.split("-")[1])


def epoch_of(msg_id):
    return msg_id.split("-")[0]


def last_id(srv, topic):
    """Subscribes in envelope mode, publishes one marker, returns its id."""
    ws = RawWS(srv.port, f"/{topic}?format=json")
    srv.wait_stats(lambda s: s["connections"] >= 1)
    srv.admin.publish(topic, "marker")
    m = env_next(ws)
    ws.shutdown()
    assert m["topic"] == topic and m["data"] == "marker" and "type" not in m, m
    return m["id"]


@pytest.fixture
def hist(wspush):
    return wspush("--workers", "2", "--history-size", "10000")


def test_envelope_text_binary_and_raw_unchanged(hist):
    srv = hist
    env = RawWS(srv.port, "/news?format=json")
    sub = RawWS(srv.port, "/news", protocols=["wspush.json"])
    assert sub.response_headers.get("sec-websocket-protocol") == "wspush.json"
    raw = RawWS(srv.port, "/news")
    srv.wait_connections(3)
    srv.admin.publish("news", "héllo \"q\"")
    srv.admin.publish("news", b"\x00\xff\x01", binary=True)
    srv.admin.broadcast("all")
    for ws in (env, sub):
        a, b, c = env_next(ws), env_next(ws), env_next(ws)
        assert a["topic"] == "news" and a["data"] == "héllo \"q\"" and "encoding" not in a
        assert b["encoding"] == "base64" and base64.b64decode(b["data"]) == b"\x00\xff\x01"
        assert seq_of(b["id"]) == seq_of(a["id"]) + 1 and epoch_of(a["id"]) == epoch_of(b["id"])
        assert c == {"topic": None, "id": None, "data": "all"}
    f = raw.recv_frame()
    assert (f.opcode, f.payload) == (OP_TEXT, "héllo \"q\"".encode())
    f = raw.recv_frame()
    assert (f.opcode, f.payload) == (OP_BINARY, b"\x00\xff\x01")
    for ws in (env, sub, raw):
        ws.shutdown()


def test_resume_exactly_what_was_missed_then_live(hist):
    srv = hist
    since = last_id(srv, "feed")
    base = seq_of(since)
    for i in range(100):
        srv.admin.publish("feed", f"missed-{i}")
    # keep publishing while the subscriber resumes: the replay/live boundary
    # moves under it
    # at most 5,000 live: history (10,000) holds all, however slow the box
    pub = LivePublisher(srv.admin_port, "feed", most=5000).start()
    try:
        ws = RawWS(srv.port, f"/feed?format=json&since={since}")
        got = [env_next(ws) for _ in range(110)]
    finally:
        pub.stop()
    published = pub.published
    total = 100 + len(published)
    got += [env_next(ws) for _ in range(total - len(got))]
    ws.shutdown()
    assert all("type" not in m for m in got), [m for m in got if "type" in m]
    seqs = [seq_of(m["id"]) for m in got]
    assert seqs == list(range(base + 1, base + 1 + total)), seqs[:5]
    assert [m["data"] for m in got] == [f"missed-{i}" for i in range(100)] + published
    m = srv.metrics()
    assert "wspush_history_replayed_total" in m


def test_reset_names_the_id_the_live_stream_goes_on_from(wspush):
    """History runs ahead of a busy worker by the entries still in its ring.
    A reset must name the last id this connection will NOT get live, so the
    live stream goes on at the next one. (The old code named history's
    newest: here 3101, and then the live stream went on from 2150.)"""
    srv = wspush("--workers", "1", "--history-size", "2000")
    since = last_id(srv, "lag")
    publish_pipelined(srv.admin_port, "lag", [f"m{i}".encode() for i in range(100)])
    wpid = srv.worker_pids()[0]
    os.kill(wpid, signal.SIGSTOP)
    try:
        def flood():  # the request waits in the kernel; then the ring fills
            publish_pipelined(srv.admin_port, "lag", [f"f{i}".encode() for i in range(3000)])
            os.kill(wpid, signal.SIGCONT)

        # the worker takes at most 1,024 ring entries per wake, so the
        # resume may run with some of the 3,000 still ahead of its cursor;
        # since's successors are gone from a 2,000-deep history either way
        ws = RawWS(srv.port, f"/lag?format=json&since={since}", sent=flood, timeout=T(30))
    finally:
        os.kill(wpid, signal.SIGCONT)
    reset = env_next(ws)
    assert reset["type"] == "reset" and reset["cause"] == "gap", reset
    srv.admin.publish("lag", "after")
    got = []
    while not got or got[-1]["data"] != "after":
        m = env_next(ws)
        assert "type" not in m, m
        got.append(m)
    ws.shutdown()
    first = seq_of(reset["id"]) + 1
    assert [seq_of(m["id"]) for m in got] == list(range(first, first + len(got))), \
        (reset, got[:2])


def test_resume_several_topics_raw_mode(hist):
    srv = hist
    a, b = last_id(srv, "ta"), last_id(srv, "tb")
    for i in range(5):
        srv.admin.publish("ta", f"a{i}")
        srv.admin.publish("tb", f"b{i}")
    ws = RawWS(srv.port, f"/?topic=ta&topic=tb&since=ta:{a}&since=tb%3A{b}")
    got = [ws.recv_frame().payload.decode() for _ in range(10)]
    assert got == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]
    srv.admin.publish("tb", "live")
    assert ws.recv_frame().payload == b"live"
    ws.shutdown()


def test_history_exhausted_reset_and_4002(wspush):
    srv = wspush("--history-size", "10")
    since = last_id(srv, "x")
    for i in range(30):
        srv.admin.publish("x", f"m{i}")
    cur = f"{epoch_of(since)}-{seq_of(since) + 30}"
    ws = RawWS(srv.port, f"/x?format=json&since={since}")
    m = env_next(ws)
    assert m == {"type": "reset", "topic": "x", "id": cur, "cause": "gap"}, m
    srv.admin.publish("x", "after")  # still subscribed: live goes on
    m = env_next(ws)
    assert m["data"] == "after" and seq_of(m["id"]) == seq_of(cur) + 1
    ws.shutdown()
    raw = RawWS(srv.port, f"/x?since={since}")
    f = raw.recv_close()
    assert f.close_code == 4002
    assert f.payload[2:].decode() == f"reset gap {epoch_of(since)}-{seq_of(cur) + 1}"
    wait_until(lambda: 'cause="gap"' in srv.metrics(), T(5), "reset counted")


def test_envelope_reset_for_the_longest_topic_name(wspush):
    """An envelope reset for a topic of the longest length a name may have
    (128 bytes): the reset frame arrives and the worker goes on (its buffer
    was sized for ~70 bytes; an always-on assertion ended the worker)."""
    srv = wspush("--workers", "1")
    topic = "t" * 128
    ws = RawWS(srv.port, f"/{topic}?format=json&since=1-1")
    m = env_next(ws)
    assert m == {"type": "reset", "topic": topic, "id": None, "cause": "off"}, m
    ws.shutdown()
    ws = RawWS(srv.port, "/after?format=json")  # the same worker still serves
    srv.admin.publish("after", "x")
    assert env_next(ws)["data"] == "x"
    ws.shutdown()


def test_restart_new_epoch_reset(wspush):
    srv = wspush("--history-size", "50")
    since = last_id(srv, "r")
    srv.stop()
    srv2 = wspush("--history-size", "50")
    ws = RawWS(srv2.port, f"/r?format=json&since={since}")
    m = env_next(ws)
    assert m["type"] == "reset" and m["cause"] == "epoch", m
    assert epoch_of(m["id"]) != epoch_of(since)
    ws.shutdown()


def test_history_off_reset(wspush):
    srv = wspush()
    since = last_id(srv, "o")
    ws = RawWS(srv.port, f"/o?format=json&since={since}")
    assert env_next(ws) == {"type": "reset", "topic": "o", "id": None, "cause": "off"}
    ws.shutdown()
    raw = RawWS(srv.port, f"/o?since={since}")
    f = raw.recv_close()
    assert f.close_code == 4002 and f.payload[2:] == b"reset off"


def test_bad_since_is_400(hist):
    srv = hist
    for q in ("since=abc", "since=0-1", "since=other:1-1", "format=xml"):
        with pytest.raises(AssertionError, match="400"):
            RawWS(srv.port, f"/t?{q}")


def test_admin_history_api(hist):
    srv = hist
    since = last_id(srv, "api")
    srv.admin.publish("api", "one")
    srv.admin.publish("api", b"\x01\x02", binary=True)
    r = srv.admin.request("GET", f"/history/api?since={since}&limit=1")
    assert r.status == 200, r
    body = r.json()
    assert body["topic"] == "api" and body["more"] is True
    assert [m["data"] for m in body["messages"]] == ["one"]
    nxt = body["messages"][0]["id"]
    body = srv.admin.request("GET", f"/history/api?since={nxt}").json()
    assert body["messages"] == [{"id": body["newest"], "data": "AQI=", "encoding": "base64"}]
    assert body["more"] is False
    all_ = srv.admin.request("GET", "/history/api").json()["messages"]
    assert [m["data"] for m in all_][:1] == ["marker"] and len(all_) == 3
    assert srv.admin.request("GET", "/history/api?since=1-1").status == 410
    assert srv.admin.request("GET", "/history/api?limit=0").status == 400
