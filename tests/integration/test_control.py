"""test_control.py - the connection control API on the admin port (issue 13,
docs/auth.md): POST /disconnect across workers and nodes, in order with the
messages; GET /topics paging; GET /presence/<topic> after churn, and summed
and merged over two nodes through Redis."""
import json
import time

import jwt
import pytest

from conftest import RawWS, T, wait_until
from test_redis import REDIS_SERVER, healthz_ready, redis  # noqa: F401 (a fixture)

SECRET = b"integration-test-hmac-key-0123456789-abcdef"


def tok(sub, topics=(), exp_in=3600):
    claims = {"exp": int(time.time()) + exp_in, "topics": list(topics)}
    if sub is not None:
        claims["sub"] = sub
    return jwt.encode(claims, SECRET, "HS256")


@pytest.fixture
def keyfile(tmp_path):
    p = tmp_path / "hmac.key"
    p.write_bytes(SECRET + b"\n")
    return p


def post_json(srv, path, obj, **kw):
    body = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
    return srv.admin.request("POST", path, body, {"Content-Type": "application/json"}, **kw)


def frames_until_close(ws):
    """The text payloads received before the close frame, and that frame."""
    got = []
    while True:
        f = ws.recv_frame()
        if f.opcode == 8:
            return got, f
        got.append(f.payload.decode())


def per_worker_conns(srv):
    return [w["connections"] for w in srv.stats()["workers"]]


def open_on_every_worker(srv, path, n_min, at_most=64):
    """Opens connections on path until there are n_min of them and every
    worker holds at least one (the kernel spreads them by hash); returns
    them."""
    out = []
    base = sum(per_worker_conns(srv))
    while len(out) < at_most:
        out.append(RawWS(srv.port, path, timeout=T(10)))
        srv.wait_connections(base + len(out))
        if len(out) >= n_min and all(per_worker_conns(srv)):
            return out
    pytest.fail("the kernel put every connection on one worker")


def test_disconnect_by_user_across_two_workers(wspush, keyfile):
    srv = wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile),
                 "--public-topics", "lobby")
    bob = RawWS(srv.port, "/@bob?token=" + tok("bob"), timeout=T(10))
    anon = RawWS(srv.port, "/lobby", timeout=T(10))
    srv.wait_connections(2)
    alice = open_on_every_worker(srv, "/@alice?token=" + tok("alice"), 4)
    n = len(alice)
    r = post_json(srv, "/disconnect", {"user": "alice", "reconnect": False,
                                       "reason": "account closed"})
    assert r.status == 200, r
    j = r.json()
    assert j == {"user": "alice", "disconnected": n, "code": 4503, "scope": "node",
                 "complete": True}, j
    for ws in alice:
        f = ws.recv_close()
        assert f.close_code == 4503
        assert f.payload[2:] == b"account closed"
        ws.shutdown()
    # others stay
    srv.wait_connections(2)
    srv.admin.publish("@bob", "still here")
    assert bob.recv_frame().payload == b"still here"
    # reconnect allowed: 4000, the default reason; a user with nobody: 0
    again = RawWS(srv.port, "/@alice?token=" + tok("alice"), timeout=T(10))
    srv.wait_connections(3)
    r = post_json(srv, "/disconnect", {"user": "alice", "reconnect": True})
    assert r.json()["disconnected"] == 1 and r.json()["code"] == 4000
    f = again.recv_close()
    assert f.close_code == 4000 and b"disconnected by the application" in f.payload
    again.shutdown()
    assert post_json(srv, "/disconnect", {"user": "nobody"}).json()["disconnected"] == 0
    m = srv.metrics()
    assert f"wspush_disconnects_api_total {n + 1}" in m
    assert srv.stats()["auth"]["disconnected_by_api"] == n + 1
    for ws in (bob, anon):
        ws.shutdown()


def test_disconnect_bad_requests(wspush, keyfile):
    srv = wspush("--workers", "1", "--auth-hmac-key-file", str(keyfile),
                 "--publish-token", "admintok", token="admintok")
    assert post_json(srv, "/disconnect", {"user": "a"}, token="").status == 401
    assert srv.admin.request("GET", "/disconnect").status == 405
    for body in ("", "[]", "{", '{"user":""}', '{"user":5}', '{"user":"a","reconnect":1}',
                 '{"user":"a","reason":7}', json.dumps({"user": "x" * 128}),
                 '{"user":"a","user":"b"}'):
        r = post_json(srv, "/disconnect", body)
        assert r.status == 400, (body, r)
        assert "error" in r.json()
    # a long reason is cut on a code point boundary to fit a close frame
    ws = RawWS(srv.port, "/@al?token=" + tok("al"), timeout=T(10))
    srv.wait_connections(1)
    r = post_json(srv, "/disconnect", {"user": "al", "reason": "é" * 100})
    assert r.json()["disconnected"] == 1
    f = ws.recv_close()
    assert f.close_code == 4503 and f.payload[2:] == "é".encode() * 61
    ws.shutdown()


