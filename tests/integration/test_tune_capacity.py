"""test_tune_capacity.py - `wspush tune --conns N --rate R`, the capacity
estimate (docs/capacity.md), run as a user runs it: its JSON is consistent
with itself and with the table, memory grows linearly with N and not with R,
cores grow with R, TLS costs more, and bad N or R is a usage error."""
import json
import math
import os
import subprocess

import pytest

from conftest import T

WSPUSH = os.environ.get("WSPUSH_BIN", "")


def tune(*args, check=True):
    r = subprocess.run([WSPUSH, "tune", *args], capture_output=True, text=True, timeout=T(30))
    if check:
        assert r.returncode in (0, 1), r.stderr  # 1: some setting of this box is LOW
    return r


def cap(conns, rate, *extra):
    r = tune("--conns", str(conns), "--rate", str(rate), "--ping-interval", "0", *extra,
             "--json")
    return json.loads(r.stdout)["capacity"]


def test_capacity_json_is_self_consistent():
    c = cap(100000, 100000)
    consts = {k["name"]: k for k in c["constants"]}
    # the figure at a measured size: its own, or a smaller size's if that
    # was higher (the model never decreases with N)
    assert c["cpu_s_per_m_plain"] == pytest.approx(
        max(consts["cpu_s_per_m_10k"]["value"], consts["cpu_s_per_m_100k"]["value"]))
    assert c["cores_deliveries"] == pytest.approx(100000 * c["cpu_s_per_m"] / 1e6)
    assert c["cores_busy"] == pytest.approx(
        c["cores_deliveries"] + c["cores_pings"] + c["cores_handshakes"])
    assert c["cores"] == max(1, math.ceil(c["cores_busy"] * c["headroom"] - 1e-9))
    assert c["mem_push_bytes"] == c["user_bytes"] + c["kernel_idle_bytes"] + c["kernel_push_bytes"]
    assert c["fds"] == 100000 + 64 * (c["workers"] + 1)
    # every assumption says so; every measured figure names its section
    for k in c["constants"]:
        assert k["measured"] or "not measured" in k["source"] or "upper bound" in k["source"] \
            or "a choice" in k["source"], k
        if k["measured"]:
            assert "BENCHMARKS.md" in k["source"], k


def test_memory_linear_in_conns_cores_in_rate():
    base = cap(100000, 100000)
    ten = cap(1000000, 100000)
    assert ten["workers"] == base["workers"]  # same fixed part
    var = lambda c: c["mem_push_bytes"] - c["user_fixed_bytes"]
    assert var(ten) == 10 * var(base)
    # memory does not follow the rate; cores do, linearly at a fixed N
    fast = cap(100000, 1000000)
    assert var(fast) == var(base)
    assert fast["cores_deliveries"] == pytest.approx(10 * base["cores_deliveries"])
    assert fast["cores"] > base["cores"]
    # more connections at the same rate never cost less CPU per delivery
    prev = 0
    for n in (1000, 10000, 50000, 100000, 500000, 1000000, 3000000):
        c = cap(n, 100000)
        assert c["cpu_s_per_m"] >= prev
        prev = c["cpu_s_per_m"]
        assert c["extrapolated"] == (n < 10000 or n > 1000000)


def test_tls_and_deflate_cost_more():
    plain = cap(50000, 100000)
    tls = cap(50000, 100000, "--tls")
    both = cap(50000, 100000, "--tls", "--deflate")
    assert tls["cores_deliveries"] > plain["cores_deliveries"]
    assert tls["user_bytes"] > 10 * plain["user_bytes_per_conn"] * 50000
    assert both["tls"] and both["deflate"]
    assert tls["kernel_idle_bytes"] == plain["kernel_idle_bytes"]


def test_pings_default_to_the_servers():
    r = tune("--conns", "100000", "--rate", "1000", "--json")
    c = json.loads(r.stdout)["capacity"]
    help_text = subprocess.run([WSPUSH, "serve", "--help"], capture_output=True, text=True,
                               timeout=T(30)).stdout
    assert "--ping-interval" in help_text
    if c["ping_interval_ms"]:
        assert c["cores_pings"] > 0
    # the budget too: serve's default, and past it the interval stretches
    assert "--ping-budget" in help_text and c["ping_budget"] > 0
    big = json.loads(tune("--conns", "1000000", "--rate", "100000", "--ping-interval", "25s",
                          "--ping-budget", "100", "--json").stdout)["capacity"]
    assert big["ping_interval_s"] > 25
    assert big["pings_per_s"] == pytest.approx(1000000 / big["ping_interval_s"])


def test_table_matches_json():
    t = tune("--conns", "250000", "--rate", "50000", "--ping-interval", "0").stdout
    c = cap(250000, 50000)
    assert "capacity for 250000 connections, 50000 deliveries/s" in t
    assert f"= {c['cores']} cores ({c['workers']} workers" in t
    assert "assumptions (not measured):" in t
    assert t.index("capacity for") < t.index("SETTING")  # the settings table follows
    for k in c["constants"]:
        assert (f"- {k['name']} = " in t) == (not k["measured"]), k["name"]


@pytest.mark.parametrize("args", [
    ["--conns", "0", "--rate", "10"],
    ["--conns", "abc", "--rate", "10"],
    ["--conns", "10", "--rate", "0"],
    ["--conns", "10", "--rate", "-1"],
    ["--conns", "10", "--rate", "lots"],
    ["--conns", "10", "--rate"],
    ["--conns", "10", "--tls"],
    ["--conns", "10", "--rate", "10", "--ping-interval", "often"],
    ["--conns", "10", "--rate", "10", "--client"],
])
def test_bad_arguments_are_usage_errors(args):
    r = tune(*args, check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("wspush: error: "), r.stderr
    assert r.stdout == ""
