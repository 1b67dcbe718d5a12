"""test_config.py - `wspush serve --config FILE`, --print-config, precedence,
errors, WSPUSH_* near misses and SIGHUP reload (issue 17).

The option list is never written here: it comes from `--print-config`
(every row of the option table) and `--help` (the alternatives of enumerated
options), so an option added to the table is covered without editing this
file. The printed config is read back with an independent YAML parser
(PyYAML's BaseLoader, which keeps every scalar a string)."""
import os
import re
import signal
import subprocess

import pytest
import yaml

from conftest import WSPUSH_BIN, T, _recv_until, http_get, wait_until

pytestmark = pytest.mark.skipif(not WSPUSH_BIN, reason="WSPUSH_BIN is not set")


def run(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("WSPUSH_CONFIG", None)
    e.update(env or {})
    return subprocess.run([WSPUSH_BIN, "serve", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=T(30))


def printed(*args, env=None):
    r = run(*args, "--print-config", env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def settings(text):
    """The printed config as a dict of strings (lists: lists of strings);
    secrets appear only as comments, so not in the dict."""
    d = yaml.load(text, Loader=yaml.BaseLoader)
    return d or {}


def test_print_config_round_trips(tmp_path):
    first = printed()
    assert "max-conns:" in first
    f = tmp_path / "a.yaml"
    f.write_text(first)
    assert printed("--config", str(f)) == first


def help_alternatives():
    """--NAME a|b|c from --help: the lower-case words are the values."""
    r = run("--help")
    alts = {}
    for m in re.finditer(r"^\s+--([a-z0-9-]+) (\S+)", r.stdout, re.M):
        words = [w for w in m.group(2).split("|") if re.fullmatch(r"[a-z]+", w)]
        if words:
            alts[m.group(1)] = words
    return alts


def other_value(name, default, alts):
    """A valid value for option `name` other than its default, from the
    default's shape alone."""
    if isinstance(default, list):
        return ["/x1", "/x2"]
    if default in ("on", "off"):
        return "off" if default == "on" else "on"
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", default)
    if m:
        return "3s" if default != "3s" else "4s"
    m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)", default)
    if m:
        return f"{int(m.group(1)) * 2}{m.group(2)}"
    if re.fullmatch(r"\d+", default):
        return str(int(default) + 1)
    for w in alts.get(name, []):
        if w != default:
            return w
    return f"/{name}-from-file" if default == "" else default + "x"


def test_every_option_settable_from_a_file(tmp_path):
    """Each option alone in a file, at a value other than its default: the
    file's value is what --print-config shows, or, for an option whose value
    depends on others or names a file (--proxy-protocol needs
    --trusted-proxies, a key file must exist), start-up refuses that very
    value in one line naming the option: either way the file reached it."""
    defaults = settings(printed())
    alts = help_alternatives()
    want = {k: other_value(k, v, alts) for k, v in defaults.items()}
    shown = refused = 0
    for k, v in want.items():
        assert v != defaults[k], k
        f = tmp_path / f"{k}.yaml"
        f.write_text(yaml.safe_dump({k: v}, default_flow_style=False))
        r = run("--config", str(f), "--print-config")
        if r.returncode != 0:
            assert r.returncode == 2, (k, r.stderr)
            lines = r.stderr.splitlines()
            assert len(lines) == 1 and re.search(rf"(--|\b){re.escape(k)}\b", lines[0]), (k, r.stderr)
            refused += 1
            continue
        out = r.stdout
        got = settings(out)
        if k in got:
            assert got[k] == v, f"{k}: set {v!r} in the file, --print-config says {got[k]!r}"
        else:  # a secret: never printed, but said to be set
            assert re.search(rf"^# {re.escape(k)}: (set, not shown|read from)", out, re.M), k
            assert v not in out
        shown += 1
    assert len(want) >= 30 and shown > 2 * refused, (shown, refused)


def test_precedence_flags_env_file_defaults(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("max-conns: 10\nmax-topics: 11\nmsg-rate: 12\n")
    env = {"WSPUSH_MAX_TOPICS": "21", "WSPUSH_MSG_RATE": "22"}
    got = settings(printed("--config", str(f), "--msg-rate", "32", env=env))
    assert (got["max-conns"], got["max-topics"], got["msg-rate"]) == ("10", "21", "32")
    got = settings(printed(env={"WSPUSH_CONFIG": str(f)}))
    assert got["max-conns"] == "10"
    assert settings(printed())["max-conns"] != "10"


def test_secrets_never_printed(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("publish-token: hunter2-token\nredis: redis://:pa55@127.0.0.1:6379\n")
    out = printed("--config", str(f))
    assert "hunter2" not in out and "pa55" not in out
    assert "# publish-token:" in out and "# redis:" in out
    # and the WSPUSH_ form of a secret, too
    out = printed(env={"WSPUSH_PUBLISH_TOKEN": "env-secret-9"})
    assert "env-secret-9" not in out


@pytest.mark.parametrize("text,want", [
    ("tick: 1s\nmax-con: 5\n", r"^wspush: error: \S+:2: unknown option 'max-con' "
                               r"\(did you mean 'max-conns'\?\)$"),
    ("\n\nmax-conns: lots\n", r"^wspush: error: \S+:3: --max-conns: 'lots' is not"),
    ("tick: 1s\ntick: 2s\n", r":2: tick is set twice \(first on line 1\)"),
    ("tick: [1s]\n", r":1: tick takes one value, not a list"),
    ("allow-origin: [a\n", r"not valid YAML"),
])
def test_file_errors_name_the_line(tmp_path, text, want):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    r = run("--config", str(f))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert re.search(want, lines[0]), lines[0]


def test_missing_file():
    r = run("--config", "/nonexistent/wspush.yaml")
    assert r.returncode == 2
    assert "wspush: error: cannot read config file /nonexistent/wspush.yaml" in r.stderr


def test_env_near_miss_warns_and_test_variables_stay_quiet():
    r = run("--print-config", env={"WSPUSH_MAX_CONN": "5"})
    assert r.returncode == 0
    assert ("wspush: warning: environment variable WSPUSH_MAX_CONN is not an option and is "
            "ignored; did you mean WSPUSH_MAX_CONNS?") in r.stderr
    # WSPUSH_BIN, WSPUSH_SANITIZE, WSPUSH_BENCH_BIN (set by the test runner)
    env = {"WSPUSH_BIN": WSPUSH_BIN, "WSPUSH_SANITIZE": "address,undefined",
           "WSPUSH_BENCH_BIN": "/x", "WSPUSH_CHROMIUM": "/y", "WSPUSH_DEMO_PORT": "1"}
    r = run("--print-config", env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_server_runs_from_a_file(wspush, tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("workers: 1\nmax-conns: 1234\ntick: 1h\nallow-origin:\n  - https://ok.example\n")
    srv = wspush("--config", str(f))
    assert re.search(r"max-conns 1234\b", srv.log())
    r = http_get(srv.port, "/", {"Upgrade": "websocket", "Connection": "Upgrade",
                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                 "Sec-WebSocket-Version": "13", "Origin": "https://evil.example"})
    assert r.status == 403


def test_sighup_reload_logs_changes(wspush, tmp_path):
    f = tmp_path / "live.yaml"
    f.write_text("workers: 1\nmax-conns: 100\nlog-level: info\n")
    srv = wspush("--config", str(f))
    mark = srv.log_mark()
    f.write_text("workers: 1\nmax-conns: 200\nlog-level: debug\npublish-token: t0ken-x\n"
                 "ring-size: 1MiB\n")
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_for_log(r"config reload: changed: max-conns 100 -> 200 \(applied\)", start=mark)
    srv.wait_for_log(r"config reload: changed: ring-size 64MiB -> 1MiB \(needs a restart\)",
                     start=mark)
    srv.wait_for_log(r"config reload: changed: log-level info -> debug \(applied\)", start=mark)
    srv.wait_for_log(r"config reload: changed: publish-token \(secret, applied\)", start=mark)
    srv.wait_for_log(r"config reload: \S+: 3 changes applied, 1 needs a restart", start=mark)
    assert "t0ken-x" not in srv.log()
    # the token applies at once on the admin port
    assert srv.admin.request("POST", "/broadcast", "x").status == 401
    assert srv.admin.request("POST", "/broadcast", "x", token="t0ken-x").status == 202

    # a broken file changes nothing and says why, with the line
    mark = srv.log_mark()
    f.write_text("workers: 1\nmax-conns: 300\nmax-con: 1\n")
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_for_log(r"config reload failed, keeping the current settings: \S+:3: unknown "
                     r"option 'max-con' \(did you mean 'max-conns'\?\)", start=mark)
    assert srv.admin.request("POST", "/broadcast", "x", token="t0ken-x").status == 202
    assert http_get(srv.port, "/healthz").status == 200


def ws_try(port, origin=None, source=None, path="/t"):
    """One upgrade attempt: (status, socket); the socket stays open (held)
    when the status is 101, closed otherwise."""
    import socket
    sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        sk.bind((source, 0))
    sk.settimeout(T(10))
    sk.connect(("127.0.0.1", port))
    req = (f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    if origin:
        req += f"Origin: {origin}\r\n"
    sk.sendall((req + "\r\n").encode())
    buf = _recv_until(sk, b"\r\n\r\n")
    status = int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/1.1 ") else 0
    if status != 101:
        sk.close()
    return status, sk


def status(port, origin, source):
    """The status of one upgrade from its own address (apart from any
    per-IP limit); the connection is closed after."""
    st, sk = ws_try(port, origin, source)
    sk.close()
    return st


def test_issue17_sighup_applies_limits_in_running_workers(wspush, tmp_path):
    """SIGHUP takes new origins and --max-conns-per-ip into the running
    workers (no restart: same pids), logs each change in the master and the
    count in every worker, and says which changes need a restart."""
    f = tmp_path / "live.yaml"
    f.write_text("workers: 2\nallow-origin: [https://a.example]\nmax-conns-per-ip: 5\n"
                 "ping-interval: 25s\n")
    srv = wspush("--config", str(f))
    pids = sorted(srv.worker_pids())
    st = srv.wait_stats(lambda s: all(w["deadline_ticks"]["ping"] for w in s["workers"]),
                        T(10), "both workers started")
    ping_before = [w["deadline_ticks"]["ping"] for w in st["workers"]]
    # before: a is allowed, b is not; 3 connections from one address fit
    for k in range(6):
        assert status(srv.port, "https://a.example", f"127.0.6.{k}") == 101
        assert status(srv.port, "https://b.example", f"127.0.7.{k}") == 403
    held = [ws_try(srv.port, "https://a.example", "127.0.5.1") for _ in range(3)]
    assert [st for st, _ in held] == [101] * 3
    for _, sk in held:
        sk.close()
    srv.wait_connections(0)

    mark = srv.log_mark()
    f.write_text("workers: 2\nallow-origin: [https://b.example, https://c.example]\n"
                 "max-conns-per-ip: 1\nping-interval: 20s\nring-size: 1MiB\n")
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_for_log(r"config reload: changed: max-conns-per-ip 5 -> 1 \(applied\)", start=mark)
    srv.wait_for_log(r"config reload: changed: allow-origin https://a.example -> "
                     r"https://b.example,https://c.example \(applied\)", start=mark)
    srv.wait_for_log(r"config reload: changed: ping-interval 25s -> 20s \(applied\)", start=mark)
    srv.wait_for_log(r"config reload: changed: ring-size 64MiB -> 1MiB \(needs a restart\)",
                     start=mark)
    srv.wait_for_log(r"config reload: \S+: 3 changes applied, 1 needs a restart", start=mark)
    # every worker took them (its own line), and none was restarted
    wait_until(lambda: srv.log_count(r"\[worker \d\] config reload: 3 changes applied",
                                     start=mark) == 2, T(10), "both workers applied the reload")
    assert sorted(srv.worker_pids()) == pids
    ping = [w["deadline_ticks"]["ping"] for w in srv.stats()["workers"]]
    assert ping[0] == ping[1] and ping[0] < ping_before[0], (ping_before, ping)
    # after: b and c are allowed, a is not, on whichever worker takes them
    for k in range(6):
        assert status(srv.port, "https://a.example", f"127.0.8.{k}") == 403
        assert status(srv.port, "https://b.example", f"127.0.9.{k}") == 101
        assert status(srv.port, "https://c.example", f"127.0.10.{k}") == 101
    # one connection per address per worker: of 3 from one address (2
    # workers), one at least is refused
    got = [ws_try(srv.port, "https://b.example", "127.0.5.2") for _ in range(3)]
    assert 429 in [st for st, _ in got], [st for st, _ in got]
    for st, sk in got:
        if st == 101:
            sk.close()
