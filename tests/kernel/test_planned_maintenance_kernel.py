"""Planned maintenance against a real kernel: `ldirectordctl maintenance on|off`
with ip_vs in the site's namespace, gobgpd peering with BIRD, and a client behind
the router (tests/integration/routing/lab.py), the daemon started as users start
it (the helpers of test_anycast_daemon.py).

What an operator checks: `on` withdraws the route at the router and answers
"drained" once nothing reaches the VIP; the state survives `reload` and a
restart (the route never comes back in between); `off` brings the route back;
with `anycastdown = med` the route stays (de-preferred) and a client that keeps
sending makes `on` time out with exit 1, naming the virtual and the real; a VIP
that is not anycast is refused; and a stop withdraws, waits for the traffic to
stop, then removes the pool.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.integration.routing.lab import Lab, LabError, require_tools  # noqa: E402
from tests.kernel.test_anycast_daemon import (  # noqa: E402
    BACKENDS,
    LDIRECTORDCTL,
    ROUTE,
    VIP,
    WAIT,
    Site,
    wait_for,
)

START = 240.0
"""The daemon's first announcement: start, first check round, GoBGP; minutes in a
loaded emulated guest."""

CLIENT_SCRIPT = """
import socket, sys, time
while True:
    try:
        with socket.create_connection((sys.argv[1], 80), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            while s.recv(4096):
                pass
    except OSError:
        pass
    time.sleep(0.1)
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    try:
        require_tools()
    except LabError as exc:
        pytest.fail(str(exc))
    with Lab(sites=1, hold_time=3, client=True, workdir=tmp_path / "lab", tag="pm16") as lab:
        yield lab


@pytest.fixture
def site(lab: Lab, tmp_path: Path) -> Iterator[Site]:
    s = Site(lab, 0, tmp_path)
    yield s
    s.close()


def maintenance(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return site.ns_run(LDIRECTORDCTL, "maintenance", "-c", site.cfg.name, *args, timeout=240)


def client(lab: Lab) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ip", "netns", "exec", lab.client_ns, sys.executable, "-c", CLIENT_SCRIPT, VIP],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def diagnose(lab: Lab, site: Site) -> str:
    """What an operator would look at when no client connection reaches ip_vs."""

    def run(ns: str, *argv: str) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=60
        )
        return (done.stdout + done.stderr).strip()

    parts = [
        ("site: ipvsadm -Ln", run(site.ns, "ipvsadm", "-Ln")),
        ("site: ip_vs_conn", run(site.ns, "cat", "/proc/net/ip_vs_conn")),
        ("site: listening", run(site.ns, "ss", "-ltnp")),
        ("site: addresses", run(site.ns, "ip", "-o", "addr")),
        ("site: routes", run(site.ns, "ip", "route", "show", "table", "all")),
        (
            "site: sysctl",
            run(
                site.ns,
                "sysctl",
                "net.ipv4.ip_forward",
                "net.ipv4.vs.conntrack",
                "net.ipv4.conf.all.rp_filter",
            ),
        ),
        ("router: routes", run(lab.rtr_ns, "ip", "route")),
        ("client: route get", run(lab.client_ns, "ip", "route", "get", VIP)),
        ("client: sockets", run(lab.client_ns, "ss", "-tan")),
        (
            "processes",
            subprocess.run(["ps", "-eo", "pid,etimes,args"], capture_output=True, text=True).stdout,
        ),
        ("daemon log (tail)", site.log_text()[-3000:]),
    ]
    return "\n".join(f"--- {title}:\n{text}" for title, text in parts)


def wait_for_client(lab: Lab, site: Site) -> None:
    try:
        wait_for(lambda: "TCP" in site.ns_run("cat", "/proc/net/ip_vs_conn").stdout, "a client")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose(lab, site)}") from None


def test_on_drains_survives_reload_and_restart_off_announces(lab: Lab, site: Site) -> None:
    for address in BACKENDS:
        site.backend_up(address)
    site.write_config()
    site.start()
    lab.wait_route(ROUTE, timeout=START)
    traffic = client(lab)
    try:
        wait_for_client(lab, site)
        done = maintenance(site, "on")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{ROUTE}: in maintenance (route withdrawn)" in done.stdout
        assert "drained: safe to stop the backends" in done.stdout
        assert lab.route(ROUTE) is None
        assert site.vip_state() == "maintenance"
        # not an anycast VIP of this config: refused, with the reason
        refused = maintenance(site, "on", "203.0.113.99")
        assert refused.returncode == 1
        assert "203.0.113.99 is outside every anycastprefix" in refused.stderr
        # reload and restart: still in maintenance, the route never comes back
        assert site.ld("reload").returncode == 0
        assert site.ld("stop").returncode == 0
        site.start()
        wait_for(lambda: site.vip_state() == "maintenance", "the restarted daemon", START)
        time.sleep(3)  # a check round or two: healthy, and still not announced
        assert lab.route(ROUTE) is None
        assert "Planned maintenance of 198.51.100.10/32 continues" in site.log_text()
        done = maintenance(site, "off")
        assert done.returncode == 0, done.stdout + done.stderr
        lab.wait_route(ROUTE, timeout=WAIT)
        wait_for(lambda: site.vip_state() == "announced", "announced again")
    finally:
        traffic.kill()
        traffic.wait(10)


def test_a_deprefered_route_keeps_traffic_on_times_out_and_stop_waits(lab: Lab, site: Site) -> None:
    site.backend_up(BACKENDS[0])
    site.write_config("anycastdown=med 500\nanycaststopwait=4\n")
    site.start()
    lab.wait_route(ROUTE, timeout=START)
    traffic = client(lab)
    try:
        wait_for_client(lab, site)
        done = maintenance(site, "--timeout", "4", "on")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "route de-preferred: anycastdown med 500" in done.stdout
        assert "not drained after 4 s" in done.stdout
        assert f"{VIP}:80 tcp via {BACKENDS[0]}:8080" in done.stdout
        assert lab.wait_route(ROUTE, timeout=WAIT, where=lambda r: r.med == 500)
        # stop: the route is withdrawn first (anycaststop = withdraw), the client's
        # packets stop reaching the site, and only then does the pool go
        start = time.monotonic()
        assert site.ld("stop").returncode == 0
        assert time.monotonic() - start >= 1.5
        site.cfg.unlink()
        # The wait itself (unit-tested): traffic stopped once the route was gone. In a
        # guest so loaded that the withdrawal used up the bounded stop, it says so.
        stop_lines = [line for line in site.log_text().splitlines() if "] Stop: " in line]
        assert any(
            "no new connection for 1.5 s" in line or "leaves no time to wait" in line
            for line in stop_lines
        ), site.log_text()[-4000:]
        assert lab.route(ROUTE) is None
        assert site.ipvs_services() == []
    finally:
        traffic.kill()
        traffic.wait(10)
