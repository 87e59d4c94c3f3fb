"""The anycast lab (`make demo`): two sites serve one anycast VIP; watch a site's
backends die, its route go, the traffic move, and come back.

    python -m demo.lab [--short] [--output DIR]

What it does, step by step (demo/README.md has the picture and what you will see):

1. builds the network in namespaces (demo/topology.py): a client, a router
   running BIRD, and two sites, each a load balancer running our daemon and
   gobgpd, with two backends behind it in direct-routing mode;
2. starts everything with the configs in examples/ (demo-router-bird.conf,
   demo-gobgpd-{a,b}.conf, demo-lb-bfd-{a,b}.conf, demo-site-{a,b}.cf):
   `ldirectord demo-site-a.cf start` in site A's load balancer, the same for B;
   both announce 198.51.100.10/32, the router prefers site A;
3. starts a client that opens a new connection to the VIP every few ms;
4. stops both backends of site A: the daemon withdraws the VIP, the router
   switches to site B, the client's traffic follows;
5. restarts them: the route comes back, and so does the traffic;
6. planned maintenance of site A: `maintenance on` (the route goes first), wait
   for "drained", stop and start A's backends, `maintenance off`;
7. kills site A's load balancer the way a hung machine dies (daemon SIGKILLed,
   gobgpd and the BFD daemon frozen, its network silent): BFD notices after 3
   missed packets (100 ms apart, the examples' timers) and the router drops site A; with
   `--no-bfd` only the BGP hold time (3 s) can notice;
8. prints the timeline and a summary table, writes them (text and JSON), the
   client's raw results and a plot (SVG) to the output folder, and removes
   everything it created, also on failure and on Ctrl-C.

It needs root and a kernel with ip_vs. Where this kernel has none, it runs itself
in the project's QEMU guest (scripts/ipvs-vm/run), with the same arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from demo import analysis, plot
from demo.netns import inside
from demo.services import (
    BFD_EXAMPLE_INTERVAL_MS,
    PROJECT,
    RUN_DIR,
    Services,
    daemon_command,
    daemon_status,
    wait_for,
)
from demo.timeline import Event, Served, Timeline, Watcher, write_json
from demo.topology import (
    ALL_NAMESPACES,
    SITE_A,
    SITES,
    VIP,
    LabError,
    Site,
    build,
    run,
    teardown,
)

HOLD_TIME = 3.0
"""The BGP hold time of every session (examples/demo-gobgpd-*.conf, demo-router-bird.conf)."""
BFD_MULTIPLIER = 3
"""Missed BFD packets before the session is down (examples/demo-*bfd*.conf)."""
MAINTENANCE_TIMEOUT = 30.0
"""`ldirectordctl maintenance on --timeout`: the command's default."""

REQUIRED_PROGRAMS = {
    "ip": "iproute2",
    "tc": "iproute2",
    "chrt": "util-linux",
    "bird": "bird2",
    "birdc": "bird2",
    "gobgpd": "gobgpd",
    "busybox": "busybox-static",
}


@dataclass(frozen=True)
class Timing:
    """How long the lab watches each state; the short mode (for the test) halves most."""

    baseline: float  # traffic at site A before anything happens
    observe: float  # after each switch, before the next step
    settle: float  # the traffic must stay at the new site from this long after the switch on
    switch_timeout: float  # the most any switch may take before the lab gives up
    start_timeout: float  # daemons started and both routes at the router
    interval: float  # between two requests of the client
    request_timeout: float  # a request with no answer by then has failed


FULL = Timing(4.0, 4.0, 0.5, 30.0, 240.0, 0.04, 2.0)
SHORT = Timing(2.0, 2.0, 0.5, 30.0, 240.0, 0.04, 2.0)


