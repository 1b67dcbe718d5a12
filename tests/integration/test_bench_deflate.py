"""test_bench_deflate.py - wspush-bench --deflate (permessage-deflate, RFC
7692) against the real server (issue 16 goal 8: compression measured with
the same instrument as plain and TLS).

`wspush serve --tick 1s` plus 1 KiB publishes (`--publish-size 1024`, a
timestamp then filler text, compressed by the server: the 24-byte ticks stay
below --deflate-min and go plain). Every connection must agree the
extension, every tick and publish must arrive (ratio 1.0, the timestamps
read from the inflated text), with no error, and the bytes read must be
fewer than the message bytes they inflate to; over ws:// and wss://. With
the server started --deflate off, every offer is declined, counted, and
the run goes on uncompressed with the same delivery."""
import pytest

from conftest import SANITIZED, make_cert
from test_bench import MEASURED_S, need_bench, run_bench

CONNS = 200
WARMUP_S = 8 if SANITIZED else 3
PUBLISH_RATE = 2  # 1 KiB messages per second, on top of the 1 s tick


def bench(srv, url, tmp_path, *extra):
    """run_bench (ratio 1.0, no errors) with --deflate and 1 KiB publishes."""
    rep = run_bench(srv, tmp_path, url, CONNS, 2, 1000, WARMUP_S, "--deflate",
                    "--publish-rate", str(PUBLISH_RATE), "--publish-size", "1024",
                    "--topic", "t", "--expect-rate", "1",
                    "--admin", f"http://127.0.0.1:{srv.admin_port}", *extra)
    assert rep["tls_failures"] == {}, rep["tls_failures"]
    assert rep["no_timestamp"] == 0, rep["no_timestamp"]
    assert rep["publish"]["acked"] >= PUBLISH_RATE * (MEASURED_S - 1), rep["publish"]
    return rep


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_bench_deflate_ratio_1_fewer_bytes_read(wspush, tmp_path, tls):
    need_bench()
    args = ["--workers", "2", "--tick", "1s", "--ping-interval", "0"]
    extra = []
    scheme = "ws"
    if tls:
        crt, key = make_cert(str(tmp_path), "localhost")
        args += ["--tls-cert", crt, "--tls-key", key]
        extra = ["--cacert", crt]
        scheme = "wss"
    srv = wspush(*args)
    rep = bench(srv, f"{scheme}://127.0.0.1:{srv.port}/t", tmp_path, *extra)
    assert rep["tls"] is tls
    d = rep["deflate"]
    # every handshake agreed (reconnects would add more, not fewer)
    assert d["accepted"] >= CONNS and d["declined"] == 0, d
    # every message went through the compressing connections' path...
    assert d["msgs"] == rep["messages_total"], (d, rep["messages_total"])
    assert d["inflated_bytes"] == rep["bytes_total"], (d, rep["bytes_total"])
    # ...and the 1 KiB publishes came compressed: fewer bytes read (frame
    # headers and the plain ticks included) than the messages inflate to
    assert d["inflated_bytes"] >= CONNS * PUBLISH_RATE * MEASURED_S * 1024, d
    assert d["wire_bytes"] < d["inflated_bytes"], d
    assert 0 < d["ratio"] < 0.5, d


def test_bench_deflate_declined_still_delivers(wspush, tmp_path):
    need_bench()
    srv = wspush("--workers", "2", "--tick", "1s", "--ping-interval", "0", "--deflate", "off")
    rep = bench(srv, f"ws://127.0.0.1:{srv.port}/t", tmp_path)
    d = rep["deflate"]
    assert d["declined"] >= CONNS and d["accepted"] == 0, d
    assert d["msgs"] == 0 and d["wire_bytes"] == 0 and d["ratio"] is None, d
    # uncompressed: the bench read every message byte itself
    assert rep["bytes_total"] >= CONNS * PUBLISH_RATE * MEASURED_S * 1024, rep["bytes_total"]
