"""test_bench_tls.py - wspush-bench over wss:// against the real server
(issue 16 goal 8: TLS measured with the same instrument as plain).

A few hundred wss:// clients over 2 processes, verifying the server's
certificate with --cacert, must see every tick of `wspush serve --tls-cert
--tls-key --tick 1s` (delivery ratio 1.0) with no connect, TLS, handshake
or disconnect failure. A client that does not trust the certificate fails
every attempt, and the failures are counted as TLS certificate failures,
not as HTTP handshake failures or disconnects."""
import json
import subprocess

import pytest

from conftest import SANITIZED, T, make_cert
from test_bench import BENCH, need_bench

CONNS = 300
MEASURED_S = 8
WARMUP_S = 8 if SANITIZED else 3


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    return {"localhost": make_cert(d, "localhost"), "other.test": make_cert(d, "other.test")}


def bench(url, tmp_path, conns, duration_s, warmup_s, *extra, timeout):
    out = tmp_path / "bench.json"
    r = subprocess.run([BENCH, "--url", url, "--conns", str(conns), "--procs", "2",
                        "--rate", "1000", "--duration", str(duration_s), "--warmup",
                        str(warmup_s), "--quiet", "--json", str(out), *extra],
                       capture_output=True, text=True, timeout=timeout)
    return r, json.loads(out.read_text())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_bench_wss_300_connections_2_processes_ratio_1(wspush, tmp_path, certs, host):
    """127.0.0.1: the certificate's IP SAN is verified, no SNI is sent;
    localhost: SNI and the DNS name."""
    need_bench()
    crt, key = certs["localhost"]
    srv = wspush("--workers", "2", "--tick", "1s", "--ping-interval", "0",
                 "--tls-cert", crt, "--tls-key", key)
    r, rep = bench(f"wss://{host}:{srv.port}/", tmp_path, CONNS, WARMUP_S + MEASURED_S, WARMUP_S,
                   "--cacert", crt, "--assert-ratio", "1.0", "--assert-no-errors",
                   "--server-pid", str(srv.pid), timeout=WARMUP_S + MEASURED_S + T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["tls"] is True
    assert rep["open_end"] == CONNS, rep["open_end"]
    assert rep["delivery_ratio"] == 1.0, rep["delivery_ratio"]
    for causes in ("connect_errors", "handshake_failures", "tls_failures", "disconnects"):
        assert rep[causes] == {}, (causes, rep[causes])
    assert rep["messages_per_s"] >= 0.98 * CONNS, rep["messages_per_s"]
    # TLS 1.3: every connection left OpenSSL after its opening handshake
    # (records read through io_uring, opened by tls13rec), and our close
    # frames went out through it
    assert rep["tls_handovers"] == CONNS, rep["tls_handovers"]
    assert rep["closed_clean"] == CONNS, rep["closed_clean"]
    # the bench says what a wss:// client costs it
    assert rep["bench_rss_per_conn_b"] is not None and rep["bench_rss_per_conn_b"] > 0
    # the server agrees: every connection was served and closed cleanly
    st = srv.wait_stats(lambda s: s["connections"] == 0, T(30), "all bench connections closed")
    assert st["accepted"] >= CONNS


def test_bench_wss_tls12_keeps_openssl_ratio_1(wspush, tmp_path, certs):
    """--tls-max 1.2: nothing to hand over; the connections read through
    OpenSSL to the end, every tick delivered."""
    need_bench()
    crt, key = certs["localhost"]
    srv = wspush("--workers", "2", "--tick", "1s", "--ping-interval", "0",
                 "--tls-cert", crt, "--tls-key", key)
    r, rep = bench(f"wss://127.0.0.1:{srv.port}/", tmp_path, CONNS, WARMUP_S + MEASURED_S,
                   WARMUP_S, "--cacert", crt, "--tls-max", "1.2", "--assert-ratio", "1.0",
                   "--assert-no-errors", timeout=WARMUP_S + MEASURED_S + T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["tls_handovers"] == 0, rep["tls_handovers"]
    assert rep["delivery_ratio"] == 1.0, rep["delivery_ratio"]
    assert rep["closed_clean"] == CONNS, rep["closed_clean"]


def test_bench_wss_untrusted_certificate_counted_as_tls_failure(wspush, tmp_path, certs):
    need_bench()
    crt, key = certs["localhost"]
    other, _ = certs["other.test"]
    srv = wspush("--workers", "1", "--tick", "1s", "--tls-cert", crt, "--tls-key", key)
    r, rep = bench(f"wss://127.0.0.1:{srv.port}/", tmp_path, 20, 3, 1, "--cacert", other,
                   "--assert-no-errors", timeout=T(60))
    assert r.returncode == 1, r.stdout + r.stderr
    assert rep["established"] == 0
    tls = rep["tls_failures"]
    assert set(tls) == {"TLS certificate verify failed"}, tls
    assert tls["TLS certificate verify failed"] >= 20
    assert rep["handshake_failures"] == {} and rep["disconnects"] == {}
    # --insecure trusts anything: the same server then serves every tick
    r, rep = bench(f"wss://127.0.0.1:{srv.port}/", tmp_path, 20, 4, 1, "--insecure",
                   "--assert-ratio", "1.0", "--assert-no-errors", timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["tls_failures"] == {}


def test_bench_wss_refuses_a_plain_server_as_tls_failure(wspush, tmp_path):
    """wss:// to a plain ws:// port: the TLS handshake fails (the server
    answers the ClientHello with an HTTP 400 or closes), never an HTTP
    handshake failure or a delivered message."""
    need_bench()
    srv = wspush("--workers", "1", "--tick", "1s")
    r, rep = bench(f"wss://127.0.0.1:{srv.port}/", tmp_path, 10, 3, 1, "--insecure",
                   timeout=T(60))
    assert rep["established"] == 0 and rep["messages_total"] == 0
    assert rep["tls_failures"], rep
    assert rep["handshake_failures"] == {}, rep["handshake_failures"]