def test_disconnect_does_not_overtake_messages(wspush, keyfile):
    """Messages published (202) before the disconnect reach the client
    before its close frame, on every worker."""
    srv = wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile))
    alice = open_on_every_worker(srv, "/@alice?token=" + tok("alice"), 2)
    n = 200
    for i in range(n):
        srv.admin.publish("@alice", f"m{i}")
    r = post_json(srv, "/disconnect", {"user": "alice"})
    assert r.json()["disconnected"] == len(alice)
    for ws in alice:
        got, f = frames_until_close(ws)
        assert got == [f"m{i}" for i in range(n)]
        assert f.close_code == 4503
        ws.shutdown()


def test_topics_paging(wspush):
    srv = wspush("--workers", "2")
    want = {}
    conns = []
    for i in range(23):
        t = f"room-{i}"
        k = 1 + i % 3
        want[t] = k
        for _ in range(k):
            conns.append(RawWS(srv.port, "/" + t, timeout=T(10)))
    srv.wait_connections(len(conns))

    def pages(limit):
        seen, cursor, n = {}, None, 0
        while True:
            q = f"/topics?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            r = srv.admin.request("GET", q)
            assert r.status == 200, r
            j = r.json()
            assert len(j["topics"]) <= limit
            for t in j["topics"]:
                assert t["topic"] not in seen
                seen[t["topic"]] = t["subscribers"]
            n += 1
            cursor = j["next_cursor"]
            if cursor is None:
                return seen, n
    got, npages = pages(5)
    assert got == want and npages == 5
    assert pages(1000) == (want, 1)
    for q in ("limit=0", "limit=1001", "limit=x", "cursor=-1", "cursor=99999"):
        assert srv.admin.request("GET", "/topics?" + q).status == 400, q
    # gone topics leave the list
    for ws in conns:
        ws.shutdown()
    srv.wait_connections(0)
    wait_until(lambda: srv.admin.request("GET", "/topics").json()["topics"] == [], T(10),
               "empty topic list")


def test_presence_exact_after_churn(wspush, keyfile):
    srv = wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile), "--presence", "on",
                 "--public-topics", "room")

    def ws_for(user):
        path = "/room" + (f"?token={tok(user, ['room'])}" if user else "")
        return RawWS(srv.port, path, timeout=T(10))

    live = []
    # churn: users come and go, some twice, some without a token
    for round_ in range(3):
        for u in ("ann", "ben", "cid", "dee", None, "ann"):
            live.append((u, ws_for(u)))
        srv.wait_connections(len(live))
        # close every other one
        keep = []
        for i, (u, ws) in enumerate(live):
            if (i + round_) % 2:
                ws.shutdown()
            else:
                keep.append((u, ws))
        live = keep
        srv.wait_connections(len(live))
    users = sorted({u for u, _ in live if u})

    def presence(q=""):
        r = srv.admin.request("GET", "/presence/room" + q)
        assert r.status == 200, r
        return r.json()
    wait_until(lambda: presence()["subscribers"] == len(live), T(10), "subscriber count")
    p = presence()
    assert p["users"] == users and not p["users_truncated"] and p["complete"], p
    p = presence("?limit=1")
    # a bounded list: some of the users, and it says so
    assert len(p["users"]) == 1 and p["users"][0] in users and p["users_truncated"], p
    assert presence_of(srv, "nothing-here") == {"topic": "nothing-here", "subscribers": 0,
                                                "users": [], "users_truncated": False,
                                                "complete": True, "scope": "node"}
    assert srv.admin.request("GET", "/presence/room?limit=0").status == 400
    for _, ws in live:
        ws.shutdown()


def presence_of(srv, topic):
    return srv.admin.request("GET", "/presence/" + topic).json()


def test_presence_off_gives_counts_only(wspush):
    srv = wspush("--workers", "2")
    a = RawWS(srv.port, "/t1", timeout=T(10))
    srv.wait_connections(1)
    wait_until(lambda: presence_of(srv, "t1")["subscribers"] == 1, T(10), "count")
    assert presence_of(srv, "t1") == {"topic": "t1", "subscribers": 1, "users": None,
                                      "presence": "off", "scope": "node"}
    a.shutdown()


