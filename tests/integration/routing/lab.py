"""A throw-away BGP lab in network namespaces: load-balancer sites and a BIRD router.

    from tests.integration.routing.lab import Lab

    with Lab(sites=1) as lab:                       # everything below is torn down on exit
        target = lab.gobgp_target(0)                # "unix:/tmp/.../site0/gobgpd.sock"
        ...  # RouteWriter(target=target, prefixes=lab.prefixes, log=print)
        route = lab.wait_route("198.51.100.10/32")  # as BIRD on the router sees it
        assert route.as_path == [65001]

Topology (all names carry a per-lab tag, so several labs can run at once):

    TAG-s0 (site 0, AS 65001)  192.0.2.2/30, 2001:db8:1::2/64 ── veth ──┐
    TAG-s1 (site 1, AS 65001)  192.0.2.6/30, 2001:db8:2::2/64 ── veth ──┤  TAG-rtr: BIRD 2, AS 65000
    ...                                                                 │  192.0.2.1, .5, ...
                                                                        ┘  2001:db8:1::1, :2::1, ...

Each site runs one BGP speaker, chosen with `speaker=`:
  * "gobgpd" (default): gobgpd from its own TOML, API on a unix socket in the
    lab's work dir (reachable from the root namespace), listening on port 179
    so that the router connects quickly after a restart;
  * "bird": BIRD with `protocol direct` on the site's `lo`, exporting the host
    addresses inside the anycast prefixes: the paper's way, for InterfaceWriter.
The router accepts only /32 and /128 inside `prefixes` from the sites (the
same filter as examples/router-bird.conf), exports nothing, and is read over
its own control socket with birdc (`routes()`, `wait_route()`).

Timers: `hold_time` (default 9, GoBGP's minimum is 3) for every session; BIRD
uses short connect/error-wait timers so sessions come back in about a second.
With `router_kernel=True` BIRD also installs its best routes in the router
namespace's FIB (for data-plane tests with a client behind the router).
`router="frr"` runs FRR (zebra and bgpd, as user frr, vty sockets in the
work dir) as the router instead, with `router_config` as its frr.conf (there
is no generated FRR config); `routes()` and `sessions()` then read vtysh's JSON.
`router_config=TEXT` replaces the generated router config (e.g. with
examples/router-bird.conf; its addresses must be the lab's); `gobgpd_extra=TOML`
is added to each gobgpd's config after [global.config].

`client=True` adds TAG-cli (192.0.2.66/30, 2001:db8:100::2/64) behind the
router, default routes from the client and the sites through the router,
forwarding on the router and `router_kernel=True`: a client's packets to a VIP
go to the site the router's best route points at (`client_exec(...)`).

`foreign_routes=N` makes the router send every site a foreign table: N IPv4
/24s from 1.0.0.0 up (a partial Internet table), plus FOREIGN_INSIDE, routes
inside the anycast prefixes that the sites learn and must never touch.

`gobgpd_version=` picks the gobgpd release (GOBGPD_VERSIONS): 3.10.0 is
Debian 12's package, on PATH; 3.36.0 (Debian 13) and 4.8.0 (Debian unstable)
are fetched by scripts/fetch-gobgpd.sh into GOBGPD_CACHE. The `gobgp` CLI of
the same release goes with it.

Needs root, `ip` (iproute2), gobgpd/gobgp (Debian gobgpd, and the fetched
releases), bird/birdc (Debian bird2), and for router="frr" FRR (Debian frr):
`make deps-routing`.
A missing tool raises LabError naming the package. All processes are started
by the lab and stopped by `down()`, which is idempotent and also runs on `with`
exit; nothing outside the namespaces and the work dir is touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLIENT4, ROUTER_CLIENT4 = "192.0.2.66", "192.0.2.65"
CLIENT6, ROUTER_CLIENT6 = "2001:db8:100::2", "2001:db8:100::1"
LB_AS = 65001
ROUTER_AS = 65000
DEFAULT_PREFIXES = ("198.51.100.0/24", "2001:db8:ff::/48")
FOREIGN_INSIDE = ("198.51.100.0/24", "198.51.100.99/32")
"""Learned from the router with `foreign_routes`: an aggregate and a host route
inside the anycast prefix, neither of them the sites' own."""
_TOOLS = {
    "ip": "iproute2",
    "bird": "bird2",
    "birdc": "bird2",
}


