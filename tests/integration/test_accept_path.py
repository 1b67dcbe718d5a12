"""test_accept_path.py - the public port's door: the per-IP limit from
accept, listeners that belong to one server, and request-target forms
(issue 11, group C: item 6, a second server on the port, drain, absolute
form)."""
import os
import signal
import socket
import subprocess

from conftest import (LISTEN_RE, OP_CLOSE, WSPUSH_BIN, RawWS, T, close_payload, http_raw,
                      wait_until)

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


def start_second(port, admin="off"):
    """Runs another `wspush serve` on 127.0.0.1:port; returns (exit code or
    None if it started listening, its stderr)."""
    p = subprocess.Popen([WSPUSH_BIN, "serve", "--workers", "1", "--listen", f"127.0.0.1:{port}",
                          "--admin", admin], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = ""
    for line in p.stderr:  # ends when it exits; a started server says so
        err += line
        if LISTEN_RE.search(line) or "listening on" in line:
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=T(15))
            return None, err
    return p.wait(timeout=T(15)), err


def test_second_server_on_the_same_port_refuses_to_start(wspush):
    """A second server on a port another process listens on took part of
    the traffic (SO_REUSEPORT) without a word; it must refuse to start."""
    srv = wspush("--workers", "2")
    rc, err = start_second(srv.port)
    assert rc is not None, "a second server started on the same port:\n" + err
    assert rc != 0
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "already" in lines[0] and str(srv.port) in lines[0], err
    # the first one is untouched
    assert healthz_worker(srv.port) in (0, 1)


def test_draining_server_lets_a_replacement_start(wspush):
    """After SIGTERM the old server closes its listeners (public and admin)
    first, so a replacement starts on the same ports while it drains."""
    a = wspush("--workers", "1", "--drain-timeout", "60s")
    hold = RawWS(a.port, "/")  # keeps the drain going until it answers
    a.wait_connections(1)
    wpid = a.worker_pids()[0]
    mark = a.log_mark()
    a.proc.send_signal(signal.SIGTERM)
    assert hold.recv_close_code() == 1012
    a.wait_for_log(r"draining 1 connections", start=mark)
    os.kill(wpid, signal.SIGSTOP)  # the drain cannot end while we look
    try:
        b = wspush("--workers", "1", "--listen", f"127.0.0.1:{a.port}",
                   "--admin", f"127.0.0.1:{a.admin_port}")
        assert a.proc.poll() is None, "the old server is still draining"
        assert b.port == a.port
        assert healthz_worker(b.port) == 0
        assert b.stats()["workers"][0]["pid"] != wpid
    finally:
        os.kill(wpid, signal.SIGCONT)
    hold.send(OP_CLOSE, close_payload(1012))
    assert a.stop() == 0
