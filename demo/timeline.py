"""What happened when: the lab's timeline, fed live by the lab and by its watchers.

Every event has a wall-clock time (time.time(); the client, the daemons' status
and `ip -ts monitor` all use the one clock of the machine), who saw it, and what
it was. Events are printed as they arrive, and kept for the final, sorted timeline.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from demo.services import Services, daemon_status, vip_decision
from demo.topology import SITES, VIP, Site


@dataclass(frozen=True)
class Event:
    t: float
    source: str  # "lab", "client", "daemon A", "router", "bird"
    text: str
    kind: str = ""  # a key the analysis looks for, e.g. "route-via-B"


@dataclass
class Timeline:
    start: float = field(default_factory=time.time)
    events: list[Event] = field(default_factory=list)
    out: TextIO = sys.stdout
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, source: str, text: str, kind: str = "", t: float | None = None) -> Event:
        event = Event(time.time() if t is None else t, source, text, kind)
        with self.lock:
            self.events.append(event)
            self.out.write(self.format(event) + "\n")
            self.out.flush()
        return event

    def format(self, event: Event) -> str:
        clock = datetime.fromtimestamp(event.t).strftime("%H:%M:%S.%f")[:-3]
        return f"{clock}  +{event.t - self.start:7.3f}s  {event.source:<9} {event.text}"

    def first(self, kind: str, after: float = 0.0) -> Event | None:
        with self.lock:
            found = [e for e in self.events if e.kind == kind and e.t >= after]
        return min(found, key=lambda e: e.t) if found else None

    def sorted_text(self) -> str:
        with self.lock:
            return "\n".join(self.format(e) for e in sorted(self.events, key=lambda e: e.t)) + "\n"

    def to_json(self) -> list[dict[str, object]]:
        with self.lock:
            return [asdict(e) for e in sorted(self.events, key=lambda e: e.t)]


class Follower:
    """New complete lines of a growing file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in complete]


@dataclass(frozen=True)
class Served:
    """One request of the client."""

    start: float
    end: float
    ok: bool
    site: str
    backend: str
    error: str

    @classmethod
    def parse(cls, line: str) -> Served | None:
        parts = line.split("\t")
        if len(parts) != 6:
            return None
        try:
            return cls(float(parts[0]), float(parts[1]), parts[2] == "ok", *parts[3:])
        except ValueError:
            return None


QUIET_LOG_LINES = ("Resetting soft failure count", "Invoking ldirectord invoked as")
"""Daemon log lines the timeline leaves out (they are in logs/ldirectord-*.log)."""
_ANYCAST_LOG = re.compile(r"^Anycast (?P<vip>[0-9a-f.:/]+): (?P<state>\w+)")
_MONITOR = re.compile(r"^\[(?P<ts>[0-9T:.\-]+)\]\s+(?P<deleted>Deleted\s+)?(?P<rest>.*)$")
_BIRD_LOG = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) <(?P<level>\w+)> (?P<msg>.*)$"
)


def parse_monitor_line(line: str) -> tuple[float, str] | None:
    """(time, "via 192.0.2.2" | "gone") for a route change of the VIP in `ip -ts monitor route`."""
    m = _MONITOR.match(line.strip())
    if not m:
        return None
    rest = m.group("rest").split()
    if not rest or rest[0] not in (VIP, VIP + "/32"):
        return None
    t = datetime.fromisoformat(m.group("ts")).timestamp()
    if m.group("deleted"):
        return t, "gone"
    if "via" in rest:
        return t, "via " + rest[rest.index("via") + 1]
    return t, " ".join(rest[1:])


