"""examples/router-bird.conf, loaded by a real BIRD as the lab's router: it takes
the load balancers' /32 and /128 inside the anycast prefixes and nothing else."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .lab import Lab, LabError, require_tools

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_bird_example_parses() -> None:
    try:
        require_tools(["bird"])
    except LabError as exc:
        pytest.fail(str(exc))
    done = subprocess.run(["bird", "-p", "-c", str(EXAMPLES / "router-bird.conf")],
                          capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_bird_example_accepts_only_lb_host_routes_inside_the_prefixes() -> None:
    try:
        require_tools()
    except LabError as exc:
        pytest.fail(str(exc))
    config = (EXAMPLES / "router-bird.conf").read_text()
    with Lab(sites=2, router_config=config) as lab:
        assert set(lab.sessions()) == {"lb1", "lb1v6", "lb2", "lb2v6"}
        accepted = ["198.51.100.10/32"]
        rejected = ["203.0.113.10/32", "198.51.100.0/25", "198.51.100.0/24", "192.0.2.128/32"]
        for prefix in accepted + rejected:
            lab.gobgp("global", "rib", "add", prefix)
        lab.gobgp("global", "rib", "add", "-a", "ipv6", "2001:db8:ff::10/128")
        lab.gobgp("global", "rib", "add", "-a", "ipv6", "2001:db8:fe::10/128")
        lab.gobgp("global", "rib", "add", "-a", "ipv6", "2001:db8:ff::/64")
        # A path that another AS originated (the load balancer only relays it).
        lab.gobgp("global", "rib", "add", "198.51.100.99/32", "aspath", "64999", site=1)
        lab.gobgp("global", "rib", "add", "198.51.100.10/32", site=1)
        lab.wait_route(
            "198.51.100.10/32", where=lambda _r: len(lab.routes()["198.51.100.10/32"]) == 2
        )
        lab.wait_route("2001:db8:ff::10/128")
        time.sleep(0.3)  # anything rejected would have arrived by now
        table = lab.routes()
        assert sorted(table) == ["198.51.100.10/32", "2001:db8:ff::10/128"], table
        # The router installs the best path in its kernel (protocol kernel, export all).
        show = ["ip", "-n", lab.rtr_ns, "route", "show", "198.51.100.10/32"]
        fib = subprocess.run(show, capture_output=True, text=True, timeout=10, check=True).stdout
        assert "via 192.0.2." in fib