@pytest.mark.skipif(not REDIS_SERVER, reason="redis-server not installed")
def test_disconnect_across_two_nodes_through_redis(wspush, keyfile, redis):  # noqa: F811
    if True:
        url = f"redis://127.0.0.1:{redis.port}"
        nodes = [wspush("--workers", "2", "--redis", url, "--auth-hmac-key-file", str(keyfile))
                 for _ in range(2)]
        for nd in nodes:
            wait_until(lambda: healthz_ready(nd) == 200, T(15), "node ready")
        a0 = RawWS(nodes[0].port, "/@alice?token=" + tok("alice"), timeout=T(10))
        a1 = [RawWS(nodes[1].port, "/@alice?token=" + tok("alice"), timeout=T(10))
              for _ in range(2)]
        nodes[0].wait_connections(1)
        nodes[1].wait_connections(2)
        wait_until(lambda: redis.numsub("wspush:@alice") == 2, T(15), "both nodes subscribed")
        # published on node 0 just before the disconnect: arrives first everywhere
        for i in range(20):
            nodes[0].admin.publish("@alice", f"m{i}")
        r = post_json(nodes[0], "/disconnect", {"user": "alice", "reason": "bye"})
        assert r.status == 200, r
        assert r.json() == {"user": "alice", "disconnected": 1, "code": 4503,
                            "scope": "node", "complete": True, "via": "redis"}
        for ws in [a0] + a1:
            got, f = frames_until_close(ws)
            assert got == [f"m{i}" for i in range(20)]
            assert f.close_code == 4503 and f.payload[2:] == b"bye"
            ws.shutdown()
        assert "wspush_disconnects_api_total 2" in nodes[1].metrics()
        # Redis down: 503, nobody disconnected
        redis.kill()
        wait_until(lambda: healthz_ready(nodes[0]) == 503, T(15), "node not ready")
        assert post_json(nodes[0], "/disconnect", {"user": "alice"}).status == 503


@pytest.mark.skipif(not REDIS_SERVER, reason="redis-server not installed")
def test_presence_across_two_nodes_through_redis(wspush, keyfile, redis):  # noqa: F811
    """--redis: GET /presence/<topic> on either node sums the nodes' counts
    and merges their users (ben is on both); a node that never answers
    (SIGSTOP) leaves the answer incomplete, given at the deadline."""
    import signal
    url = f"redis://127.0.0.1:{redis.port}"
    nodes = [wspush("--workers", "2", "--redis", url, "--auth-hmac-key-file", str(keyfile),
                    "--presence", "on", "--public-topics", "room") for _ in range(2)]
    for nd in nodes:
        wait_until(lambda: healthz_ready(nd) == 200, T(15), "node ready")
    where = {0: ["ann", "ben", "ben", None], 1: ["ben", "cid", None]}
    conns = []
    for k, users in where.items():
        for u in users:
            path = "/room" + (f"?token={tok(u, ['room'])}" if u else "")
            conns.append(RawWS(nodes[k].port, path, timeout=T(10)))
        nodes[k].wait_connections(len(users))
    total = sum(len(u) for u in where.values())

    def presence(nd, q=""):
        r = nd.admin.request("GET", "/presence/room" + q)
        assert r.status == 200, r
        return r.json()
    for nd in nodes:
        wait_until(lambda: presence(nd)["subscribers"] == total, T(15), "summed count")
        p = presence(nd)
        assert p == {"topic": "room", "subscribers": total, "users": ["ann", "ben", "cid"],
                     "users_truncated": False, "complete": True, "scope": "cluster",
                     "nodes": 2}, p
    p = presence(nodes[1], "?limit=2")
    assert p["users"] == ["ann", "ben"] and p["users_truncated"] and p["complete"], p
    # a topic nobody has: both nodes answer with nothing
    assert presence_of(nodes[0], "empty") == {
        "topic": "empty", "subscribers": 0, "users": [], "users_truncated": False,
        "complete": True, "scope": "cluster", "nodes": 2}
    # node 1 stopped: still subscribed in Redis, so it is expected, never answers
    nodes[1].proc.send_signal(signal.SIGSTOP)
    try:
        p = presence(nodes[0])
        assert p["complete"] is False and p["nodes"] == 1, p
        assert p["users"] == ["ann", "ben"] and p["subscribers"] == len(where[0]), p
    finally:
        nodes[1].proc.send_signal(signal.SIGCONT)
    # its late answer is dropped; the next question is whole again
    wait_until(lambda: presence(nodes[0])["complete"], T(15), "complete again")
    assert presence(nodes[0])["users"] == ["ann", "ben", "cid"]
    for ws in conns:
        ws.shutdown()
    # Redis down: 503, not a partial answer
    redis.kill()
    wait_until(lambda: healthz_ready(nodes[0]) == 503, T(15), "node not ready")
    assert nodes[0].admin.request("GET", "/presence/room").status == 503