class Watcher(threading.Thread):
    """Polls what the lab watches and turns changes into events:

    * the router's FIB (`ip -ts monitor route`): which site the VIP goes to;
    * BIRD's log: BGP sessions going up and down (millisecond timestamps);
    * each daemon's status socket: its decision for the VIP, with the time the
      daemon took it (`since`), and its log lines as they are written;
    * the client's results: which site serves the traffic, from which request on.
    """

    def __init__(
        self, timeline: Timeline, services: Services, route_monitor: Path, client_out: Path
    ) -> None:
        super().__init__(name="lab-watcher", daemon=True)
        self.timeline = timeline
        self.services = services
        self.stopping = threading.Event()
        self.route = Follower(route_monitor)
        self.bird = Follower(services.path("logs", "router-bird.log"))
        self.client = Follower(client_out)
        self.daemon_logs = {s.name: Follower(services.daemon_log(s)) for s in SITES}
        self.decisions: dict[str, tuple[str, float] | None] = {s.name: None for s in SITES}
        self.requests: list[Served] = []
        self.serving: str | None = None
        self.route_via: str | None = None
        self.sessions: dict[str, bool] = {}
        self.errors: list[str] = []
        self._last_status_poll = 0.0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll()
            except Exception as exc:  # a watcher must not die silently mid-run
                self.errors.append(repr(exc))
            self.stopping.wait(0.1)
        self.poll()

    def stop(self) -> None:
        self.stopping.set()
        self.join(10.0)

    def site_of_next_hop(self, address: str) -> str:
        for site in SITES:
            if address == site.uplink_address:
                return site.name
        return address

    def poll(self) -> None:
        for line in self.route.lines():
            change = parse_monitor_line(line)
            if change is None:
                continue
            t, what = change
            if what == "gone":
                self.route_via = None
                self.timeline.add("router", f"route to {VIP} removed from the FIB", "route-gone", t)
            elif what.startswith("via "):
                via = self.site_of_next_hop(what[4:])
                if via != self.route_via:
                    self.route_via = via
                    self.timeline.add(
                        "router",
                        f"route to {VIP} now via site {via} ({what[4:]})",
                        f"route-via-{via}",
                        t,
                    )
        for line in self.bird.lines():
            self.bird_line(line)
        now = time.time()
        if now - self._last_status_poll >= 0.5:
            self._last_status_poll = now
            for site in SITES:
                self.poll_daemon(site)
        for site in SITES:
            for line in self.daemon_logs[site.name].lines():
                self.daemon_line(site, line.split("] ", 1)[-1])
        for line in self.client.lines():
            served = Served.parse(line)
            if served is None:
                continue
            self.requests.append(served)
            if served.ok and served.site != self.serving:
                self.serving = served.site
                self.timeline.add(
                    "client",
                    f"traffic now served by site {served.site} (first: backend {served.backend})",
                    f"traffic-{served.site}",
                    served.end,
                )

    def bird_line(self, line: str) -> None:
        m = _BIRD_LOG.match(line)
        if not m:
            return
        msg = m.group("msg")
        t = datetime.fromisoformat(m.group("ts")).timestamp()
        for site in SITES:
            proto = f"site_{site.key}"
            if not msg.startswith(proto + ":"):
                continue
            detail = msg[len(proto) + 1 :].strip()
            if "Established" in detail or "state changed to up" in detail.lower():
                if not self.sessions.get(site.name):
                    self.sessions[site.name] = True
                    self.timeline.add(
                        "bird", f"BGP session with site {site.name} up", f"bgp-up-{site.name}", t
                    )
            elif any(
                w in detail for w in ("Error", "error", "Down", "down", "Received:", "expired")
            ):
                was_up = self.sessions.get(site.name)
                self.sessions[site.name] = False
                self.timeline.add(
                    "bird",
                    f"session with site {site.name}: {detail}",
                    f"bgp-down-{site.name}" if was_up else f"bgp-{site.name}",
                    t,
                )

    def daemon_line(self, site: Site, text: str) -> None:
        """A line of the daemon's log, as it is written (the log has whole seconds only)."""
        if text.startswith(QUIET_LOG_LINES):
            return
        kind = f"log-{site.name}"
        m = _ANYCAST_LOG.match(text)
        if m and m.group("vip").split("/")[0] == VIP:
            kind = f"log-{site.name}-{m.group('state')}"
        self.timeline.add(f"daemon {site.name}", f"log: {text}", kind)

    def poll_daemon(self, site: Site) -> None:
        decision = vip_decision(daemon_status(site, timeout=1.0))
        if decision is None or decision == self.decisions[site.name]:
            return
        previous = self.decisions[site.name]
        self.decisions[site.name] = decision
        state, since = decision
        if previous is not None and previous[0] == state:
            return
        self.timeline.add(
            f"daemon {site.name}",
            f"decision: {VIP} {state}",
            f"decision-{site.name}-{state}",
            since or None,
        )


def write_json(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
