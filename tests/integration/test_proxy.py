"""test_proxy.py - the real client behind a trusted load balancer (issue
17): PROXY protocol v1/v2 before HTTP and before TLS, X-Forwarded-For, and
the per-IP limit applied to the address they name.

The test process is the "load balancer" at 127.0.0.1 (--trusted-proxies
127.0.0.1); 127.0.0.2 (same loopback, another source address) plays an
untrusted client."""
import socket
import ssl
import struct
import subprocess

import pytest

from conftest import WSPUSH_BIN, T
from test_tls_deflate import make_cert

SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="127.0.0.1", sport=40000, dport=443):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst="127.0.0.1", sport=40000, dport=443, tlvs=b"\x01\x00\x02h2"):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport) + tlvs
    return SIG2 + b"\x21\x11" + struct.pack(">H", len(body)) + body


V2_LOCAL = SIG2 + b"\x20\x00\x00\x00"


def upgrade_req(extra=""):
    return ("GET /news HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n").encode()


def connect(port, src="127.0.0.1"):
    s = socket.socket()
    s.settimeout(T(10))
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def answer(s):
    """The HTTP status the server answers with, or None if it closed first."""
    got = b""
    try:
        while b"\r\n" not in got:
            c = s.recv(4096)
            if not c:
                return None
            got += c
    except ConnectionResetError:
        return None
    return int(got.split(b" ")[1])


def upgrade(port, prefix=b"", src="127.0.0.1", extra="", pieces=1):
    """Sends prefix + an upgrade request (in `pieces` parts); returns
    (socket, status or None)."""
    s = connect(port, src)
    data = prefix + upgrade_req(extra)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step])
    return s, answer(s)


def proxy_fail_count(srv):
    for line in srv.metrics().splitlines():
        if line.startswith('wspush_handshake_failures_total{reason="proxy"}'):
            return int(line.split()[-1])
    raise AssertionError("no proxy failure counter")


@pytest.mark.parametrize("hdr", [v1, v2], ids=["v1", "v2"])
def test_proxy_header_per_ip_limit_applies_to_the_client(wspush, hdr):
    srv = wspush("--workers", "1", "--proxy-protocol", "on", "--trusted-proxies", "127.0.0.1",
                 "--max-conns-per-ip", "2")
    held = []
    for i in range(2):
        s, st = upgrade(srv.port, hdr("203.0.113.7", sport=40000 + i), pieces=3)
        assert st == 101
        held.append(s)
    # the third from the same client: refused, although the proxy itself
    # (127.0.0.1) holds many more connections
    s, st = upgrade(srv.port, hdr("203.0.113.7", sport=40002))
    assert st == 429
    s.close()
    for i in range(3):  # other clients through the same proxy: admitted
        s, st = upgrade(srv.port, hdr("203.0.113.%d" % (10 + i)))
        assert st == 101
        held.append(s)
    srv.wait_connections(5)
    assert "wspush_proxy_headers_total 6" in srv.metrics()
    # a client's slot comes back when it leaves
    held.pop(0).close()
    srv.wait_connections(4)
    s, st = upgrade(srv.port, hdr("203.0.113.7"))
    assert st == 101
    held.append(s)
    for s in held:
        s.close()


