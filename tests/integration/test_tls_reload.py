"""test_tls_reload.py - certificate reloads (SIGHUP) against connections in
flight and against worker restarts (issue 11 items 2 and 17).

Certificates are made with `openssl req` (conftest.make_cert), in a
directory per test so a test can break its own files."""
import os
import shutil
import signal
import socket
import ssl
import subprocess

import pytest

from conftest import T, make_cert, wait_until


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    make_cert(d, "localhost")
    make_cert(d, "other.test")
    return d


@pytest.fixture
def certs(cert_dir, tmp_path):
    """Fresh copies the test may overwrite: {name: (crt, key)}."""
    out = {}
    for cn in ("localhost", "other.test"):
        crt, key = str(tmp_path / (cn + ".pem")), str(tmp_path / (cn + ".key"))
        shutil.copy(os.path.join(cert_dir, cn + ".pem"), crt)
        shutil.copy(os.path.join(cert_dir, cn + ".key"), key)
        out[cn] = (crt, key)
    return out


def tls_args(certs):
    (c1, k1), (c2, k2) = certs["localhost"], certs["other.test"]
    return ["--tls-cert", c1, "--tls-key", k1, "--tls-cert", c2, "--tls-key", k2]


def any_cert_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def subject(tls_sock):
    pem = ssl.DER_cert_to_PEM_cert(tls_sock.getpeercert(binary_form=True))
    return subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem.encode(),
                          capture_output=True, check=True).stdout.decode().strip()


def healthz_over_tls(port, name, timeout):
    """One TLS connection with SNI `name`, GET /healthz; returns (subject, status line)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with any_cert_ctx().wrap_socket(s, server_hostname=name) as t:
            t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = t.recv(4096)
            return subject(t), head.split(b"\r\n", 1)[0]


def test_tls_handshake_pending_across_sighup(wspush, certs):
    """issue 11 item 2: a connection accepted before SIGHUP sends its
    ClientHello (with SNI) after the reload; the old contexts' SNI callback
    must still find what it points to."""
    srv = wspush("--workers", "1", *tls_args(certs))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
    srv.wait_stats(lambda st: st["workers"][0]["pending"] == 1, what="the TCP connection accepted")
    mark = srv.log_mark()
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_for_log(r"certificates reloaded", start=mark)
    with any_cert_ctx().wrap_socket(s, server_hostname="other.test") as t:
        assert "other.test" in subject(t)
        t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert t.recv(4096).startswith(b"HTTP/1.1 200 ")
    # the same worker still serves, with the new contexts
    sub, status = healthz_over_tls(srv.port, "other.test", T(10))
    assert "other.test" in sub and status.startswith(b"HTTP/1.1 200"), (sub, status)
    assert srv.stats()["workers"][0]["restarts"] == 0


def test_tls_broken_cert_after_sighup_worker_restarts(wspush, certs):
    """issue 11 item 17: a certificate file broken before SIGHUP is refused
    (the old certificates stay), and a worker restarted afterwards starts
    with them instead of exiting in a loop while its listener queues
    connections nobody accepts."""
    srv = wspush("--workers", "2", *tls_args(certs))
    srv.allow_worker_deaths = True  # the test kills one
    crt, _ = certs["other.test"]
    with open(crt, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    mark = srv.log_mark()
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_for_log(r"certificate reload failed", start=mark)
    old = srv.worker_pids()
    os.kill(old[1], signal.SIGKILL)
    srv.wait_stats(lambda st: st["workers"][1]["pid"] not in (0, old[1])
                   and st["workers"][1]["restarts"] >= 1, what="worker 1 restarted")
    # every connection is served, whichever listener the kernel picks
    for i in range(24):
        sub, status = healthz_over_tls(srv.port, "other.test", T(5))
        assert "other.test" in sub and status.startswith(b"HTTP/1.1 200"), (i, sub, status)
    st = srv.stats()
    assert st["workers"][1]["restarts"] == 1, st["workers"]
    assert "exited with status" not in srv.log()
