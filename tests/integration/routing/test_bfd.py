"""BFD beside gobgpd (examples/lb-bfd-*.conf) and on the router
(examples/router-*-bfd.conf), each loaded by the real daemon: a load balancer
that hangs (every process stopped, its link silent) is dropped by the router
in well under the BGP hold time, and `ldirectordctl` reads the sessions.

The bound asserted here is loose (the machine is shared); bench/bfd_failover.py
holds the precise figure, with the BGP-only one beside it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from ldirectord_py.routing.bfd import BfdDaemon, BfdSource, BfdState, read_all, read_sessions

from .bfd_lab import (
    EXAMPLES,
    LoadBalancerBfd,
    announce_both,
    router_bfd_sessions,
    router_example,
    time_to_failover,
    wait_bfd_up,
)
from .lab import Lab, LabError, require_frr, require_tools

BOUND = 1.5
"""Seconds: 0.3 s of BFD detection plus the router's work, with room for a loaded
machine, and still half the 3 s hold time that is all BGP alone has."""


def _require(kind: str) -> None:
    try:
        require_tools()
        if kind == "frr":
            require_frr()
    except LabError as exc:
        pytest.fail(str(exc))


@pytest.mark.parametrize("name", ["lb-bfd-bird.conf", "router-bird-bfd.conf"])
def test_bird_examples_parse(name: str) -> None:
    _require("bird")
    done = subprocess.run(["bird", "-p", "-c", str(EXAMPLES / name)],
                          capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["lb-bfd-frr.conf", "router-frr-bfd.conf"])
def test_frr_examples_parse(name: str) -> None:
    _require("frr")
    done = subprocess.run(["vtysh", "--dryrun", "-f", str(EXAMPLES / name)],
                          capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


@pytest.fixture(params=["bird", "frr"])
def bfd_lab(request: pytest.FixtureRequest) -> Iterator[tuple[Lab, LoadBalancerBfd]]:
    """Two gobgpd sites with BFD beside them, and a router tying BGP to BFD, all
    from the examples (BIRD everywhere, or FRR everywhere)."""
    kind = str(request.param)
    _require(kind)
    config = router_example(kind, bfd=True)
    with Lab(sites=2, hold_time=3, router=kind, router_config=config) as lab:
        bfd = LoadBalancerBfd(lab, kind)
        try:
            bfd.start()
            wait_bfd_up(lab, sites=2)
            yield lab, bfd
        finally:
            bfd.stop()


def test_bfd_drops_a_hung_site_well_within_the_hold_time(
    bfd_lab: tuple[Lab, LoadBalancerBfd],
) -> None:
    lab, _bfd = bfd_lab
    announce_both(lab)
    seconds = time_to_failover(lab, dead=0, other=1)
    logs = sorted(lab.dir.glob("router*.log")) + sorted((lab.dir / "frr").glob("*.log"))
    tail = "".join(p.read_text(errors="replace")[-1500:] for p in logs)
    assert seconds < BOUND, f"the router took {seconds:.3f} s to drop the hung site\n{tail}"
    sessions = router_bfd_sessions(lab)
    assert sessions[lab.sites[0].lb4] != "Up" and sessions[lab.sites[1].lb4] == "Up", sessions


def test_ctl_reads_the_load_balancers_bfd_sessions(bfd_lab: tuple[Lab, LoadBalancerBfd]) -> None:
    _lab, bfd = bfd_lab
    daemon = BfdDaemon(bfd.kind)
    reading = read_sessions(BfdSource(daemon, str(bfd.control(0))))
    assert reading.error is None, reading
    by_peer = {s.peer: s for s in reading.sessions}
    assert set(by_peer) == {"192.0.2.1", "2001:db8:1::1"}
    for session in by_peer.values():
        assert session.state is BfdState.UP
        assert session.interval_ms == 100 and session.detect_ms == 300, session
    # The --bfd option's form of the same source.
    [again] = read_all(f"{bfd.kind}:{bfd.control(0)}")
    assert {s.peer for s in again.sessions} == set(by_peer)


def test_an_unreadable_source_is_a_line_not_a_failure() -> None:
    [reading] = read_all("bird:/nonexistent/bird.ctl")
    assert reading.sessions == () and reading.error
    [reading] = read_all("frr:/nonexistent")
    assert reading.sessions == () and reading.error