def test_proxy_header_truncated_invalid_missing_untrusted(wspush):
    srv = wspush("--workers", "1", "--proxy-protocol", "on", "--trusted-proxies", "127.0.0.1",
                 "--max-conns-per-ip", "5")
    # truncated: the server waits for the rest (pending), then serves
    s = connect(srv.port)
    whole = v2("198.51.100.9")
    s.sendall(whole[:20])
    srv.wait_stats(lambda st: st["workers"][0]["pending"] == 1, what="pending PROXY header")
    s.sendall(whole[20:] + upgrade_req())
    assert answer(s) == 101
    s.close()
    # truncated and then the proxy goes away: nothing is left behind
    s = connect(srv.port)
    s.sendall(v1("198.51.100.9")[:17])
    srv.wait_stats(lambda st: st["workers"][0]["pending"] == 1, what="pending PROXY header")
    s.close()
    srv.wait_stats(lambda st: st["workers"][0]["pending"] == 0, what="no pending")
    before = proxy_fail_count(srv)
    # invalid headers from the trusted proxy: closed without an answer
    for bad in (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", b"PROXY TCP4 1.2.3.4\n",
                SIG2 + b"\x21\x12\x00\x0c" + bytes(12), SIG2[:8] + b"X"):
        s, st = upgrade(srv.port, bad)
        assert st is None, bad
        s.close()
    # a trusted peer must send a header
    s, st = upgrade(srv.port)
    assert st is None
    s.close()
    # an untrusted peer must not
    for hdr in (v1("203.0.113.1"), v2("203.0.113.1")):
        s, st = upgrade(srv.port, hdr, src="127.0.0.2")
        assert st is None
        s.close()
    assert proxy_fail_count(srv) == before + 7
    # an untrusted peer without a header is an ordinary client
    s, st = upgrade(srv.port, src="127.0.0.2")
    assert st == 101
    s.close()
    # LOCAL (the balancer's health check): served, counted for nobody
    s, st = upgrade(srv.port, V2_LOCAL)
    assert st == 101
    s.close()


def test_proxy_header_before_tls(wspush, tmp_path):
    crt, key = make_cert(str(tmp_path), "localhost")
    srv = wspush("--workers", "1", "--proxy-protocol", "on", "--trusted-proxies", "127.0.0.1",
                 "--max-conns-per-ip", "1", "--tls-cert", crt, "--tls-key", key)
    ctx = ssl.create_default_context(cafile=crt)

    def tls_upgrade(hdr):
        s = connect(srv.port)
        s.sendall(hdr)
        try:
            t = ctx.wrap_socket(s, server_hostname="localhost")
        except (ssl.SSLError, ConnectionResetError, OSError):
            s.close()
            return None, None
        t.sendall(upgrade_req())
        return t, answer(t)

    a, st = tls_upgrade(v1("192.0.2.50"))
    assert st == 101
    b, st = tls_upgrade(v2("192.0.2.50"))  # over the limit: closed before TLS
    assert st is None
    c, st = tls_upgrade(v2("192.0.2.51"))
    assert st == 101
    for s in (a, c):
        s.close()


def test_x_forwarded_for_from_trusted_proxies_only(wspush):
    srv = wspush("--workers", "1", "--trusted-proxies", "127.0.0.1,10.0.0.0/8",
                 "--max-conns-per-ip", "1")
    xff = "X-Forwarded-For: 1.1.1.1, 198.51.100.1, 10.9.9.9\r\n"
    a, st = upgrade(srv.port, extra=xff)
    assert st == 101
    b, st = upgrade(srv.port, extra=xff)  # the same client (the forged 1.1.1.1 is ignored)
    assert st == 429
    b.close()
    c, st = upgrade(srv.port, extra="X-Forwarded-For: 198.51.100.2\r\n")
    assert st == 101
    d, st = upgrade(srv.port)  # the proxy's own requests are not counted
    assert st == 101
    e, st = upgrade(srv.port, extra="X-Forwarded-For: unknown\r\n")
    assert st == 400
    e.close()
    # from an untrusted address the header means nothing: counted as 127.0.0.2
    f, st = upgrade(srv.port, src="127.0.0.2", extra="X-Forwarded-For: 198.51.100.3\r\n")
    assert st == 101
    g, st = upgrade(srv.port, src="127.0.0.2", extra="X-Forwarded-For: 198.51.100.4\r\n")
    assert st == 429
    g.close()
    assert "wspush_forwarded_for_total 3" in srv.metrics()
    for s in (a, c, d, f):
        s.close()


def test_proxy_options_are_checked():
    if not WSPUSH_BIN:
        pytest.skip("WSPUSH_BIN is not set")
    for args, msg in ((["--proxy-protocol", "on"], "needs --trusted-proxies"),
                      (["--trusted-proxies", "10.1.0.0/8"], "host bits zero"),
                      (["--trusted-proxies", "example.com"], "is not an address")):
        r = subprocess.run([WSPUSH_BIN, "serve", "--listen", "127.0.0.1:0", "--admin", "off"] + args,
                           capture_output=True, text=True, timeout=T(10))
        assert r.returncode == 2 and msg in r.stderr, r.stderr
