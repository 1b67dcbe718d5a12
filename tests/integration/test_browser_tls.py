"""test_browser_tls.py - the demo page in a real browser over https:// and
wss://, with permessage-deflate (issue 7).

wspush serves a self-signed certificate made by the test (`openssl req`);
Chromium (Debian's, driven by playwright-core through
tests/browser/wss_demo.mjs) runs with --ignore-certificate-errors, opens
https://localhost:PORT/demo, and its page client connects to
wss://localhost:PORT/. The test checks that the socket negotiated
permessage-deflate, that long broadcasts arrive intact, and that the server
really sent them compressed (bytes_sent far below the plain size). Skips
only when Chromium or playwright-core is missing, like test_browser.py.
"""
import threading

from conftest import T, make_cert
from test_browser import NodeScript, artifact, need_browser

MARKER = "wss-long#"
PHRASE = "wspush pushes this over wss:// with permessage-deflate; "


def long_message(seq):
    """A text well over --deflate-min (128 bytes) that compresses well."""
    return f"{MARKER}{seq}: " + PHRASE * 30 + f"(end of #{seq})"


def test_demo_page_over_wss_receives_compressed_messages(wspush, tmp_path):
    need_browser()
    crt, key = make_cert(str(tmp_path))
    srv = wspush("--workers", "2", "--tick", "1s", "--tls-cert", crt, "--tls-key", key)
    assert len(long_message(0)) > 1000
    s = NodeScript("wss_demo.mjs", f"https://localhost:{srv.port}/demo",
                   artifact("demo-wss.png"), MARKER, 3)
    stop = threading.Event()
    published = []

    def publisher():
        seq = 0
        while not stop.is_set():
            srv.admin.broadcast(long_message(seq))
            published.append(seq)
            seq += 1
            stop.wait(0.3)

    t = threading.Thread(target=publisher, daemon=True)
    try:
        opened = s.event(T(60))
        assert opened["event"] == "open"
        # the demo page resumes (/wspush.js resume: true): the envelope form
        assert opened["url"] == f"wss://localhost:{srv.port}/?format=json"
        assert "permessage-deflate" in opened["extensions"], opened
        # the page (and its /demo, /wspush.js requests) is loaded and its
        # socket open: from here on the server sends ticks and the long
        # broadcasts to that one connection, and nothing else
        st0 = srv.wait_stats(lambda st: st["connections"] == 1 and st["queued_bytes"] == 0,
                             what="the page's connection")
        t.start()
        assert s.event(T(60))["event"] == "received"
        stop.set()
        t.join(T(10))
        st1 = srv.wait_stats(lambda st: st["published"]["http"] == len(published)
                             and st["queued_bytes"] == 0, what="the last publish sent")
        s.send(str(len(published)))
        done = s.event(T(60))
        s.finish()
    finally:
        stop.set()
        s.kill()
    assert done["event"] == "done"
    assert done["errors"] == [], done["errors"]
    assert "permessage-deflate" in done["extensions"]
    assert done["opens"] == 1, done
    assert done["status"].startswith(f"connected to wss://localhost:{srv.port}/")
    # every long message arrived, intact and in order
    assert len(published) >= 3
    assert done["long"] == [long_message(i) for i in published], \
        [x[:40] for x in done["long"]]
    # ... compressed: the server wrote far fewer bytes than their plain size
    plain = sum(len(long_message(i)) for i in published)
    sent = st1["bytes_sent"] - st0["bytes_sent"]
    assert st1["connections"] == 1
    assert st1["deliveries"] - st0["deliveries"] >= len(published)
    assert sent < plain / 4, (sent, plain)