class Interrupted(Exception):
    """SIGTERM or SIGHUP: end like Ctrl-C, through the cleanup."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def ipvs_available() -> bool:
    if Path("/proc/net/ip_vs").exists():
        return True
    subprocess.run(["modprobe", "ip_vs"], capture_output=True, check=False, timeout=30)
    return Path("/proc/net/ip_vs").exists()


def run_in_guest(argv: list[str], output: Path) -> int:
    """The same lab, in the project's QEMU guest (this kernel has no ip_vs)."""
    runner = PROJECT / "scripts" / "ipvs-vm" / "run"
    env = dict(os.environ)
    env.setdefault("IPVS_VM_TIMEOUT", "900")
    output.mkdir(parents=True, exist_ok=True)
    rw = [str(Path.cwd())]
    if not output.resolve().is_relative_to(Path.cwd().resolve()):
        rw.append(str(output.resolve()))
    env["IPVS_VM_RW_DIRS"] = ":".join(rw)
    print(
        "This kernel has no ip_vs: running the lab in a QEMU guest with Debian's kernel"
        " (scripts/ipvs-vm/run; emulated, so everything is slower there).",
        flush=True,
    )
    command = [str(runner), sys.executable, "-m", "demo.lab", *argv]
    # The runner gets its own session and each of our signals exactly once: it
    # stops the guest and removes its temp dirs on SIGINT or SIGTERM, and must not
    # be killed while it does (nor get a second signal, which would cut that short).
    process = subprocess.Popen(command, env=env, start_new_session=True)

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    return process.wait()  # bounded by the runner's own IPVS_VM_TIMEOUT


def missing_programs() -> list[str]:
    return sorted(
        {
            f"{prog} (Debian package {pkg})"
            for prog, pkg in REQUIRED_PROGRAMS.items()
            if shutil.which(prog) is None
        }
    )


GOBGPD_CACHE = Path(os.environ.get("GOBGPD_CACHE", "/var/tmp/ldirectord-py-gobgpd"))
"""Where scripts/fetch-gobgpd.sh unpacks the gobgpd releases Debian 12 lacks."""


def gobgpd_binary(choice: str) -> str:
    """`--gobgpd`: a path, a command on PATH, or a release fetch-gobgpd.sh put in the
    cache (3.36.0, 4.8.0). Raises LabError saying how to get a missing one."""
    if choice[:1].isdigit():
        path = GOBGPD_CACHE / choice / "usr" / "bin" / "gobgpd"
        if not os.access(path, os.X_OK):
            raise LabError(
                f"gobgpd {choice} not found at {path}: run `sh scripts/fetch-gobgpd.sh {choice}`"
            )
        return str(path)
    found = shutil.which(choice)
    if found is None:
        raise LabError(f"gobgpd {choice!r} not found: give a path or a release (4.8.0)")
    return found


