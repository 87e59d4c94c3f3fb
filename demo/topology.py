"""The lab's network: namespaces, veth links, addresses and routes.

::

    client ── router (BIRD, AS 65000) ──┬── lb-a (ldirectord + gobgpd, AS 65001) ──┬── a1
    203.0.113.2     203.0.113.1         │   192.0.2.1 ── 192.0.2.2                 └── a2
                                        └── lb-b (ldirectord + gobgpd, AS 65002) ──┬── b1
                                            192.0.2.5 ── 192.0.2.6                 └── b2

Every namespace is called ``ldlab-<role>``. The anycast VIP 198.51.100.10 sits on the
loopback of all four backends (ARP hidden, as direct routing needs) and, while a site
announces it, on the loopback of that site's load balancer (our daemon puts it there).
A backend's default route points at its load balancer, which forwards the replies
to the router; each backend has its own point-to-point link to its load balancer,
which is all that ip_vs direct routing needs (the real must be on a connected network).

Only documentation address ranges are used, and only inside these namespaces.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from demo.netns import NETNS_DIR, inside, write_sysctls

PREFIX = "ldlab-"
VIP = "198.51.100.10"
VIP_PORT = 80
ANYCAST_PREFIX = "198.51.100.0/24"
CLIENT_ADDRESS = "203.0.113.2"
ROUTER_CLIENT_ADDRESS = "203.0.113.1"

COMMAND_TIMEOUT = 30.0
"""No single setup command may take longer (the emulated guest is slow, not stuck)."""


class LabError(RuntimeError):
    """Something the lab needs did not work; the message says what."""


@dataclass(frozen=True)
class Backend:
    name: str  # "a1"
    site: str  # "A"
    address: str  # on its link to the load balancer
    gateway: str  # the load balancer's end of that link

    @property
    def netns(self) -> str:
        return PREFIX + self.name


@dataclass(frozen=True)
class Site:
    name: str  # "A"
    asn: int
    uplink_address: str  # the load balancer's end of the router link
    router_address: str  # the router's end
    backends: tuple[Backend, Backend]

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def netns(self) -> str:
        return f"{PREFIX}lb-{self.key}"

    @property
    def router_interface(self) -> str:
        return f"to-lb-{self.key}"

    @property
    def config_name(self) -> str:
        """The ldirectord config in examples/ (its basename names pid file and socket)."""
        return f"demo-site-{self.key}.cf"

    @property
    def gobgpd_config_name(self) -> str:
        return f"demo-gobgpd-{self.key}.conf"


def _site(name: str, asn: int, uplink: int, lan: int) -> Site:
    key = name.lower()
    return Site(
        name=name,
        asn=asn,
        uplink_address=f"192.0.2.{uplink + 1}",
        router_address=f"192.0.2.{uplink}",
        backends=(
            Backend(f"{key}1", name, f"192.0.2.{lan + 1}", f"192.0.2.{lan}"),
            Backend(f"{key}2", name, f"192.0.2.{lan + 5}", f"192.0.2.{lan + 4}"),
        ),
    )


SITE_A = _site("A", 65001, uplink=1, lan=17)
SITE_B = _site("B", 65002, uplink=5, lan=33)
SITES = (SITE_A, SITE_B)
CLIENT_NS = PREFIX + "client"
ROUTER_NS = PREFIX + "router"
ALL_NAMESPACES = (
    CLIENT_NS,
    ROUTER_NS,
    *(s.netns for s in SITES),
    *(b.netns for s in SITES for b in s.backends),
)


def run(
    argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, check: bool = True, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, bounded in time; a failure names the command."""
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed (make demo installs it)") from exc
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done


def in_netns(netns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv]