FRR_DIR = "/usr/lib/frr"

GOBGPD_INSTALLED = "3.10.0"
"""Debian 12's gobgpd, installed by scripts/install-routing-deps.sh (on PATH)."""
GOBGPD_VERSIONS = (GOBGPD_INSTALLED, "3.36.0", "4.8.0")
GOBGPD_CACHE = Path(os.environ.get("GOBGPD_CACHE", "/var/tmp/ldirectord-py-gobgpd"))
"""Where scripts/fetch-gobgpd.sh unpacks the other releases."""


class LabError(Exception):
    pass


def require_frr() -> None:
    """Raise LabError unless FRR (zebra, bgpd, vtysh) is installed."""
    for path in (f"{FRR_DIR}/zebra", f"{FRR_DIR}/bgpd"):
        if not os.access(path, os.X_OK):
            raise LabError(f"{path} not found: install frr (make deps-routing)")
    if shutil.which("vtysh") is None:
        raise LabError("vtysh not found: install frr (make deps-routing)")


def require_tools(names: Iterable[str] = _TOOLS) -> None:
    """Raise LabError for a missing tool, naming the package and `make deps-routing`."""
    if os.geteuid() != 0:
        raise LabError("the routing lab needs root (network namespaces)")
    for name in names:
        if shutil.which(name) is None:
            raise LabError(f"{name} not found: install {_TOOLS[name]} (make deps-routing)")


_gobgpd_checked: dict[str, Path] = {}


def gobgpd_binary(version: str = GOBGPD_INSTALLED) -> Path:
    """The gobgpd of `version` (its `gobgp` CLI is beside it); LabError saying how
    to get it when it is missing or reports another version."""
    if version in _gobgpd_checked:
        return _gobgpd_checked[version]
    if version == GOBGPD_INSTALLED:
        found = shutil.which("gobgpd")
        if found is None:
            raise LabError("gobgpd not found: install gobgpd (make deps-routing)")
        path, how = Path(found), "install gobgpd (make deps-routing)"
    else:
        path = GOBGPD_CACHE / version / "usr" / "bin" / "gobgpd"
        how = f"run `sh scripts/fetch-gobgpd.sh {version}` (or make deps-routing)"
        if not os.access(path, os.X_OK):
            raise LabError(f"gobgpd {version} not found at {path}: {how}")
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError as exc:
        raise LabError(f"{path} does not run ({exc}): {how}") from None
    if out != f"gobgpd version {version}":
        raise LabError(f"{path} reports {out!r}, not gobgpd {version}: {how}")
    if not os.access(path.with_name("gobgp"), os.X_OK):
        raise LabError(f"{path.with_name('gobgp')} not found: {how}")
    _gobgpd_checked[version] = path
    return path


@dataclass
class BirdRoute:
    """One path in BIRD's table (`birdc show route all`)."""

    prefix: str
    protocol: str
    primary: bool
    origin: str = ""
    as_path: list[int] = field(default_factory=list)
    next_hop: str = ""
    med: int | None = None
    communities: list[str] = field(default_factory=list)
    local_pref: int | None = None


