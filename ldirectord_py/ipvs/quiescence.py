"""When has traffic to some VIPs stopped? From samples of ip_vs's connection table.

After a VIP's route has moved to another site, this site must see no new
connection to it, and the connections it still has must finish, before its
backends can be stopped without failing a request. ip_vs's counters cannot say
so on their own: in direct routing (and tunnelling) the director sees only the
client's half of a connection, so one whose client went away with the route
stays ESTABLISHED in the table for 15 minutes. What does tell is whether
packets still arrive: every packet resets a connection's timer, and a
connection nobody sends to counts down second by second.

So, per sample of /proc/net/ip_vs_conn (the connections to the watched VIPs,
persistence templates left out):

- a connection not seen in the previous sample is **new**;
- an open connection (not closing: see CLOSING_STATES) whose time left is more
  than 1 s above where counting down from the last sample that showed a packet
  would have put it, or whose state changed, **carried a packet** (so a busy
  connection shows within a second);
- traffic has **stopped** once neither happened for `quiet` seconds. Until one
  quiet period after the first sample, nothing is known (every connection
  present then counts as active).

An idle keep-alive connection thus counts as finished after `quiet` seconds
without packets; its next request goes wherever the routers now send it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ldirectord_py.ipvs.connections import Connection
from ldirectord_py.ipvs.model import IPAddress, bracketed

CLOSING_STATES = frozenset(
    {"FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "SHUTDOWN_SENT",
     "SHUTDOWN_ACK_SENT", "ABORT", "CLOSED"}
)  # fmt: skip
"""TCP and SCTP states of a connection that is ending: its timer says nothing about
new packets (the kernel re-arms the timers of entries it cannot free yet)."""

TIMER_SLACK = 1.0
"""Seconds: the table shows whole seconds, rounded down, so a connection nobody
sends to never shows more than this above its counted-down time, and one that
gets packets does once a second has passed. A quiet period must be longer."""

ConnectionKey = tuple[str, IPAddress, int, IPAddress, int, IPAddress, int]


def _key(c: Connection) -> ConnectionKey:
    return (
        c.protocol,
        c.client_address,
        c.client_port,
        c.virtual_address,
        c.virtual_port,
        c.destination_address,
        c.destination_port,
    )


@dataclass
class _Seen:
    at: float
    expires: int
    state: str
    last_activity: float


@dataclass(frozen=True)
class Activity:
    """What still moves: connections that carried a packet (or began) in the last
    quiet period, by virtual service and real, and how many of them are new."""

    active: tuple[tuple[str, str, int], ...]
    """(virtual "ADDR:PORT PROTO", real "ADDR:PORT", connections), sorted."""
    new: int
    entries: int
    """Every entry to the watched VIPs in the table (idle and closing ones too)."""

    @property
    def quiet(self) -> bool:
        return not self.active

    def describe(self) -> str:
        if not self.active:
            return f"no packet to these VIPs; {self.entries} idle or closing entries left"
        parts = [f"{virtual} via {real}: {n}" for virtual, real, n in self.active]
        total = sum(n for _, _, n in self.active)
        return f"{total} connections still carrying packets ({self.new} of them new): " + ", ".join(
            parts
        )


class QuiescenceWatch:
    """Fed samples of the connection table; says when traffic to `vips` stopped."""

    def __init__(self, vips: Iterable[IPAddress | str], quiet: float, start: float) -> None:
        self.vips = frozenset(ipaddress.ip_address(str(v)) for v in vips)
        self.quiet = quiet
        self.start = start
        self._seen: dict[ConnectionKey, _Seen] = {}
        self._new: dict[ConnectionKey, float] = {}
        self._sampled = False
        self.last_activity = start

    def sample(self, connections: Iterable[Connection], now: float) -> None:
        current: dict[ConnectionKey, Connection] = {
            _key(c): c
            for c in connections
            if c.virtual_address in self.vips and c.client_port != 0  # 0: a template
        }
        for key in list(self._seen):
            if key not in current:
                del self._seen[key]
                self._new.pop(key, None)
        for key, conn in current.items():
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = _Seen(now, conn.expires, conn.state, now)
                if self._sampled:
                    self._new[key] = now
                self.last_activity = max(self.last_activity, now)
                continue
            counted_down = seen.expires - (now - seen.at)
            reset = conn.expires > counted_down + TIMER_SLACK
            if conn.state != seen.state or (reset and conn.state not in CLOSING_STATES):
                seen.last_activity = now
                self.last_activity = max(self.last_activity, now)
                seen.at, seen.expires, seen.state = now, conn.expires, conn.state
        self._sampled = True

    def stopped(self, now: float) -> bool:
        """No new connection and no packet for `quiet` seconds (after a first sample)."""
        return self._sampled and now - self.last_activity >= self.quiet

    def activity(self, now: float) -> Activity:
        recent = now - self.quiet
        counts: Counter[tuple[str, str]] = Counter()
        new = 0
        for key, seen in self._seen.items():
            if seen.last_activity <= recent:
                continue
            protocol, _, _, vaddr, vport, daddr, dport = key
            virtual = f"{bracketed(vaddr)}:{vport} {protocol.lower()}"
            counts[(virtual, f"{bracketed(daddr)}:{dport}")] += 1
            new += self._new.get(key, recent) > recent
        return Activity(
            active=tuple(sorted((v, r, n) for (v, r), n in counts.items())),
            new=new,
            entries=len(self._seen),
        )