@pytest.mark.skipif(not REDIS_SERVER, reason="redis-server not installed")
def test_presence_off_counts_across_nodes(wspush, redis):  # noqa: F811
    url = f"redis://127.0.0.1:{redis.port}"
    nodes = [wspush("--workers", "1", "--redis", url) for _ in range(2)]
    for nd in nodes:
        wait_until(lambda: healthz_ready(nd) == 200, T(15), "node ready")
    conns = [RawWS(nodes[k].port, "/t1", timeout=T(10)) for k in (0, 1, 1)]
    wait_until(lambda: presence_of(nodes[0], "t1")["subscribers"] == 3, T(15), "summed count")
    assert presence_of(nodes[0], "t1") == {"topic": "t1", "subscribers": 3, "users": None,
                                           "presence": "off", "complete": True,
                                           "scope": "cluster", "nodes": 2}
    for ws in conns:
        ws.shutdown()


def test_bench_token_file_each_connection_its_own_token(wspush, keyfile, tmp_path):
    """wspush-bench --token-file: connection i sends line i mod n; every
    handshake is admitted, and the users are the file's (presence)."""
    import os
    import subprocess
    bench = os.environ.get("WSPUSH_BENCH_BIN", "")
    if not bench or not os.path.exists(bench):
        pytest.skip("WSPUSH_BENCH_BIN is not built")
    srv = wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile), "--presence", "on")
    f = tmp_path / "tokens"
    f.write_text("".join(tok(f"u{i}", ["room"]) + "\n" for i in range(7)) + "\n")
    r = subprocess.run([bench, "--url", f"ws://127.0.0.1:{srv.port}/room", "--conns", "20",
                        "--procs", "2", "--duration", "3", "--warmup", "1", "--expect-rate", "0",
                        "--quiet", "--assert-no-errors", "--token-file", str(f)],
                       capture_output=True, text=True, timeout=T(30) + 30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "handshake rate" in r.stdout
    assert srv.stats()["auth"]["accepted"] == 20
    # one bad token: every handshake refused, the bench says so
    r = subprocess.run([bench, "--url", f"ws://127.0.0.1:{srv.port}/room", "--conns", "3",
                        "--duration", "2", "--warmup", "1", "--expect-rate", "0", "--quiet",
                        "--assert-no-errors", "--token", "not.a.jwt"],
                       capture_output=True, text=True, timeout=T(30) + 30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert srv.stats()["auth"]["refused"]["malformed"] >= 3


def test_issue17_disconnect_codes_have_their_own_metric_label(wspush, keyfile):
    """4503 and 4000 (like 1012 and every code docs/close-codes.md defines)
    are counted under their own code= label, not under "other"."""
    srv = wspush("--workers", "1", "--auth-hmac-key-file", str(keyfile))
    a = RawWS(srv.port, "/@alice?token=" + tok("alice"), timeout=T(10))
    b = RawWS(srv.port, "/@bob?token=" + tok("bob"), timeout=T(10))
    srv.wait_connections(2)
    assert post_json(srv, "/disconnect", {"user": "alice", "reconnect": False}).json()[
        "disconnected"] == 1
    assert post_json(srv, "/disconnect", {"user": "bob", "reconnect": True}).json()[
        "disconnected"] == 1
    assert a.recv_close().close_code == 4503
    assert b.recv_close().close_code == 4000
    a.shutdown()
    b.shutdown()
    srv.wait_connections(0)

    def labels():
        m = srv.metrics()
        return m if ('wspush_disconnects_total{code="4503"} 1' in m and
                     'wspush_disconnects_total{code="4000"} 1' in m) else None

    m = wait_until(labels, T(10), "code=4503 and code=4000 in /metrics")
    assert 'wspush_disconnects_total{code="other"} 0' in m, m
    assert 'wspush_disconnects_total{code="1012"} 0' in m, m