def parse_bird_routes(text: str) -> dict[str, list[BirdRoute]]:
    """`birdc show route all` output -> {prefix: [paths]} (the primary one marked)."""
    routes: dict[str, list[BirdRoute]] = {}
    current: BirdRoute | None = None
    prefix = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith(("BIRD ", "Table ", "Access restricted")):
            continue
        if not line.startswith("\t"):
            tokens = line.split()
            if not line[0].isspace():
                prefix, tokens = tokens[0], tokens[1:]
            protocol = next((t[1:] for t in tokens if t.startswith("[")), "")
            if protocol:
                current = BirdRoute(prefix=prefix, protocol=protocol, primary="*" in tokens)
                routes.setdefault(prefix, []).append(current)
                continue
        if current is None:
            continue
        key, _, value = line.strip().partition(": ")
        if key == "BGP.origin":
            current.origin = value
        elif key == "BGP.as_path":
            current.as_path = [int(a) for a in value.split() if a.isdigit()]
        elif key == "BGP.next_hop":
            current.next_hop = value.split()[0] if value else ""
        elif key == "BGP.med":
            current.med = int(value)
        elif key == "BGP.local_pref":
            current.local_pref = int(value)
        elif key == "BGP.community":
            current.communities = [f"{a}:{b}" for a, b in re.findall(r"\((\d+),\s*(\d+)\)", value)]
    return routes


@dataclass
class Site:
    index: int
    ns: str
    lb4: str
    rtr4: str
    lb6: str
    rtr6: str
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "gobgpd.sock"

    @property
    def target(self) -> str:
        return f"unix:{self.socket}"


