"""BFD beside gobgpd in the routing lab (tests/integration/routing/lab.py), for
tests/integration/routing/test_bfd.py and bench/bfd_failover.py.

    with Lab(sites=2, hold_time=3, router_config=router_example("bird", bfd=True)) as lab:
        bfd = LoadBalancerBfd(lab, "bird")       # examples/lb-bfd-bird.conf in every site
        bfd.start(); bfd.wait_up()
        ...announce the VIP from both sites, site 1 with a longer AS path...
        seconds = time_to_failover(lab, dead=0, other=1)   # site 0 frozen

The examples are written for the lab's site 0 (load balancer 192.0.2.2 and
2001:db8:1::2, router 192.0.2.1 and 2001:db8:1::1); for site N the addresses
are replaced by site N's. "Frozen" is a hung machine: every process in the
site's namespace stopped (SIGSTOP) and its link silent both ways (a blackhole
qdisc on both ends: 100% loss; the host kernel has no netem).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .lab import FRR_DIR, Lab, LabError, _wait

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
VIP = "198.51.100.10/32"


def router_example(router: str, *, bfd: bool) -> str:
    """examples/router-{bird,frr}[-bfd].conf."""
    return (EXAMPLES / f"router-{router}{'-bfd' if bfd else ''}.conf").read_text()


def for_site(text: str, lab: Lab, site: int) -> str:
    """An example written for site 0, with site `site`'s addresses."""
    s = lab.sites[site]
    for old, new in (
        ("192.0.2.2", s.lb4),
        ("192.0.2.1", s.rtr4),
        ("2001:db8:1::2", s.lb6),
        ("2001:db8:1::1", s.rtr6),
    ):
        text = text.replace(old, f"@{new}@")
    return text.replace("@", "")


class LoadBalancerBfd:
    """The BFD daemon of every site's load balancer: BIRD (examples/lb-bfd-bird.conf)
    or FRR's zebra + bfdd (examples/lb-bfd-frr.conf), in the site's namespace."""

    def __init__(self, lab: Lab, kind: str) -> None:
        if kind not in ("bird", "frr"):
            raise ValueError("kind must be 'bird' or 'frr'")
        self.lab = lab
        self.kind = kind
        self.procs: list[subprocess.Popen[bytes]] = []

    def control(self, site: int) -> Path:
        """BIRD's control socket, or FRR's vty directory, of a site's BFD daemon."""
        d = self.lab.sites[site].dir
        return d / "bfd.ctl" if self.kind == "bird" else d / "frr"

    def start(self) -> None:
        example = (EXAMPLES / f"lb-bfd-{self.kind}.conf").read_text()
        for site in self.lab.sites:
            conf = for_site(example, self.lab, site.index)
            if self.kind == "bird":
                path = site.dir / "bfd-bird.conf"
                path.write_text(conf)
                cmd = ["bird", "-f", "-c", str(path), "-s", str(self.control(site.index)),
                       "-P", str(site.dir / "bfd.pid")]  # fmt: skip
                self._spawn(site.ns, cmd, site.dir / "bfd.log", self.control(site.index))
                continue
            self.lab.dir.chmod(0o755)
            frr = self.control(site.index)
            frr.mkdir(parents=True, exist_ok=True)
            site.dir.chmod(0o755)
            (frr / "zebra.conf").write_text("")
            (frr / "frr.conf").write_text(conf)
            for path in (frr, frr / "zebra.conf", frr / "frr.conf"):
                shutil.chown(path, "frr", "frr")
            common = ["-u", "frr", "-g", "frr", "-z", str(frr / "zserv.api"),
                      "--vty_socket", str(frr), "-P", "0"]  # fmt: skip
            for daemon, name in (("zebra", "zebra.conf"), ("bfdd", "frr.conf")):
                cmd = [f"{FRR_DIR}/{daemon}", *common, "-i", str(frr / f"{daemon}.pid"),
                       "-f", str(frr / name)]  # fmt: skip
                self._spawn(site.ns, cmd, frr / f"{daemon}.log", frr / f"{daemon}.vty")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs = []

    def _spawn(self, ns: str, cmd: list[str], logfile: Path, ready: Path) -> None:
        with open(logfile, "ab") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *cmd], stdout=log, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        _wait(lambda: ready.exists() or proc.poll() is not None, 10, f"{cmd[0]} to start")
        if proc.poll() is not None:
            raise LabError(f"{' '.join(cmd)} exited: {logfile.read_text(errors='replace')[-2000:]}")


def router_bfd_sessions(lab: Lab) -> dict[str, str]:
    """The router's BFD sessions: peer address -> state ("Up", "Down", "Init")."""
    if lab.router == "frr":
        peers = json.loads(lab.vtysh("show bfd peers json"))
        return {str(p.get("peer")): str(p.get("status", "")).capitalize() for p in peers}
    out = lab.birdc("show", "bfd", "sessions")
    states: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] in ("Up", "Down", "Init", "AdminDown"):
            states[parts[0]] = parts[2]
    return states


def wait_bfd_up(lab: Lab, sites: int, timeout: float = 15.0) -> None:
    """Every site's IPv4 and IPv6 session up at the router."""
    wanted = {a for s in lab.sites[:sites] for a in (s.lb4, s.lb6)}
    _wait(
        lambda: all(router_bfd_sessions(lab).get(a) == "Up" for a in wanted),
        timeout,
        f"the router's BFD sessions with {sorted(wanted)} to be up "
        f"({_safe(lambda: router_bfd_sessions(lab))})",
    )


def _safe(read: object) -> object:
    try:
        return read() if callable(read) else read
    except LabError as exc:
        return str(exc)


def announce_both(lab: Lab) -> None:
    """The VIP from site 0 (best: shortest AS path) and from site 1 (prepended)."""
    lab.gobgp("global", "rib", "add", VIP, site=0)
    lab.gobgp("global", "rib", "add", VIP, "aspath", "65001,65001", site=1)
    lab.wait_route(VIP, where=lambda _r: len(lab.routes().get(VIP, [])) == 2, timeout=10)
    _wait(lambda: fib_next_hop(lab) == lab.sites[0].lb4, 10, f"{VIP} via site 0 in the FIB")


def fib_next_hop(lab: Lab) -> str:
    """The next hop of the VIP in the router's kernel table ("" when there is none)."""
    out = subprocess.run(
        ["ip", "-n", lab.rtr_ns, "-4", "route", "show", VIP],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout.split()
    return out[out.index("via") + 1] if "via" in out else ""


def freeze_site(lab: Lab, site: int) -> None:
    """A hung load balancer: every process in its namespace stopped, its link silent."""
    s = lab.sites[site]
    pids = subprocess.run(
        ["ip", "netns", "pids", s.ns], capture_output=True, text=True, timeout=5, check=True
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGSTOP)
    for ns, ifname in ((s.ns, "up0"), (lab.rtr_ns, f"r{site}")):
        blackhole = ["tc", "qdisc", "replace", "dev", ifname, "root", "blackhole"]
        subprocess.run(
            ["ip", "netns", "exec", ns, *blackhole],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )


def time_to_failover(lab: Lab, dead: int, other: int, timeout: float = 15.0) -> float:
    """Freeze site `dead`; seconds until the router's FIB sends the VIP to `other`."""
    want = lab.sites[other].lb4
    start = time.monotonic()
    freeze_site(lab, dead)
    while fib_next_hop(lab) != want:
        if time.monotonic() - start > timeout:
            raise LabError(f"{VIP} still not via {want} {timeout:g} s after the freeze")
        time.sleep(0.002)
    return time.monotonic() - start
