"""The values that cross from the anycast policy (engine) to the route writers.

The engine decides, per anycast VIP, what the world should look like; the two
writers (GoBGP over gRPC, the VIP address on an interface) converge to it. These
types are all they share, so neither side imports the other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# Re-exported: the route writers and the CLI take the prefix guard from here.
from ldirectord_py.networks import Network as Network
from ldirectord_py.networks import inside as inside

HostPrefix = Network
"""A /32 or a /128: the only prefixes this project ever announces."""

Origin = Literal["igp", "egp", "incomplete"]

ApiVersion = Literal["auto", "3", "4"]
"""Which GoBGP API to speak: found at connect (auto), or pinned (`gobgpversion`)."""

API_VERSIONS: tuple[ApiVersion, ...] = ("auto", "3", "4")


def address_order(prefix: Network) -> tuple[int, int]:
    """A sort key: IPv4 before IPv6, then by address."""
    return (prefix.version, int(prefix.network_address))


def host_prefix(address: str) -> HostPrefix:
    """The /32 or /128 of one VIP address (raises ValueError for anything else)."""
    ip = ipaddress.ip_address(address)
    return ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")


@dataclass(frozen=True)
class Route:
    """One announcement, with the attributes it carries.

    `next_hop` None lets the writer pick its default (GoBGP: the session's local
    address, "0.0.0.0" / "::" in AddPath). `prepend` is how many extra times the
    local AS is put on the AS path; `communities` are "a:b" strings.
    """

    prefix: HostPrefix
    next_hop: str | None = None
    origin: Origin = "igp"
    med: int | None = None
    communities: tuple[str, ...] = ()
    prepend: int = 0

    def __post_init__(self) -> None:
        if self.prefix.prefixlen != self.prefix.max_prefixlen:
            raise ValueError(f"{self.prefix} is not a host prefix (/32 or /128)")


VipState = Literal["announced", "depreferred", "withdrawn", "held", "unknown", "maintenance"]
"""announced: full route; depreferred: route kept with anycastdown's softer form;
withdrawn: no route; held: healthy again but inside anycastholddown (still down);
unknown: the first check round has not decided yet (nothing is announced);
maintenance: an operator moved the route away (`ldirectordctl maintenance on`:
withdrawn, or de-preferred as anycastdown says), whatever the VIP's health."""


@dataclass(frozen=True)
class VipDecision:
    """What the policy decided for one anycast VIP, and why (for status and logs)."""

    vip: HostPrefix
    state: VipState
    reason: str
    since: float
    virtuals: tuple[str, ...] = ()
    """The "ADDR:PORT PROTO" of each virtual service on this VIP."""
    guarded: bool = False
    """True when anycastmaxwithdraw kept this VIP announced although it is down."""


@dataclass(frozen=True)
class AnycastDesired:
    """Everything the route writers should converge to.

    `routes`: the announcements GoBGP should carry (absent = withdrawn).
    `addresses`: per interface, the VIP addresses that should be configured there.
    """

    routes: Mapping[HostPrefix, Route] = field(default_factory=dict)
    addresses: Mapping[str, frozenset[HostPrefix]] = field(default_factory=dict)