def existing_namespaces() -> list[str]:
    """The lab's namespaces that exist now (left by an earlier run, or this one's)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(PREFIX))


def _batch(netns: str | None, lines: Sequence[str], *, force: bool = False) -> None:
    """Several `ip` commands in one process (each process start is costly in the
    guest), started from inside `netns` (no `ip netns exec`)."""
    argv = ["ip", "-force", "-batch", "-"] if force else ["ip", "-batch", "-"]
    with inside(netns) if netns else contextlib.nullcontext():
        run(argv, stdin="\n".join(lines) + "\n", check=not force)


def build() -> None:
    """Create every namespace, link, address and static route of the lab."""
    _batch(None, [f"netns add {netns}" for netns in ALL_NAMESPACES])
    # Sysctls first: interfaces created afterwards inherit the "default" values.
    no_rp_filter = {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"}
    forwarding = {"net.ipv4.ip_forward": "1"}
    write_sysctls(CLIENT_NS, no_rp_filter)
    write_sysctls(ROUTER_NS, no_rp_filter | forwarding)
    for site in SITES:
        # The load balancer forwards its backends' replies, whose source is the VIP,
        # an address it holds itself: without accept_local they would be martians.
        write_sysctls(
            site.netns, no_rp_filter | forwarding | {"net.ipv4.conf.all.accept_local": "1"}
        )
        for backend in site.backends:
            # The VIP on lo must not answer ARP: only the load balancer attracts it.
            write_sysctls(
                backend.netns,
                no_rp_filter
                | {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"},
            )

    links = [f"link add client netns {CLIENT_NS} type veth peer name to-client netns {ROUTER_NS}"]
    for site in SITES:
        links.append(
            f"link add uplink netns {site.netns} type veth"
            f" peer name {site.router_interface} netns {ROUTER_NS}"
        )
        for backend in site.backends:
            links.append(
                f"link add lan netns {backend.netns} type veth"
                f" peer name to-{backend.name} netns {site.netns}"
            )
    _batch(None, links)

    _batch(
        CLIENT_NS,
        [
            "link set lo up",
            "link set client up",
            f"addr add {CLIENT_ADDRESS}/24 dev client",
            f"route add default via {ROUTER_CLIENT_ADDRESS}",
        ],
    )
    router = [
        "link set lo up",
        "link set to-client up",
        f"addr add {ROUTER_CLIENT_ADDRESS}/24 dev to-client",
    ]
    for site in SITES:
        router += [
            f"link set {site.router_interface} up",
            f"addr add {site.router_address}/30 dev {site.router_interface}",
        ]
        lb = [
            "link set lo up",
            "link set uplink up",
            f"addr add {site.uplink_address}/30 dev uplink",
            f"route add default via {site.router_address}",
        ]
        for backend in site.backends:
            lb += [
                f"link set to-{backend.name} up",
                f"addr add {backend.gateway}/30 dev to-{backend.name}",
            ]
            _batch(
                backend.netns,
                [
                    "link set lo up",
                    f"addr add {VIP}/32 dev lo",
                    "link set lan up",
                    f"addr add {backend.address}/30 dev lan",
                    f"route add default via {backend.gateway}",
                ],
            )
        _batch(site.netns, lb)
    _batch(ROUTER_NS, router)


def processes_in(netns: str) -> list[int]:
    """Processes whose network namespace is `netns` (what `ip netns pids` prints)."""
    try:
        target = os.stat(NETNS_DIR / netns)
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ns = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
            found.append(int(entry))
    return found


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def teardown(namespaces: Sequence[str] | None = None) -> list[str]:
    """End every process living in the lab's namespaces (all of them the lab's own),
    then delete the namespaces. Idempotent; returns what it deleted."""
    existing = existing_namespaces()
    targets = existing if namespaces is None else [n for n in namespaces if n in existing]
    if not targets:
        return []

    def remaining() -> list[int]:
        return [pid for netns in targets for pid in processes_in(netns)]

    # A frozen (SIGSTOPped) process needs SIGCONT before it can act on SIGTERM.
    pids = remaining()
    _signal_all(pids, signal.SIGCONT)
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = remaining()
    _signal_all(pids, signal.SIGKILL)
    _batch(None, [f"netns del {netns}" for netns in targets], force=True)
    return [netns for netns in targets if netns not in existing_namespaces()]