class Lab:
    def __init__(
        self,
        *,
        sites: int = 1,
        speaker: str = "gobgpd",
        router: str = "bird",
        prefixes: Iterable[str] = DEFAULT_PREFIXES,
        hold_time: int = 9,
        router_kernel: bool = False,
        router_config: str | None = None,
        gobgpd_extra: str = "",
        gobgpd_version: str = GOBGPD_INSTALLED,
        foreign_routes: int = 0,
        client: bool = False,
        workdir: str | os.PathLike[str] | None = None,
        tag: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if speaker not in ("gobgpd", "bird"):
            raise ValueError("speaker must be 'gobgpd' or 'bird'")
        if router not in ("bird", "frr"):
            raise ValueError("router must be 'bird' or 'frr'")
        if router == "frr" and router_config is None:
            raise ValueError("router='frr' needs router_config (e.g. examples/router-frr.conf)")
        self.router = router
        if not 1 <= sites <= 8:
            raise ValueError("1 to 8 sites")
        self.speaker = speaker
        self.prefixes = [ipaddress.ip_network(p) for p in prefixes]
        self.hold_time = hold_time
        self.router_kernel = router_kernel
        self.router_config = router_config
        self.gobgpd_extra = gobgpd_extra
        self.gobgpd_version = gobgpd_version
        self.foreign_routes = foreign_routes
        self.client = client
        if client:
            self.router_kernel = True  # packets must follow the routes
        self.tag = tag or "lr" + uuid.uuid4().hex[:6]
        self._own_workdir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix=f"routing-lab-{self.tag}-"))
        self.rtr_ns = f"{self.tag}-rtr"
        self.client_ns = f"{self.tag}-cli"
        self.sites = [
            Site(
                index=i,
                ns=f"{self.tag}-s{i}",
                lb4=f"192.0.2.{4 * i + 2}",
                rtr4=f"192.0.2.{4 * i + 1}",
                lb6=f"2001:db8:{i + 1}::2",
                rtr6=f"2001:db8:{i + 1}::1",
                dir=self.dir / f"site{i}",
            )
            for i in range(sites)
        ]
        self._router_procs: list[subprocess.Popen[bytes]] = []
        self._namespaces: list[str] = []
        self._log = log or (lambda _msg: None)

    # ---- lifecycle -------------------------------------------------------------

    def __enter__(self) -> Lab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self, *, wait: float = 15.0) -> None:
        """Create everything, start the speakers and the router, wait for the sessions."""
        if self.router == "frr":
            require_frr()
        require_tools(["ip", "bird", "birdc"])
        if self.speaker == "gobgpd":
            gobgpd_binary(self.gobgpd_version)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._add_ns(self.rtr_ns)
        for site in self.sites:
            site.dir.mkdir(parents=True, exist_ok=True)
            self._add_ns(site.ns)
            r_if, s_if = f"r{site.index}", "up0"
            _run(
                "ip",
                "link",
                "add",
                r_if,
                "netns",
                self.rtr_ns,
                "type",
                "veth",
                "peer",
                "name",
                s_if,
                "netns",
                site.ns,
            )
            for ns, ifname, a4, a6 in (
                (self.rtr_ns, r_if, site.rtr4, site.rtr6),
                (site.ns, s_if, site.lb4, site.lb6),
            ):
                _run("ip", "-n", ns, "addr", "add", f"{a4}/30", "dev", ifname)
                _run("ip", "-n", ns, "addr", "add", f"{a6}/64", "dev", ifname, "nodad")
                _run("ip", "-n", ns, "link", "set", ifname, "up")
        if self.client:
            self._add_client()
        self._start_router()
        for site in self.sites:
            self.start_speaker(site.index)
        self.wait_established(timeout=wait)

    def down(self) -> None:
        """Stop every process the lab started and delete its namespaces (idempotent)."""
        procs = [s.proc for s in self.sites] + list(self._router_procs)
        for proc in procs:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.terminate()
        for proc in procs:
            if proc is not None:
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=60)  # a gobgpd with a full table frees GiBs
        for site in self.sites:
            site.proc = None
        self._router_procs = []
        for ns in reversed(self._namespaces):
            self._kill_ns_pids(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self._namespaces.clear()
        if self._own_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- the speakers ------------------------------------------------------------

    @property
    def gobgp_major(self) -> int:
        """The GoBGP API the lab's gobgpd speaks: 3 or 4."""
        return int(self.gobgpd_version.split(".")[0])

    def gobgp_target(self, site: int = 0) -> str:
        return self.sites[site].target

    def start_speaker(self, site: int = 0) -> None:
        s = self.sites[site]
        if s.proc is not None and s.proc.poll() is None:
            raise LabError(f"site {site}'s speaker is already running")
        if self.speaker == "gobgpd":
            conf = s.dir / "gobgpd.toml"
            conf.write_text(self._gobgpd_toml(s))
            with contextlib.suppress(FileNotFoundError):
                s.socket.unlink()  # left behind by a SIGKILL; gobgpd would die on it
            cmd = [
                str(gobgpd_binary(self.gobgpd_version)),
                "-f",
                str(conf),
                "--api-hosts",
                f"unix://{s.socket}",
                "--pprof-disable",
                "-p",
            ]
        else:
            conf = s.dir / "bird.conf"
            conf.write_text(self._site_bird_conf(s))
            cmd = [
                "bird",
                "-f",
                "-c",
                str(conf),
                "-s",
                str(s.dir / "bird.ctl"),
                "-P",
                str(s.dir / "bird.pid"),
            ]
        log = open(s.dir / f"{self.speaker}.log", "ab")  # noqa: SIM115 - kept by the child
        s.proc = subprocess.Popen(
            ["ip", "netns", "exec", s.ns, *cmd], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        ready = s.socket if self.speaker == "gobgpd" else s.dir / "bird.ctl"
        _wait(
            lambda: ready.exists() or s.proc is None or s.proc.poll() is not None,
            10,
            f"site {site}'s {self.speaker} to open its control socket",
        )
        if s.proc.poll() is not None:
            raise LabError(f"site {site}'s {self.speaker} exited: {self.speaker_log(site)[-2000:]}")

    def stop_speaker(self, site: int = 0, sig: int = signal.SIGTERM, *, wait: bool = True) -> None:
        """Send `sig` (SIGTERM, SIGKILL, SIGSTOP...) to the site's speaker."""
        s = self.sites[site]
        if s.proc is None:
            return
        if sig == signal.SIGSTOP:
            s.proc.send_signal(sig)
            return
        s.proc.send_signal(signal.SIGCONT)
        s.proc.send_signal(sig)
        if wait:
            s.proc.wait(timeout=10)
            s.proc = None

    def thaw_speaker(self, site: int = 0) -> None:
        s = self.sites[site]
        if s.proc is not None:
            s.proc.send_signal(signal.SIGCONT)

    def restart_speaker(self, site: int = 0) -> None:
        self.stop_speaker(site)
        self.start_speaker(site)

    def speaker_pid(self, site: int = 0) -> int | None:
        proc = self.sites[site].proc
        return proc.pid if proc is not None else None

    def speaker_log(self, site: int = 0) -> str:
        path = self.sites[site].dir / f"{self.speaker}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def table_size(self, site: int = 0) -> int:
        """How many IPv4 destinations the site's gobgpd holds (`gobgp global rib summary`)."""
        out = self.gobgp("global", "rib", "summary", site=site)
        found = re.search(r"Destination: (\d+)", out)
        if found is None:
            raise LabError(f"unexpected `gobgp global rib summary` output: {out!r}")
        return int(found.group(1))

    def wait_foreign_table(self, site: int = 0, timeout: float = 120.0) -> None:
        """Wait until the site's gobgpd holds the whole foreign table."""
        want = self.foreign_routes + len(FOREIGN_INSIDE)
        deadline = time.monotonic() + timeout
        have = 0
        while True:
            with contextlib.suppress(LabError):  # gobgpd busy taking the table in
                have = self.table_size(site)
            if have >= want:
                return
            if time.monotonic() >= deadline:
                raise LabError(f"gobgpd holds {have} routes after {timeout:g} s, not {want}")
            time.sleep(0.25)  # each `gobgp` run costs CPU gobgpd needs

    def gobgp(self, *args: str, site: int = 0, check: bool = True) -> str:
        """Run the `gobgp` CLI against a site's gobgpd; returns stdout."""
        cli = gobgpd_binary(self.gobgpd_version).with_name("gobgp")
        cmd = [str(cli), "--target", f"unix://{self.sites[site].socket}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"{' '.join(cmd)}: no answer within 30 s") from None
        if check and done.returncode != 0:
            raise LabError(f"{' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def site_exec(
        self, site: int, *cmd: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a site's namespace (e.g. `ip addr add ... dev lo`)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.sites[site].ns, *cmd],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    # ---- the router ------------------------------------------------------------

    def birdc(self, *args: str) -> str:
        done = subprocess.run(
            ["birdc", "-s", str(self.dir / "router.ctl"), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(f"birdc {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def vtysh(self, *commands: str) -> str:
        """FRR's vtysh on the lab router (router="frr")."""
        args = [a for c in commands for a in ("-c", c)]
        done = subprocess.run(
            ["vtysh", "--vty_socket", str(self.dir / "frr"), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(f"vtysh {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def routes(self) -> dict[str, list[BirdRoute]]:
        """The router's table (both families): {prefix: paths}, from its RIB.

        With FRR, communities are not filled in (its table summary lacks them).
        """
        if self.router == "frr":
            routes: dict[str, list[BirdRoute]] = {}
            for family in ("ipv4", "ipv6"):
                text = self.vtysh(f"show bgp {family} unicast json")
                for prefix, paths in json.loads(text).get("routes", {}).items():
                    routes[prefix] = [
                        BirdRoute(
                            prefix=prefix,
                            protocol=str(path.get("peerId", "")),
                            primary=bool(path.get("bestpath")),
                            origin=str(path.get("origin", "")),
                            as_path=[int(a) for a in str(path.get("path", "")).split()],
                            next_hop=str((path.get("nexthops") or [{}])[0].get("ip", "")),
                            med=path.get("metric"),
                        )
                        for path in paths
                    ]
            return routes
        return parse_bird_routes(self.birdc("show", "route", "all"))

    def route(self, prefix: str) -> BirdRoute | None:
        """The router's best path for `prefix`, or None."""
        for path in self.routes().get(str(ipaddress.ip_network(prefix)), []):
            if path.primary:
                return path
        return None

    def wait_route(
        self,
        prefix: str,
        *,
        present: bool = True,
        timeout: float = 5.0,
        where: Callable[[BirdRoute], bool] | None = None,
    ) -> BirdRoute | None:
        """Wait until the router has (present) or lacks a best path for `prefix`."""
        result: list[BirdRoute | None] = [None]

        def check() -> bool:
            result[0] = self.route(prefix)
            if not present:
                return result[0] is None
            return result[0] is not None and (where is None or where(result[0]))

        _wait(
            check,
            timeout,
            f"{prefix} to {'appear' if present else 'disappear'} at the router"
            + (f" (now: {result[0]})" if result[0] else ""),
        )
        return result[0]

    def sessions(self) -> dict[str, str]:
        """BGP session -> state ("Established", "Active", ...): BIRD protocol
        names, or with FRR the neighbor addresses."""
        if self.router == "frr":
            summary = json.loads(self.vtysh("show bgp summary json"))
            return {
                addr: str(peer.get("state", ""))
                for fam in summary.values()
                if isinstance(fam, dict)
                for addr, peer in fam.get("peers", {}).items()
            }
        out = self.birdc("show", "protocols")
        states: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[1] == "BGP":
                states[parts[0]] = parts[5]
        return states

    def wait_established(self, timeout: float = 15.0, sites: Iterable[int] | None = None) -> None:
        """Wait for the router's sessions with the sites (with `router_config`: all of them)."""
        if self.router_config is not None:
            _wait(
                lambda: (s := self.sessions()) and all(v == "Established" for v in s.values()),
                timeout,
                f"the router's BGP sessions to be established ({self.sessions()})",
            )
            return
        names = {
            n
            for i in (sites if sites is not None else range(len(self.sites)))
            for n in (f"site{i}", f"site{i}v6")
        }
        _wait(
            lambda: all(self.sessions().get(n) == "Established" for n in names),
            timeout,
            f"BGP sessions {sorted(names)} to be established ({self.sessions()})",
        )

    def wait_session_down(self, site: int, timeout: float = 15.0) -> None:
        names = (f"site{site}", f"site{site}v6")
        _wait(
            lambda: all(self.sessions().get(n) != "Established" for n in names),
            timeout,
            f"site {site}'s sessions to go down",
        )

    # ---- internals -------------------------------------------------------------

    def _add_client(self) -> None:
        """A client namespace behind the router; the sites route back through it."""
        self._add_ns(self.client_ns)
        _run("ip", "link", "add", "c0", "netns", self.rtr_ns, "type", "veth",
             "peer", "name", "up0", "netns", self.client_ns)  # fmt: skip
        for ns, ifname, a4, a6 in (
            (self.rtr_ns, "c0", ROUTER_CLIENT4, ROUTER_CLIENT6),
            (self.client_ns, "up0", CLIENT4, CLIENT6),
        ):
            _run("ip", "-n", ns, "addr", "add", f"{a4}/30", "dev", ifname)
            _run("ip", "-n", ns, "addr", "add", f"{a6}/64", "dev", ifname, "nodad")
            _run("ip", "-n", ns, "link", "set", ifname, "up")
        _run("ip", "-n", self.client_ns, "route", "add", "default", "via", ROUTER_CLIENT4)
        _run("ip", "-n", self.client_ns, "-6", "route", "add", "default", "via", ROUTER_CLIENT6)
        for site in self.sites:
            _run("ip", "-n", site.ns, "route", "add", "default", "via", site.rtr4)
            _run("ip", "-n", site.ns, "-6", "route", "add", "default", "via", site.rtr6)
        _run("ip", "netns", "exec", self.rtr_ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
             "net.ipv6.conf.all.forwarding=1")  # fmt: skip

    def client_exec(
        self, *cmd: str, check: bool = True, timeout: float = 10
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the client namespace (Lab(client=True))."""
        full = ["ip", "netns", "exec", self.client_ns, *cmd]
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=check)

    def _add_ns(self, ns: str) -> None:
        _run("ip", "netns", "add", ns)
        self._namespaces.append(ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")

    def _kill_ns_pids(self, ns: str) -> None:
        done = subprocess.run(
            ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False
        )
        for pid in done.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)

    def _start_router(self) -> None:
        if self.router == "frr":
            self._start_frr()
            return
        conf = self.dir / "router.conf"
        conf.write_text(self.router_config or self.router_conf())
        self._router_procs.append(
            self._spawn(
                self.rtr_ns,
                ["bird", "-f", "-c", str(conf), "-s", str(self.dir / "router.ctl"),
                 "-P", str(self.dir / "router.pid")],
                self.dir / "router.log",
            )
        )  # fmt: skip
        self._wait_router(self.dir / "router.ctl", "BIRD")

    def _start_frr(self) -> None:
        # FRR's daemons drop to user frr: it must reach the lab's work dir.
        self.dir.chmod(0o755)
        frr = self.dir / "frr"
        frr.mkdir(exist_ok=True)
        (frr / "zebra.conf").write_text("")
        (frr / "frr.conf").write_text(self.router_config or "")
        for path in (frr, frr / "zebra.conf", frr / "frr.conf"):
            shutil.chown(path, "frr", "frr")
        common = ["-u", "frr", "-g", "frr", "-z", str(frr / "zserv.api"),
                  "--vty_socket", str(frr), "-P", "0"]  # fmt: skip
        daemons = [("zebra", "zebra.conf"), ("bgpd", "frr.conf")]
        if re.search(r"^bfd$", self.router_config or "", re.MULTILINE):
            daemons.append(("bfdd", "frr.conf"))  # examples/router-frr-bfd.conf
        for daemon, conf in daemons:
            binary = f"{FRR_DIR}/{daemon}"
            cmd = [binary, *common, "-i", str(frr / f"{daemon}.pid"), "-f", str(frr / conf)]
            self._router_procs.append(self._spawn(self.rtr_ns, cmd, frr / f"{daemon}.log"))
            self._wait_router(frr / f"{daemon}.vty", f"FRR {daemon}")

    def _spawn(self, ns: str, cmd: list[str], logfile: Path) -> subprocess.Popen[bytes]:
        log = open(logfile, "ab")  # noqa: SIM115 - kept by the child
        try:
            return subprocess.Popen(
                ["ip", "netns", "exec", ns, *cmd], stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()

    def _wait_router(self, socket: Path, what: str) -> None:
        _wait(lambda: socket.exists() or self._router_dead(), 10, f"the router's {what} to start")
        if self._router_dead():
            logs = sorted(self.dir.glob("router.log")) + sorted((self.dir / "frr").glob("*.log"))
            text = "".join(p.read_text(errors="replace") for p in logs)
            raise LabError(f"the router's {what} exited: {text[-2000:]}")

    def _router_dead(self) -> bool:
        return not self._router_procs or any(p.poll() is not None for p in self._router_procs)

    def _filters(self) -> str:
        v4 = (
            ", ".join(f"{p}{{32,32}}" for p in self.prefixes if p.version == 4)
            or "0.0.0.0/32{32,32}"
        )
        v6 = (
            ", ".join(f"{p}{{128,128}}" for p in self.prefixes if p.version == 6)
            or "::/128{128,128}"
        )
        return f"define ANYCAST4 = [ {v4} ];\ndefine ANYCAST6 = [ {v6} ];\n"

    def _foreign_conf(self) -> Path:
        """The static routes the router sends the sites (`foreign_routes`)."""
        path = self.dir / "foreign.conf"
        with path.open("w") as f:
            f.write("protocol static foreign4 {\n  ipv4;\n")
            for prefix in FOREIGN_INSIDE:
                f.write(f"  route {prefix} blackhole;\n")
            first = int(ipaddress.IPv4Address("1.0.0.0"))
            for i in range(self.foreign_routes):
                f.write(f"  route {ipaddress.IPv4Address(first + (i << 8))}/24 blackhole;\n")
            f.write("}\n")
        return path

    def router_conf(self) -> str:
        keep = self.hold_time // 3 or 1
        kernel = "export all" if self.router_kernel else "export none"
        export4 = "export none"
        if self.foreign_routes:
            export4 = 'export where proto = "foreign4"'

        lines = [
            "router id 192.0.2.1;",
            f'log "{self.dir / "router.bird.log"}" all;',
            self._filters(),
            "protocol device { scan time 10; }",
            f"protocol kernel k4 {{ ipv4 {{ import none; {kernel}; }}; }}",
            f"protocol kernel k6 {{ ipv6 {{ import none; {kernel}; }}; }}",
            "filter from_lb4 { if net ~ ANYCAST4 then accept; reject; }",
            "filter from_lb6 { if net ~ ANYCAST6 then accept; reject; }",
            f'include "{self._foreign_conf()}";' if self.foreign_routes else "",
            "template bgp lb {",
            f"    local as {ROUTER_AS};",
            f"    hold time {self.hold_time}; keepalive time {keep};",
            "    connect delay time 1; connect retry time 1; error wait time 1, 5;",
            "}",
        ]
        for s in self.sites:
            lines.append(
                f"protocol bgp site{s.index} from lb {{ local {s.rtr4} as {ROUTER_AS}; "
                f"neighbor {s.lb4} as {LB_AS}; "
                f"ipv4 {{ import filter from_lb4; {export4}; }}; }}"
            )
            lines.append(
                f"protocol bgp site{s.index}v6 from lb {{ local {s.rtr6} as {ROUTER_AS}; "
                f"neighbor {s.lb6} as {LB_AS}; "
                "ipv6 { import filter from_lb6; export none; }; }"
            )
        return "\n".join(lines) + "\n"

    def _gobgpd_toml(self, s: Site) -> str:
        keep = max(1, self.hold_time // 3)
        out = [
            "[global.config]",
            f"  as = {LB_AS}",
            f'  router-id = "{s.lb4}"',
            "  port = 179",
            f'  local-address-list = ["{s.lb4}", "{s.lb6}"]',
            self.gobgpd_extra,
        ]
        for peer, local, fam in ((s.rtr4, s.lb4, "ipv4-unicast"), (s.rtr6, s.lb6, "ipv6-unicast")):
            out += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{peer}"',
                f"    peer-as = {ROUTER_AS}",
                "  [neighbors.timers.config]",
                f"    hold-time = {self.hold_time}",
                f"    keepalive-interval = {keep}",
                "    connect-retry = 5",
                "  [neighbors.transport.config]",
                f'    local-address = "{local}"',
                "  [[neighbors.afi-safis]]",
                "    [neighbors.afi-safis.config]",
                f'      afi-safi-name = "{fam}"',
            ]
        return "\n".join(out) + "\n"

    def _site_bird_conf(self, s: Site) -> str:
        keep = self.hold_time // 3 or 1
        timers = (
            f"hold time {self.hold_time}; keepalive time {keep}; "
            "connect delay time 1; connect retry time 1; error wait time 1, 5;"
        )
        lines = [
            f"router id {s.lb4};",
            f'log "{s.dir / "bird.log"}" all;',
            self._filters(),
            "protocol device { scan time 1; }",
            'protocol direct { ipv4; ipv6; interface "lo"; }',
            "filter vips4 { if source = RTS_DEVICE && net ~ ANYCAST4 then accept; reject; }",
            "filter vips6 { if source = RTS_DEVICE && net ~ ANYCAST6 then accept; reject; }",
        ]
        for name, local, peer, fam in (
            ("rtr", s.lb4, s.rtr4, "ipv4"),
            ("rtr6", s.lb6, s.rtr6, "ipv6"),
        ):
            filt = "vips4" if fam == "ipv4" else "vips6"
            lines.append(
                f"protocol bgp {name} {{ local {local} as {LB_AS}; "
                f"neighbor {peer} as {ROUTER_AS}; {timers} "
                f"{fam} {{ import none; export filter {filt}; }}; }}"
            )
        return "\n".join(lines) + "\n"


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {done.stderr.strip()}")


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except LabError:
            pass
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)
