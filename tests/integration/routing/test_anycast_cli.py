"""ldirectord-anycast as ldirectord's fallbackcommand runs it: `CMD start|stop VIP:PORT PROTO`.

start = the fallback starts (every real down) = the route is withdrawn;
stop = the fallback ends (a real is back) = the route is announced.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .lab import Lab

PREFIX_ARGS = ["--prefix", "198.51.100.0/24", "--prefix", "2001:db8:ff::/48"]


def anycast_binary() -> str:
    path = Path(sys.executable).parent / "ldirectord-anycast"
    if not path.exists():
        pytest.fail("the ldirectord-anycast console script is missing: run `make venv`")
    return str(path)


def anycast(*args: str, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [anycast_binary(), *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def test_stop_announces_start_withdraws(vlab: Lab) -> None:
    base = ["--gobgpapi", vlab.gobgp_target(), *PREFIX_ARGS]
    done = anycast(
        *base, "--med", "20", "--community", "65001:7", "stop", "198.51.100.10:80", "tcp"
    )
    assert done.returncode == 0, done.stderr
    assert f"announced 198.51.100.10/32 via GoBGP {vlab.gobgp_major}.x" in done.stdout
    r = vlab.wait_route("198.51.100.10/32")
    assert r is not None and r.med == 20 and r.communities == ["65001:7"]
    done = anycast(*base, "stop", "[2001:db8:ff::10]:53", "udp")
    assert done.returncode == 0, done.stderr
    vlab.wait_route("2001:db8:ff::10/128")
    done = anycast(*base, "start", "198.51.100.10:80", "tcp")
    assert done.returncode == 0, done.stderr
    assert "withdrew 198.51.100.10/32" in done.stdout
    vlab.wait_route("198.51.100.10/32", present=False)
    assert vlab.route("2001:db8:ff::10/128") is not None
    # Twice in a row is harmless (ldirectord dedups, but a human may not).
    assert anycast(*base, "start", "198.51.100.10:80", "tcp").returncode == 0
    assert anycast(*base, "withdraw", "2001:db8:ff::10").returncode == 0
    vlab.wait_route("2001:db8:ff::10/128", present=False)


def test_refusals_exit_2_and_change_nothing(lab: Lab) -> None:
    base = ["--gobgpapi", lab.gobgp_target(), *PREFIX_ARGS]
    outside = anycast(*base, "stop", "203.0.113.10:80", "tcp")
    assert outside.returncode == 2
    assert "203.0.113.10/32 is outside the anycast prefixes" in outside.stderr
    fwm = anycast(*base, "start", ":0", "fwm")
    assert fwm.returncode == 2 and "fwmark" in fwm.stderr
    bad = anycast(*base, "stop", "not-an-ip:80", "tcp")
    assert bad.returncode == 2 and "not an IP address" in bad.stderr
    no_prefix = anycast("--gobgpapi", lab.gobgp_target(), "stop", "198.51.100.10:80", "tcp")
    assert no_prefix.returncode == 2 and "--prefix" in no_prefix.stderr
    bad_action = anycast(*base, "restart", "198.51.100.10:80", "tcp")
    assert bad_action.returncode == 2
    bad_target = anycast("--gobgpapi", "nowhere", *PREFIX_ARGS, "stop", "198.51.100.10:80", "tcp")
    assert bad_target.returncode == 2 and "host:port or unix:/path" in bad_target.stderr
    assert lab.gobgp("global", "rib").strip() == "Network not in table"


def test_gobgp_unreachable_exits_1_naming_the_target(lab: Lab) -> None:
    lab.stop_speaker(0)
    target = lab.gobgp_target()
    done = anycast(
        "--gobgpapi", target, "--timeout", "1", *PREFIX_ARGS, "stop", "198.51.100.10:80", "tcp"
    )
    assert done.returncode == 1
    assert f"GoBGP at {target}" in done.stderr and "not reachable" in done.stderr
    assert "Traceback" not in done.stderr
    tcp = anycast(
        "--gobgpapi",
        "127.0.0.1:1",
        "--timeout",
        "1",
        *PREFIX_ARGS,
        "start",
        "198.51.100.10:80",
        "tcp",
    )
    assert tcp.returncode == 1 and "GoBGP at 127.0.0.1:1" in tcp.stderr


def test_interface_method(bird_lab: Lab) -> None:
    ns = bird_lab.sites[0].ns
    base = ["--method", "interface", "--interface", "lo", *PREFIX_ARGS]
    done = anycast(*base, "stop", "198.51.100.10:80", "tcp", netns=ns)
    assert done.returncode == 0, done.stderr
    assert "added 198.51.100.10/32 to lo" in done.stdout
    bird_lab.wait_route("198.51.100.10/32")
    done = anycast(*base, "start", "198.51.100.10:80", "tcp", netns=ns)
    assert done.returncode == 0, done.stderr
    bird_lab.wait_route("198.51.100.10/32", present=False)
    missing = anycast(
        "--method",
        "interface",
        "--interface",
        "vip9",
        *PREFIX_ARGS,
        "stop",
        "198.51.100.10:80",
        "tcp",
        netns=ns,
    )
    assert missing.returncode == 1 and "interface vip9 does not exist" in missing.stderr
