"""test_auth.py - subscriber tokens at the handshake (issue 13, docs/auth.md).

Tokens are made by python3-jwt, keys by `openssl genpkey`: an implementation
independent of the server's. Refusals are read as plain HTTP answers to an
upgrade request; accepted connections go through RawWS."""
import base64
import os
import signal
import subprocess
import time

import jwt
import pytest

from conftest import RawWS, T, http_raw, wait_until

SECRET = b"integration-test-hmac-key-0123456789-abcdef"
SECRET2 = b"integration-test-hmac-key-rotated-9876543210"


def tok(sub="alice", topics=(), exp_in=3600, key=SECRET, alg="HS256", **extra):
    claims = {"exp": int(time.time()) + exp_in, "topics": list(topics), **extra}
    if sub is not None:
        claims["sub"] = sub
    return jwt.encode(claims, key, alg)


def upgrade(port, path, headers=None):
    """An upgrade request; returns the Response (101 is closed politely)."""
    hs = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
          "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
          "Sec-WebSocket-Version": "13", **(headers or {})}
    req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
    return http_raw(port, req.encode())


@pytest.fixture
def keyfile(tmp_path):
    p = tmp_path / "hmac.key"
    p.write_bytes(SECRET + b"\n")  # one trailing newline: not part of the key
    return p


@pytest.fixture
def srv(wspush, keyfile):
    return wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile),
                  "--public-topics", "/,public.*", "--auth-cookie", "wsp")


def refused(r, status, reason):
    assert r.status == status, r
    assert reason in r.body.decode(), r
    assert r.headers.get("www-authenticate", "").startswith("Bearer"), r.headers


def test_private_topic_needs_a_token(srv):
    refused(upgrade(srv.port, "/orders-42"), 401, "token required")
    refused(upgrade(srv.port, "/orders-42?token=" + tok("bob", ["orders-43"])), 403,
            "topic not granted")
    refused(upgrade(srv.port, "/orders-42?token=garbage"), 401, "malformed")
    refused(upgrade(srv.port, "/orders-42?token=" + tok(topics=["orders-42"], key=b"x" * 40)),
            401, "signature")
    refused(upgrade(srv.port, "/orders-42?token=" + tok(topics=["orders-42"], exp_in=-120)),
            401, "expired")
    assert upgrade(srv.port, "/orders-42?token=" + tok("bob", ["orders-42"])).status == 101
    m = srv.metrics()
    assert 'wspush_auth_refused_total{reason="missing"} 1' in m
    assert 'wspush_auth_refused_total{reason="topic_denied"} 1' in m
    assert 'wspush_auth_refused_total{reason="bad_signature"} 1' in m
    assert "wspush_auth_accepted_total 1" in m
    assert srv.stats()["auth"]["refused"]["expired"] == 1


def test_token_sources_header_and_cookie(srv):
    t = tok(topics=["orders-42"])
    assert upgrade(srv.port, "/orders-42", {"Authorization": "Bearer " + t}).status == 101
    assert upgrade(srv.port, "/orders-42", {"Cookie": f"a=b; wsp={t}"}).status == 101
    assert upgrade(srv.port, "/orders-42", {"Cookie": f"other={t}"}).status == 401


def test_user_topic_only_for_its_user(srv):
    alice = tok("alice")
    ws = RawWS(srv.port, "/@alice?token=" + alice)
    # another user's topic is refused whatever the topics claim says
    refused(upgrade(srv.port, "/@alice?token=" + tok("bob", ["@alice", "*"])), 403, "not granted")
    refused(upgrade(srv.port, "/@alice"), 401, "token required")
    srv.wait_connections(1)
    srv.admin.publish("@alice", "for alice")
    f = ws.recv_frame()
    assert f.payload == b"for alice"
    ws.shutdown()


def test_patterns_and_no_partial_subscription(srv):
    t = tok(topics=["news.*"])
    ws = RawWS(srv.port, "/news.eu?topic=news.us&token=" + t)
    # one topic not granted refuses the whole upgrade
    refused(upgrade(srv.port, "/news.eu?topic=sports&token=" + t), 403, "not granted")
    refused(upgrade(srv.port, "/news?token=" + t), 403, "not granted")
    srv.wait_connections(1)
    srv.admin.publish("news.us", "n1")
    assert ws.recv_frame().payload == b"n1"
    ws.shutdown()