class Lab:
    def __init__(
        self,
        output: Path,
        timing: Timing,
        mode: str,
        bfd_interval_ms: int | None,
        gobgpd: str = "gobgpd",
    ) -> None:
        self.output = output
        self.bfd_interval_ms = bfd_interval_ms  # None: BGP only
        self.timing = timing
        self.mode = mode
        self.gobgpd = gobgpd
        self.workdir = Path(tempfile.mkdtemp(prefix="ldirectord-lab."))
        self.services = Services(self.workdir, gobgpd=gobgpd)
        self.timeline = Timeline()
        self.watcher: Watcher | None = None
        self.client_out: Path | None = None
        self.markers: list[Event] = []
        self.starting: list[tuple[Site, subprocess.Popen[bytes]]] = []

    # ----------------------------------------------------------------- helpers
    def say(self, text: str, kind: str = "", t: float | None = None, marker: str = "") -> Event:
        event = self.timeline.add("lab", text, kind, t)
        if marker:
            self.markers.append(Event(event.t, "lab", marker, kind))
        return event

    def show(self, title: str, text: str) -> None:
        body = "\n".join("    " + line for line in text.rstrip().splitlines())
        print(f"  --- {title}\n{body}", flush=True)

    def show_router(self) -> None:
        self.show(
            f"router: birdc show route {VIP}/32 (both sites' paths, * = the one in use)",
            self.services.birdc("show", "route", f"{VIP}/32"),
        )

    def show_decision(self, site: Site) -> None:
        """The daemon's decision from its status socket: what `ldirectordctl routes`
        prints (not run here: a Python program takes tens of seconds in the guest)."""
        status = daemon_status(site)
        anycast = (status or {}).get("anycast") or {}
        for vip in anycast.get("vips") or []:
            if str(vip.get("vip", "")).split("/")[0] == VIP:
                since = time.strftime("%H:%M:%S", time.localtime(float(vip.get("since") or 0)))
                self.show(
                    f"daemon {site.name}: its decision (status socket, as in ldirectordctl routes)",
                    f"{VIP}  {vip.get('state')}  since {since}  {vip.get('reason', '')}",
                )
                return
        self.show(f"daemon {site.name}", "no anycast status (is the daemon running?)")

    def wait(self, condition: Any, timeout: float, what: str, every: float = 0.05) -> None:
        wait_for(condition, timeout, what, every=every)

    def watcher_ready(self) -> Watcher:
        assert self.watcher is not None
        return self.watcher

    # ----------------------------------------------------------------- steps
    def setup(self) -> None:
        """Everything up, started in parallel where it can (the daemons take longest,
        tens of seconds in the emulated guest), until site A serves the client."""
        leftovers = teardown()
        if leftovers:
            self.say(f"removed the namespaces of an earlier run: {', '.join(leftovers)}")
        for site in SITES:
            self.services.remove_daemon_leftovers(site)
        build()
        self.say(f"network built: {len(ALL_NAMESPACES)} namespaces ({', '.join(ALL_NAMESPACES)})")
        for site in SITES:
            for backend in site.backends:
                self.services.start_backend(backend)
        self.starting = [(site, self.services.spawn_daemon_start(site)) for site in SITES]
        self.say(
            "ldirectord demo-site-a.cf start, ldirectord demo-site-b.cf start"
            " (each in its load balancer's namespace)"
        )
        self.services.start_router(self.bfd_interval_ms or BFD_EXAMPLE_INTERVAL_MS)
        monitor = self.services.start_route_monitor()
        for site in SITES:
            self.services.start_gobgpd(site)
            if self.bfd_interval_ms is not None:
                self.services.start_bfd(site, self.bfd_interval_ms)
        self.client_out = self.services.start_client(
            self.timing.interval, self.timing.request_timeout
        )
        self.watcher = Watcher(self.timeline, self.services, monitor, self.client_out)
        self.watcher.start()
        self.say(
            "BIRD on the router, gobgpd"
            + (" and BIRD's BFD" if self.bfd_interval_ms is not None else "")
            + " on each load balancer, busybox httpd on each backend; the client is ready to go"
        )
        for site in SITES:
            for backend in site.backends:
                self.services.wait_backend(backend, 30.0)
        self.wait(
            self.sites_ready, self.timing.start_timeout, "both sites to serve and announce", 0.2
        )
        for site, process in self.starting:
            self.check_started(site, process)
        self.say("the router has both sites' routes and uses site A's (higher local preference)")
        if self.bfd_interval_ms is not None:
            self.say(
                f"the router's BFD sessions with both sites are up ({self.detector()}),"
                " each tied to its BGP session"
            )
        self.show_router()
        self.services.go_client(60.0)
        self.say(
            f"client started: a new connection to {VIP}:80 every"
            f" {self.timing.interval * 1000:.0f} ms, {self.timing.request_timeout:.0f} s timeout"
        )
        watcher = self.watcher_ready()
        self.wait(
            lambda: sum(1 for r in watcher.requests[-20:] if r.ok and r.site == "A") >= 10,
            60.0,
            "the client's answers from site A",
        )
        self.say(
            "site A serves the client: the measured run starts",
            analysis.READY,
            marker="measured run starts",
        )
        time.sleep(self.timing.baseline)

    def check_started(self, site: Site, process: subprocess.Popen[bytes]) -> None:
        """`ldirectord ... start` must have succeeded (exit 0), as an init script checks."""
        try:
            out, _ = process.communicate(timeout=self.timing.start_timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            raise LabError(f"ldirectord {site.config_name} start did not return") from exc
        if process.returncode != 0:
            raise LabError(
                f"ldirectord {site.config_name} start failed (exit {process.returncode}): "
                f"{out.decode(errors='replace').strip()}"
            )

    def sites_ready(self) -> bool:
        """Each daemon announces the VIP, holds it on lo and has both reals in ip_vs, and
        the router has both paths and uses A's."""
        for site, process in self.starting:
            if process.poll() not in (None, 0):
                self.check_started(site, process)  # raises, with the command's output
        watcher = self.watcher_ready()
        for site in SITES:
            decision = watcher.decisions.get(site.name)
            if decision is None or decision[0] != "announced":
                return False
            if not self.services.site_serves(site):
                return False
        paths = self.services.birdc("show", "route", f"{VIP}/32").count("[site_")
        if self.bfd_interval_ms is not None and not self.services.router_bfd_up(SITES):
            return False
        return paths >= 2 and watcher.route_via == "A"

    def detector(self) -> str:
        """What notices a hung load balancer in this run."""
        if self.bfd_interval_ms is None:
            return f"BGP hold time {HOLD_TIME:.0f} s"
        return f"BFD {self.bfd_interval_ms} ms x {BFD_MULTIPLIER}"

    def traffic_at(self, site: str, since: float) -> bool:
        watcher = self.watcher_ready()
        return watcher.serving == site and any(
            r.ok and r.site == site and r.start >= since for r in watcher.requests[-50:]
        )

    def route_at(self, site: str, since: float) -> bool:
        event = self.timeline.first(f"route-via-{site}", since)
        return event is not None

    def kill_backends(self) -> None:
        print("\n=== 1. Both backends of site A die", flush=True)
        for backend in SITE_A.backends:
            self.services.stop_backend(backend)
        t = self.say(
            "stopped the HTTP servers of a1 and a2 (all of site A's backends)",
            analysis.BACKENDS_DOWN,
            marker="A's backends stopped",
        ).t
        self.wait(
            lambda: self.route_at("B", t) and self.traffic_at("B", t),
            self.timing.switch_timeout,
            "the router and the client to move to site B",
        )
        self.show_decision(SITE_A)
        self.show_router()
        time.sleep(self.timing.observe)

    def restore_backends(self) -> None:
        print("\n=== 2. Site A's backends come back", flush=True)
        for backend in SITE_A.backends:
            self.services.start_backend(backend)
        t = self.say(
            "restarted the HTTP servers of a1 and a2",
            analysis.BACKENDS_UP,
            marker="A's backends back",
        ).t
        self.wait(
            lambda: self.route_at("A", t) and self.traffic_at("A", t),
            self.timing.switch_timeout,
            "the router and the client to return to site A",
        )
        self.show_decision(SITE_A)
        self.show_router()
        time.sleep(self.timing.observe)

    def planned_maintenance(self) -> None:
        print("\n=== 3. Planned maintenance of site A", flush=True)
        t = self.say(
            "ldirectordctl -c demo-site-a.cf maintenance on (over daemon A's control socket)",
            analysis.MAINTENANCE_ON,
            marker="maintenance on",
        ).t
        reply = daemon_command(
            SITE_A, "maintenance", {"action": "on", "timeout": MAINTENANCE_TIMEOUT}, 60.0
        )
        self.show("daemon A: maintenance on", str(reply.get("message") or reply.get("error")))
        if not reply.get("ok"):
            raise LabError(f"maintenance on did not drain site A: {reply}")
        self.say("daemon A: drained: safe to stop the backends", analysis.MAINTENANCE_DRAINED)
        self.wait(
            lambda: self.route_at("B", t) and self.traffic_at("B", t),
            self.timing.switch_timeout,
            "the router and the client at site B (daemon A said drained)",
        )
        for backend in SITE_A.backends:
            self.services.stop_backend(backend)
        self.say("stopped a1 and a2 (site A's backends): no client notices")
        time.sleep(self.timing.observe / 2)
        for backend in SITE_A.backends:
            self.services.start_backend(backend)
        self.say("restarted a1 and a2")
        self.wait(
            lambda: self.services.site_serves(SITE_A) and self.healthy_in_maintenance(SITE_A),
            self.timing.switch_timeout,
            "daemon A to see both backends up again (still in maintenance)",
        )
        t = self.say(
            "ldirectordctl -c demo-site-a.cf maintenance off",
            analysis.MAINTENANCE_OFF,
            marker="maintenance off",
        ).t
        reply = daemon_command(SITE_A, "maintenance", {"action": "off"}, 30.0)
        self.show("daemon A: maintenance off", str(reply.get("message") or reply.get("error")))
        self.wait(
            lambda: self.route_at("A", t) and self.traffic_at("A", t),
            self.timing.switch_timeout,
            "the router and the client to return to site A",
        )
        self.show_decision(SITE_A)
        time.sleep(self.timing.observe)

    def healthy_in_maintenance(self, site: Site) -> bool:
        """The daemon's health says the VIP would be announced (its state stays
        `maintenance`; the reason carries the health)."""
        status = daemon_status(site) or {}
        for vip in (status.get("anycast") or {}).get("vips") or []:
            if str(vip.get("vip", "")).split("/")[0] == VIP:
                return "health: announced" in str(vip.get("reason", ""))
        return False

    def kill_load_balancer(self) -> None:
        if self.bfd_interval_ms is not None:
            self.show(
                "router: birdc show bfd sessions (before the kill)",
                self.services.birdc("show", "bfd", "sessions"),
            )
        print("\n=== 4. Site A's whole load balancer dies (hangs: no FIN, no RST)", flush=True)
        daemon = self.services.daemon_pid(SITE_A)
        bfd = self.services.bfd_pid(SITE_A)
        # Its processes stop at once (signals: instant), then its network goes silent
        # (tc: a command, slow in the guest). The phase starts with the first signal.
        killed_at = time.time()
        os.kill(self.services.gobgpd_pid(SITE_A), signal.SIGSTOP)
        if bfd is not None:
            os.kill(bfd, signal.SIGSTOP)
        if daemon is not None:
            os.kill(daemon, signal.SIGKILL)
        with inside(SITE_A.netns):
            silenced = run(
                ["tc", "qdisc", "add", "dev", "uplink", "root", "netem", "loss", "100%"],
                check=False,
            )
        how = (
            "its uplink drops every packet"
            if silenced.returncode == 0
            else ("(tc netem unavailable: the uplink still carries packets)")
        )
        t = self.say(
            f"load balancer A killed: ldirectord SIGKILL, gobgpd"
            f"{' and BFD' if bfd is not None else ''} frozen (SIGSTOP), {how};"
            f" {self.detector()} must notice",
            analysis.LB_FROZEN,
            t=killed_at,
            marker="LB A killed",
        ).t
        self.wait(
            lambda: self.route_at("B", t) and self.traffic_at("B", t),
            self.timing.switch_timeout + HOLD_TIME,
            "the router to drop site A and the client to move to site B",
        )
        self.show_router()
        protocols = self.services.birdc("show", "protocols")
        reason = next(
            (
                line.split(None, 5)[-1]
                for line in protocols.splitlines()
                if line.startswith("site_a")
            ),
            "",
        )
        if "Error:" in reason:
            self.say(
                f"router: site A's session ended with {reason.split('Error:', 1)[1].strip()!r}",
                analysis.DROP_REASON,
            )
        self.show(
            "router: birdc show protocols",
            "\n".join(
                line
                for line in self.services.birdc("show", "protocols").splitlines()
                if line.startswith(("Name", "site_"))
            ),
        )
        if self.bfd_interval_ms is not None:
            self.show(
                "router: birdc show bfd sessions", self.services.birdc("show", "bfd", "sessions")
            )
        time.sleep(self.timing.observe)

    def stop_client(self) -> list[Served]:
        self.services.stop("client")
        watcher = self.watcher_ready()
        watcher.stop()
        return list(watcher.requests)

    # ----------------------------------------------------------------- results
    def report(self, requests: list[Served], started: float) -> dict[str, Any]:
        summary = analysis.summarize(
            self.timeline,
            requests,
            request_timeout=self.timing.request_timeout,
            hold_time=HOLD_TIME,
            settle=self.timing.settle,
            detector=self.detector(),
        )
        summary["mode"] = self.mode
        summary["where"] = "qemu guest" if os.environ.get("IPVS_VM_GUEST") == "1" else "host"
        summary["gobgpd"] = run(
            [self.gobgpd, "--version"], timeout=30.0, check=False
        ).stdout.strip()
        summary["lab_seconds"] = round(time.time() - started, 1)
        watcher = self.watcher_ready()
        if watcher.errors:
            summary["watcher_errors"] = watcher.errors[:10]
        self.output.mkdir(parents=True, exist_ok=True)
        table = analysis.summary_table(summary)
        (self.output / "summary.txt").write_text(table)
        write_json(self.output / "summary.json", summary)
        (self.output / "timeline.txt").write_text(self.timeline.sorted_text())
        write_json(self.output / "timeline.json", self.timeline.to_json())
        with open(self.output / "requests.tsv", "w") as fh:
            fh.write("start\tend\tresult\tsite\tbackend\terror\n")
            for r in requests:
                fh.write(
                    f"{r.start:.6f}\t{r.end:.6f}\t{'ok' if r.ok else 'fail'}\t"
                    f"{r.site}\t{r.backend}\t{r.error}\n"
                )
        markers = self.markers + self.plot_markers()
        ready = self.timeline.first(analysis.READY)
        first = ready.t - 2.0 if ready else min((r.start for r in requests), default=0.0)
        requests = [r for r in requests if r.start >= first]
        svg = plot.render(
            requests,
            [m for m in markers if m.t >= first],
            start=first,
            title=f"Anycast lab: requests to {VIP} per site ({self.mode} run)",
        )
        (self.output / "requests-per-site.svg").write_text(svg)
        print("\n=== Timeline\n" + self.timeline.sorted_text(), flush=True)
        print(table, flush=True)
        print(
            f"Written to {self.output}/: summary.txt summary.json timeline.txt timeline.json "
            "requests.tsv requests-per-site.svg logs/",
            flush=True,
        )
        return summary

    def plot_markers(self) -> list[Event]:
        wanted = {
            "decision-A-withdrawn": "daemon A withdraws",
            "decision-A-announced": "daemon A announces",
            "bgp-down-A": "router: session A down",
        }
        out = []
        seen_route: set[tuple[str, float]] = set()
        for event in self.timeline.events:
            if event.kind in wanted:
                out.append(Event(event.t, event.source, wanted[event.kind], event.kind))
            elif event.kind.startswith("route-via-") and (event.kind, event.t) not in seen_route:
                seen_route.add((event.kind, event.t))
                out.append(Event(event.t, "router", f"route via {event.kind[-1]}", event.kind))
        return out

    # ----------------------------------------------------------------- cleanup
    def cleanup(self) -> None:
        """Bounded (about 20 s at most) and not interruptible: a second Ctrl-C must not
        leave half the lab behind."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if self.watcher is not None and self.watcher.is_alive():
            self.watcher.stop()
        for site in SITES:
            pid = self.services.daemon_pid(site)
            if pid is not None:
                for sig in (signal.SIGCONT, signal.SIGTERM):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        break
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(
            (RUN_DIR / f"ldirectord.{s.config_name}.pid").exists() for s in SITES
        ):
            time.sleep(0.1)
        self.services.stop_all()
        teardown(ALL_NAMESPACES)
        for site in SITES:
            self.services.remove_daemon_leftovers(site)
        logs = self.workdir / "logs"
        if logs.is_dir():
            target = self.output / "logs"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
            for item in logs.iterdir():
                shutil.copy(item, target / item.name)
            monitor = self.workdir / "router" / "route-monitor.txt"
            if monitor.exists():
                shutil.copy(monitor, target / "router-route-monitor.txt")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run(self) -> int:
        started = time.time()
        summary: dict[str, Any] | None = None
        try:
            self.setup()
            self.kill_backends()
            self.restore_backends()
            self.planned_maintenance()
            self.kill_load_balancer()
            requests = self.stop_client()
            summary = self.report(requests, started)
        except LabError as exc:
            print(f"\nlab: {exc}", file=sys.stderr, flush=True)
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "timeline.txt").write_text(self.timeline.sorted_text())
            return 1
        except (KeyboardInterrupt, Interrupted):
            print("\nlab: interrupted; cleaning up", file=sys.stderr, flush=True)
            return 130
        finally:
            self.cleanup()
            print(
                f"lab: cleaned up (namespaces, processes, work folder); "
                f"{time.time() - started:.0f} s in all",
                flush=True,
            )
        return 0 if summary and all(summary["checks"].values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.lab", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--short",
        action="store_true",
        default=os.environ.get("DEMO_SHORT") == "1",
        help="shorter observation periods (the test's mode; also DEMO_SHORT=1)",
    )
    parser.add_argument(
        "--no-bfd",
        action="store_true",
        help="no BFD daemons: only the BGP hold time notices the hung load balancer",
    )
    parser.add_argument(
        "--bfd-interval",
        type=int,
        default=BFD_EXAMPLE_INTERVAL_MS,
        metavar="MS",
        help=f"BFD send and receive interval (default {BFD_EXAMPLE_INTERVAL_MS}, the examples')",
    )
    parser.add_argument(
        "--output",
        default=os.environ.get("DEMO_OUTPUT", "demo-output"),
        help="where the summary, timeline, plot and logs go (default demo-output/)",
    )
    parser.add_argument(
        "--gobgpd",
        default=os.environ.get("GOBGPD") or "gobgpd",
        help="the sites' gobgpd: a path, or a release fetched by scripts/fetch-gobgpd.sh "
        "(3.36.0, 4.8.0); default Debian's gobgpd on PATH (also GOBGPD=...)",
    )
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(args_list)
    output = Path(args.output)
    if os.geteuid() != 0:
        print("lab: needs root (network namespaces, ip_vs)", file=sys.stderr)
        return 2
    if os.environ.get("IPVS_VM_GUEST") != "1" and not ipvs_available():
        return run_in_guest(args_list, output)
    missing = missing_programs()
    if missing:
        print(
            f"lab: missing {', '.join(missing)}: run `make demo` (it installs them)",
            file=sys.stderr,
        )
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        gobgpd = gobgpd_binary(args.gobgpd)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    mode = "short" if args.short else "full"
    if not 10 <= args.bfd_interval <= 10000:
        print("lab: --bfd-interval must be 10 to 10000 ms", file=sys.stderr)
        return 2
    bfd = None if args.no_bfd else args.bfd_interval
    return Lab(output.resolve(), SHORT if args.short else FULL, mode, bfd, gobgpd).run()


if __name__ == "__main__":
    sys.exit(main())
