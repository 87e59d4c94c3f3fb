"""examples/router-bird.conf and router-frr.conf, each loaded by the real router
daemon as the lab's router: they take the load balancers' /32 and /128 inside the
anycast prefixes, originated by the load balancers' AS, and nothing else."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .lab import Lab, LabError, require_frr, require_tools

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_bird_example_parses() -> None:
    try:
        require_tools(["bird"])
    except LabError as exc:
        pytest.fail(str(exc))
    done = subprocess.run(["bird", "-p", "-c", str(EXAMPLES / "router-bird.conf")],
                          capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_frr_example_parses() -> None:
    try:
        require_frr()
    except LabError as exc:
        pytest.fail(str(exc))
    done = subprocess.run(["vtysh", "--dryrun", "-f", str(EXAMPLES / "router-frr.conf")],
                          capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


@pytest.mark.parametrize("router", ["bird", "frr"])
def test_example_accepts_only_lb_host_routes_inside_the_prefixes(router: str) -> None:
    try:
        require_tools()
        if router == "frr":
            require_frr()
    except LabError as exc:
        pytest.fail(str(exc))
    config = (EXAMPLES / f"router-{router}.conf").read_text()
    with Lab(sites=2, router=router, router_config=config) as lab:
        expected = (
            {"lb1", "lb1v6", "lb2", "lb2v6"}
            if router == "bird"
            else {"192.0.2.2", "192.0.2.6", "2001:db8:1::2", "2001:db8:2::2"}
        )
        assert set(lab.sessions()) == expected
        accepted = ["198.51.100.10/32"]
        rejected = ["203.0.113.10/32", "198.51.100.0/25", "198.51.100.0/24", "192.0.2.128/32"]
        for prefix in accepted + rejected:
            lab.gobgp("global", "rib", "add", prefix)
        lab.gobgp("global", "rib", "add", "-a", "ipv6", "2001:db8:ff::10/128")
        lab.gobgp("global", "rib", "add", "-a", "ipv6", "2001:db8:fe::10/128")
        lab.gobgp("global", "rib", "add", "-a", "ipv6", "2001:db8:ff::/64")
        # A path that another AS originated (the load balancer only relays it).
        lab.gobgp("global", "rib", "add", "198.51.100.99/32", "aspath", "64999", site=1)
        # Prepends of the load balancer's own AS are fine.
        lab.gobgp("global", "rib", "add", "198.51.100.10/32", "aspath", "65001,65001", site=1)
        both = lambda _r: len(lab.routes()["198.51.100.10/32"]) == 2  # noqa: E731
        lab.wait_route("198.51.100.10/32", where=both)
        lab.wait_route("2001:db8:ff::10/128")
        time.sleep(0.5)  # anything rejected would have arrived by now
        table = lab.routes()
        assert sorted(table) == ["198.51.100.10/32", "2001:db8:ff::10/128"], table
        paths = {p.next_hop: p.as_path for p in table["198.51.100.10/32"]}
        assert paths == {"192.0.2.2": [65001], "192.0.2.6": [65001, 65001, 65001]}
        # The router installs the best path in its kernel.
        show = ["ip", "-n", lab.rtr_ns, "route", "show", "198.51.100.10/32"]

        def in_fib() -> bool:
            out = subprocess.run(show, capture_output=True, text=True, timeout=10, check=True)
            return "via 192.0.2.2" in out.stdout

        deadline = time.monotonic() + 5
        while not in_fib():
            assert time.monotonic() < deadline, "198.51.100.10/32 not in the router's FIB"
            time.sleep(0.05)
