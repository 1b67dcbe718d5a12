"""test_admin_tls.py - the admin port over https (issue 17):
--admin-tls-cert/--admin-tls-key, reloaded on SIGHUP like the public
certificates, and `wspush publish --url https://... --cacert/--insecure`.
Certificates are self-signed, made with `openssl req` (test_tls_deflate)."""
import http.client
import os
import shutil
import signal
import ssl
import subprocess

import pytest

from conftest import WSPUSH_BIN, RawWS, T, OP_TEXT
from test_tls_deflate import make_cert


@pytest.fixture
def certs(tmp_path):
    d = str(tmp_path)
    a = make_cert(d, "localhost")
    b = make_cert(d, "other.test")
    crt, key = os.path.join(d, "admin.pem"), os.path.join(d, "admin.key")
    shutil.copy(a[0], crt)
    shutil.copy(a[1], key)
    return {"crt": crt, "key": key, "a": a, "b": b}


def https_get(port, path, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=T(10))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def publish(args):
    return subprocess.run([WSPUSH_BIN, "publish"] + args, capture_output=True, text=True,
                          timeout=T(20))


def test_admin_over_https_and_publish_cli(wspush, certs):
    srv = wspush("--workers", "1", "--admin-tls-cert", certs["crt"], "--admin-tls-key",
                 certs["key"])
    st, body, _ = https_get(srv.admin_port, "/stats", cafile=certs["a"][0])
    assert st == 200 and b'"connections"' in body
    # plain http on the https port gets no answer
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        c = http.client.HTTPConnection("127.0.0.1", srv.admin_port, timeout=T(5))
        c.request("GET", "/stats")
        r = c.getresponse()
        if r.status:
            raise http.client.HTTPException("answered in clear")
    url = f"https://127.0.0.1:{srv.admin_port}"
    ws = RawWS(srv.port, "/news")
    r = publish(["--url", url, "--cacert", certs["a"][0], "news", "over tls"])
    assert r.returncode == 0, r.stderr
    assert '"subscribers_notified":1' in r.stdout.replace(" ", "")
    f = ws.recv_frame()
    assert f.opcode == OP_TEXT and f.payload == b"over tls"
    # a certificate nobody vouches for: refused, unless --insecure
    r = publish(["--url", url, "--cacert", certs["b"][0], "news", "x"])
    assert r.returncode == 1 and "TLS handshake" in r.stderr, r.stderr
    r = publish(["--url", url, "--insecure", "news", "insecure"])
    assert r.returncode == 0, r.stderr
    assert ws.recv_frame().payload == b"insecure"
    # http:// against the https port fails cleanly
    r = publish(["--url", f"http://127.0.0.1:{srv.admin_port}", "news", "x"])
    assert r.returncode == 1
    ws.shutdown()


def test_admin_certificate_reloads_on_sighup(wspush, certs):
    srv = wspush("--workers", "1", "--admin-tls-cert", certs["crt"], "--admin-tls-key",
                 certs["key"])
    assert https_get(srv.admin_port, "/stats")[2] == der(certs["a"][0])
    # a broken file: the old certificate stays
    with open(certs["crt"], "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    mark = srv.log_mark()
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"admin certificate reload failed", start=mark)
    assert https_get(srv.admin_port, "/stats")[2] == der(certs["a"][0])
    # a good new pair: new connections get it
    shutil.copy(certs["b"][0], certs["crt"])
    shutil.copy(certs["b"][1], certs["key"])
    mark = srv.log_mark()
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"admin certificate reloaded", start=mark)
    st, _, cert = https_get(srv.admin_port, "/stats", cafile=certs["b"][0])
    assert st == 200 and cert == der(certs["b"][0])


def test_admin_tls_options_are_checked(certs, tmp_path):
    if not WSPUSH_BIN:
        pytest.skip("WSPUSH_BIN is not set")
    base = [WSPUSH_BIN, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
    r = subprocess.run(base + ["--admin-tls-cert", certs["crt"]], capture_output=True,
                       text=True, timeout=T(10))
    assert r.returncode == 2 and "go together" in r.stderr, r.stderr
    missing = str(tmp_path / "missing.pem")
    r = subprocess.run(base + ["--admin-tls-cert", missing, "--admin-tls-key", certs["key"]],
                       capture_output=True, text=True, timeout=T(10))
    assert r.returncode == 2 and "admin TLS" in r.stderr and "missing.pem" in r.stderr, r.stderr