def test_public_topics_without_token(srv):
    assert upgrade(srv.port, "/").status == 101  # "/" listed: broadcasts only
    assert upgrade(srv.port, "/public.weather").status == 101
    refused(upgrade(srv.port, "/?topic=public.x&topic=private"), 401, "token required")
    # a broken token is refused even where none is needed
    refused(upgrade(srv.port, "/public.weather?token=a.b.c"), 401, "")


def test_expiry_closes_with_4001(wspush, keyfile):
    s = wspush("--workers", "1", "--auth-hmac-key-file", str(keyfile), "--auth-leeway", "0")
    ws = RawWS(s.port, "/news?token=" + tok(topics=["news"], exp_in=2), timeout=T(10))
    f = ws.recv_close(timeout=T(10))
    assert f.close_code == 4001
    assert b"token expired" in f.payload
    ws.shutdown()
    s.wait_stats(lambda st: st["auth"]["expired"] == 1, what="expiry counted")


def test_sighup_rotates_keys(wspush, keyfile):
    s = wspush("--workers", "2", "--auth-hmac-key-file", str(keyfile))
    old = RawWS(s.port, "/news?token=" + tok(topics=["news"]))
    s.wait_connections(1)
    keyfile.write_bytes(SECRET2)
    mark = s.log_mark()
    s.proc.send_signal(signal.SIGHUP)
    # the master and both workers (their lines may all arrive at once)
    wait_until(lambda: s.log_count(r"token keys reloaded", start=mark) >= 3, T(10),
               "the master and both workers to reload the keys")
    assert upgrade(s.port, "/news?token=" + tok(topics=["news"], key=SECRET2)).status == 101
    assert upgrade(s.port, "/news?token=" + tok(topics=["news"])).status == 401
    # a broken file keeps the keys in use
    keyfile.write_bytes(b"short")
    mark = s.log_mark()
    s.proc.send_signal(signal.SIGHUP)
    s.wait_for_log(r"token key reload failed, keeping the old keys", start=mark)
    assert upgrade(s.port, "/news?token=" + tok(topics=["news"], key=SECRET2)).status == 101
    # the connection admitted with the old key is still there
    s.admin.publish("news", "still here")
    assert old.recv_frame().payload == b"still here"
    old.shutdown()


def test_every_public_key_algorithm(wspush, tmp_path):
    from cryptography.hazmat.primitives import serialization
    for name, args, alg in [("rsa", ["-algorithm", "RSA"], "RS256"),
                            ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "ES256"),
                            ("ed", ["-algorithm", "ED25519"], "EdDSA")]:
        priv = tmp_path / f"{name}.pem"
        pub = tmp_path / f"{name}.pub"
        subprocess.run(["openssl", "genpkey", *args, "-out", str(priv)], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)],
                       check=True, capture_output=True)
        key = serialization.load_pem_private_key(priv.read_bytes(), None)
        s = wspush("--workers", "1", "--auth-public-key", str(pub))
        assert upgrade(s.port, "/x?token=" + tok(topics=["x"], key=key, alg=alg)).status == 101
        # an HMAC token "signed" with the public key: algorithm confusion
        forged = jwt.api_jws.PyJWS().encode(b'{"topics":["x"]}', b"unused", "HS256")
        h, p, _ = forged.split(".")
        import hashlib
        import hmac
        sig = hmac.new(pub.read_bytes(), f"{h}.{p}".encode(), hashlib.sha256).digest()
        forged = f"{h}.{p}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
        refused(upgrade(s.port, "/x?token=" + forged), 401, "does not fit the key")
        s.stop()


def test_auth_off_is_unchanged(wspush, keyfile):
    s = wspush("--workers", "1", "--auth-hmac-key-file", str(keyfile), "--auth", "off")
    assert upgrade(s.port, "/orders-42").status == 101
    assert upgrade(s.port, "/orders-42?token=garbage").status == 101
    assert upgrade(s.port, "/@alice").status == 101
    # without any key, auto means off
    s2 = wspush("--workers", "1")
    assert upgrade(s2.port, "/orders-42").status == 101


def test_bad_key_file_fails_the_start(tmp_path):
    from conftest import WSPUSH_BIN
    p = tmp_path / "k"
    p.write_bytes(b"too short")
    r = subprocess.run([WSPUSH_BIN, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                        "--auth-hmac-key-file", str(p)], capture_output=True, timeout=T(20))
    assert r.returncode == 2
    assert b"at least 32" in r.stderr
