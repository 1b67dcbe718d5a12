"""test_accept_path.py - the public port's door: the per-IP limit from
accept, listeners that belong to one server, and request-target forms
(issue 11, group C: item 6, a second server on the port, drain, absolute
form)."""
import os
import signal
import socket

from conftest import RawWS, T, http_raw, wait_until

HALF_HEAD = b"GET /news HTTP/1.1\r\nHost: x\r\n"  # never finished


def refused_quickly(port, timeout):
    """Connects, sends half a head, and returns what the server said before
    closing (b"" for a bare close), or None if it kept the socket open."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(HALF_HEAD)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return got
            got += chunk
    except ConnectionResetError:
        return got
    except socket.timeout:
        return None
    finally:
        s.close()


def test_per_ip_limit_counts_from_accept(wspush):
    """issue 11 item 6: half-sent request heads count against
    --max-conns-per-ip; the connection past the limit is refused at once."""
    srv = wspush("--workers", "1", "--max-conns-per-ip", "3", "--handshake-timeout", "120s")
    held = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
        s.sendall(HALF_HEAD)
        held.append(s)
    srv.wait_stats(lambda st: st["workers"][0]["pending"] == 3, what="3 pending heads")
    for _ in range(5):
        got = refused_quickly(srv.port, T(5))
        assert got is not None, "a 4th connection from the address was kept open"
        assert got == b"" or got.startswith(b"HTTP/1.1 429 "), got
    assert srv.stats()["workers"][0]["pending"] == 3
    m = srv.metrics()
    assert 'wspush_handshake_failures_total{reason="per_ip"} 5' in m
    # one leaves: the address may connect again, and upgrade
    held.pop().close()
    srv.wait_stats(lambda st: st["workers"][0]["pending"] == 2, what="2 pending heads")
    ws = RawWS(srv.port, "/news")
    ws.close()
    for s in held:
        s.close()


def healthz_worker(port):
    r = http_raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200, r
    return r.json()["worker"]


def test_worker_failing_at_start_gives_up_its_listener(wspush):
    """issue 11 item 17, the general case: a slot whose worker dies at start
    again and again closes its listener (connections go to the others) and
    joins the port again when its worker runs."""
    srv = wspush("--workers", "2")
    srv.allow_worker_deaths = True
    mark = srv.log_mark()
    seen = set()
    for _ in range(3):  # three deaths within a second of start each
        pid = srv.wait_stats(lambda st: st["workers"][1]["pid"] not in seen | {0},
                             what="worker 1 running")["workers"][1]["pid"]
        seen.add(pid)
        os.kill(pid, signal.SIGKILL)
    srv.wait_for_log(r"worker 1 keeps failing at start: its listener is closed", start=mark)
    for _ in range(10):  # meanwhile (or after the restart) nothing hangs
        assert healthz_worker(srv.port) in (0, 1)
    srv.wait_stats(lambda st: st["workers"][1]["pid"] not in seen | {0}, what="worker 1 back")
    wait_until(lambda: healthz_worker(srv.port) == 1, T(10), "worker 1 accepting again")


def test_absolute_form_target_names_its_path(wspush):
    """issue 11: `GET http://x/news` subscribed to topic "ttp://x/news";
    RFC 9112 §3.2.2 says the URI's path (and query) count."""
    srv = wspush("--workers", "1")
    ws = RawWS(srv.port, f"http://127.0.0.1:{srv.port}/news?topic=sport")
    srv.wait_connections(1)
    srv.admin.publish("news", "n1")
    srv.admin.publish("sport", "s1")
    got = {ws.recv_frame().payload, ws.recv_frame().payload}
    assert got == {b"n1", b"s1"}, got
    ws.close()
    # plain HTTP in absolute-form too; a target in no form is a 400
    r = http_raw(srv.port, b"GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200, r
    r = http_raw(srv.port, b"GET news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 400, r
