"""The parsed configuration: immutable, typed, and with the derived values of the
original's ld_setup already filled in, so nothing downstream re-derives them.

Every virtual and real remembers its line; `sources` maps each directive that was
written explicitly to the line it was written on. Both say where a value was
written, not what it is, so they are left out of `==` (`compare=False`): a
config whose lines only moved equals the one before (observe/reloads.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from ldirectord_py.checks import registry
from ldirectord_py.config.errors import ConfigWarning
from ldirectord_py.networks import Network

Family = Literal[4, 6]
Protocol = Literal["tcp", "udp", "fwm"]


class Forward(StrEnum):
    """How ip_vs reaches a real server (ipvsadm -g, -m, -i)."""

    GATE = "gate"
    MASQ = "masq"
    IPIP = "ipip"


# The check words come from the check modules (checks/registry.py): the
# well-known port of each negotiate service (used when neither checkport nor the
# real's port says which port to check), the service a virtual port implies, the
# `service=` words and the `checktype=` words.
SERVICE_PORTS: Mapping[str, int] = registry.SERVICE_PORTS
PORT_SERVICES: Mapping[int, str] = MappingProxyType({p: s for s, p in SERVICE_PORTS.items()})
SERVICES: tuple[str, ...] = registry.SERVICE_WORDS
CHECKTYPES: tuple[str, ...] = registry.CHECKTYPE_WORDS

EMAIL_STATUSES = ("starting", "running", "stopping", "reloading")

DEFAULT_CHECKTIMEOUT = 5
DEFAULT_NEGOTIATETIMEOUT = 30


AnycastNetwork = Network
AnycastMethod = Literal["gobgp", "interface"]
AnycastWhen = Literal["all", "any"]
AnycastStop = Literal["withdraw", "keep"]
GoBGPVersion = Literal["auto", "3", "4"]
AnycastDownAction = Literal["withdraw", "med", "prepend", "community"]

DEFAULT_GOBGPAPI = "127.0.0.1:50051"
DEFAULT_ANYCASTINTERFACE = "lo"


def _perl_quotemeta(text: str) -> str:
    """Perl's quotemeta: backslash before every character that is not [A-Za-z0-9_]."""
    return re.sub(r"([^A-Za-z0-9_])", r"\\\1", text)


def bracketed(address: str, family: Family) -> str:
    """An address as ipvsadm and the original print it: IPv6 in brackets."""
    return f"[{address}]" if family == 6 else address


@dataclass(frozen=True)
class Fallback:
    """The server put in while no real of a virtual is up (weight 1, no thresholds)."""

    address: str
    family: Family
    port: int
    forward: Forward
    line: int = field(compare=False)

    @property
    def hostport(self) -> str:
        return f"{bracketed(self.address, self.family)}:{self.port}"


@dataclass(frozen=True)
class GlobalFallback:
    """A global `fallback=`, resolved for tcp and for udp (service names may differ).

    Without a port of its own it is "anonymous" and takes each virtual's port."""

    tcp: Fallback
    udp: Fallback
    anonymous: bool

    def for_virtual(self, protocol: str, port: int) -> Fallback:
        """The fallback a virtual inherits; fwmark virtuals use the tcp resolution
        (the original builds a broken ipvsadm command there; quirk 5, fixed)."""
        chosen = self.udp if protocol == "udp" else self.tcp
        if self.anonymous:
            return Fallback(chosen.address, chosen.family, port, chosen.forward, chosen.line)
        return chosen


@dataclass(frozen=True)
class Real:
    """One `real=` entry (a range expands into one Real per address)."""

    address: str
    family: Family
    port: int
    forward: Forward
    weight: int
    line: int = field(compare=False)
    request: str | None = None
    receive: str | None = None
    lower_threshold: int = 0
    upper_threshold: int = 0

    @property
    def hostport(self) -> str:
        return f"{bracketed(self.address, self.family)}:{self.port}"


@dataclass(frozen=True)
class EmailAlert:
    """Where and when alert mails go (effective values, globals merged in)."""

    to: str
    frequency: int
    statuses: frozenset[str]
    smtp: str | None
    sender: str | None


@dataclass(frozen=True)
class AnycastDown:
    """`anycastdown`: what a VIP's route becomes while the VIP is down.

    `withdraw` removes it; `med N` sets the MED to N, `prepend N` puts the local AS
    N more times on the AS path, `community A:B` adds a community: the route stays
    but is less preferred (gobgp method only)."""

    action: AnycastDownAction = "withdraw"
    number: int = 0
    """N for `med` and `prepend`."""
    community: str = ""
    """A:B for `community`."""

    def __str__(self) -> str:
        if self.action == "withdraw":
            return "withdraw"
        if self.action == "community":
            return f"community {self.community}"
        return f"{self.action} {self.number}"


@dataclass(frozen=True)
class MaxWithdraw:
    """`anycastmaxwithdraw = N` or `N%`: at most this many anycast VIPs withdrawn at once."""

    count: int
    percent: bool = False

    def limit(self, vips: int) -> int:
        """How many of `vips` anycast VIPs may be withdrawn (a percentage rounds down,
        so it may be 0: then health never withdraws a VIP, only de-prefers it or
        keeps it announced)."""
        return vips * self.count // 100 if self.percent else self.count

    def __str__(self) -> str:
        return f"{self.count}{'%' if self.percent else ''}"


@dataclass(frozen=True)
class AnycastSettings:
    """The global anycast directives, and the defaults anycast virtuals inherit.

    `sources` maps each field written explicitly to its line (the last line for
    the repeatable `prefixes` and `communities`)."""

    prefixes: tuple[AnycastNetwork, ...] = ()
    method: AnycastMethod = "gobgp"
    gobgpapi: str = DEFAULT_GOBGPAPI
    """A gRPC target: `host:port`, `[v6]:port` or `unix:/path`."""
    gobgpversion: GoBGPVersion = "auto"
    """GoBGP's API: found at connect (auto), or pinned to 3.x or 4.x."""
    maxwithdraw: MaxWithdraw | None = None
    """None: unlimited."""
    stop: AnycastStop = "withdraw"
    stopwait: int = 5
    """Seconds a stop waits, after withdrawing, for traffic to the VIPs to stop."""
    interface: str = DEFAULT_ANYCASTINTERFACE
    nexthop: str | None = None
    """The global `anycastnexthop` for IPv4 VIPs (None: the route writer's default)."""
    nexthop6: str | None = None
    """The global `anycastnexthop` for IPv6 VIPs (one global next hop per family)."""
    communities: tuple[str, ...] = ()
    med: int | None = None
    down: AnycastDown = AnycastDown()
    when: AnycastWhen = "all"
    holddown: int = 0
    sources: Mapping[str, int] = field(default_factory=dict, compare=False)

    def prefix_for(self, address: str) -> AnycastNetwork | None:
        """The first anycastprefix that holds `address`, or None."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for prefix in self.prefixes:
            if ip.version == prefix.version and ip in prefix:
                return prefix
        return None


@dataclass(frozen=True)
class VirtualAnycast:
    """The effective anycast settings of a virtual whose address lies in an
    anycastprefix (its own values, else the global ones, else the defaults).

    Every virtual service on the same address shares one VIP: the parser makes
    sure they agree on all of these. `sources` maps each field written in the
    virtual itself to its line."""

    address: str
    """The VIP, in canonical form (`ipaddress` compressed)."""
    prefix: AnycastNetwork
    """The anycastprefix that holds it."""
    interface: str
    nexthop: str | None
    communities: tuple[str, ...]
    med: int | None
    down: AnycastDown
    when: AnycastWhen
    holddown: int
    sources: Mapping[str, int] = field(default_factory=dict, compare=False)


ANYCAST_VIP_FIELDS = (
    "interface",
    "nexthop",
    "communities",
    "med",
    "down",
    "when",
    "holddown",
)
"""The per-VIP fields, which every virtual on one address must agree on."""

ANYCAST_DIRECTIVES: Mapping[str, str] = MappingProxyType(
    {
        "prefixes": "anycastprefix",
        "method": "anycastmethod",
        "gobgpapi": "gobgpapi",
        "gobgpversion": "gobgpversion",
        "maxwithdraw": "anycastmaxwithdraw",
        "stop": "anycaststop",
        "stopwait": "anycaststopwait",
        "interface": "anycastinterface",
        "nexthop": "anycastnexthop",
        "nexthop6": "anycastnexthop",
        "communities": "anycastcommunity",
        "med": "anycastmed",
        "down": "anycastdown",
        "when": "anycastwhen",
        "holddown": "anycastholddown",
    }
)
"""The directive behind each anycast field (for messages and `validate`)."""


@dataclass(frozen=True)
class Virtual:
    """One virtual service with every value effective (virtual, else global, else default)."""

    line: int = field(compare=False)
    family: Family
    protocol: Protocol
    address: str | None
    port: int
    fwmark: int | None
    scheduler: str
    persistent: int | None
    netmask: str | None
    schedflags: str | None
    ops: bool
    checktype: str
    num_connects: int
    service: str
    checkcommand: str
    request: str
    receive: str
    httpmethod: str
    virtualhost: str | None
    login: str
    passwd: str
    database: str
    secret: str
    load: str | None
    checkport: int | None
    checktimeout: int
    negotiatetimeout: int
    checkcount: int
    failurecount: int
    checkinterval: int
    quiescent: bool
    cleanstop: bool
    fallback: Fallback | None
    fallbackcommand: str | None
    emailalert: EmailAlert
    monitorfile: str | None
    servicename: str | None
    comment: str | None
    reals: tuple[Real, ...]
    sources: Mapping[str, int] = field(default_factory=dict, compare=False)
    anycast: VirtualAnycast | None = None
    """Set when the virtual's address lies in an anycastprefix (never for fwmarks)."""

    @property
    def identity(self) -> str:
        """`tcp:1.2.3.4:80`, `tcp:[2001:db8::1]:80`, `fwm:7` or `fwm6:7`."""
        if self.fwmark is not None:
            return f"fwm{'6' if self.family == 6 else ''}:{self.fwmark}"
        assert self.address is not None
        return f"{self.protocol}:{bracketed(self.address, self.family)}:{self.port}"

    @property
    def label(self) -> str:
        """`ADDR:PORT PROTO` (IPv6 bracketed) or `fwmark N`, for anycast reasons."""
        if self.fwmark is not None:
            return f"fwmark {self.fwmark}"
        return f"{self.hostport} {self.protocol}"

    @property
    def hostport(self) -> str:
        """`ip:port` (IPv6 bracketed) or the fwmark, as in the original's log lines."""
        if self.fwmark is not None:
            return str(self.fwmark)
        assert self.address is not None
        return f"{bracketed(self.address, self.family)}:{self.port}"

    def request_for(self, real: Real) -> str:
        return real.request if real.request is not None else self.request

    def receive_for(self, real: Real) -> str:
        return real.receive if real.receive is not None else self.receive

    def checkport_for(self, real: Real) -> int | None:
        """checkport, else the real's port if set, else the service's well-known port."""
        if self.checkport is not None:
            return self.checkport
        if real.port > 0:
            return real.port
        return SERVICE_PORTS.get(self.service)

    def url_for(self, real: Real) -> str:
        """The URL an HTTP-style check fetches (http_proxy: the request as-is)."""
        scheme = "http" if self.service == "http_proxy" else self.service
        port = self.checkport_for(real)
        host = bracketed(real.address, real.family)
        if real.request is not None and real.receive is not None:
            uri = real.request.lstrip("/")
            if f"{scheme}://" in real.request:
                return uri
            return f"{scheme}://{host}:{port}/{uri}"
        uri = self.request.lstrip("/")
        if self.service == "http_proxy":
            return uri
        return f"{scheme}://{host}:{port}/{uri}"

    def check_identity(self, real: Real) -> str:
        """The original's real-identity string: reals with equal identities share one
        check, and its result applies to every virtual that holds them."""
        if self.checktype in ("negotiate", "combined"):
            check = f"{self.checktype}:{self.service}"
        elif self.checktype in ("external", "external-perl"):
            check = f"{self.checktype}:{self.checkcommand}"
        else:
            check = self.checktype
        parts = [
            check,
            self.protocol,
            bracketed(real.address, real.family),
            str(real.port),
            self.virtualhost or "",
            "" if self.checkport is None else str(self.checkport),
            str(real.weight),
            real.forward.value,
            _perl_quotemeta(self.request_for(real)),
            _perl_quotemeta(self.receive_for(real)),
        ]
        return ":".join(parts)


@dataclass(frozen=True)
class GlobalSettings:
    """Values that are global only, plus the globals virtuals inherit."""

    checktimeout: int | None = None
    negotiatetimeout: int | None = None
    checkinterval: int = 10
    checkcount: int = 1
    failurecount: int = 1
    fallback: GlobalFallback | None = None
    fallback6: GlobalFallback | None = None
    fallbackcommand: str | None = None
    autoreload: bool = False
    callback: str | None = None
    logfile: str = "/var/log/ldirectord.log"
    execute: tuple[str, ...] = ()
    fork: bool = False
    supervised: bool = False
    quiescent: bool = False
    readdquiescent: bool = False
    cleanstop: bool = True
    emailalert: str = ""
    emailalertfreq: int = 0
    emailalertfrom: str | None = None
    emailalertstatus: frozenset[str] = frozenset(EMAIL_STATUSES)
    smtp: str | None = None
    maintenancedir: str | None = None
    metricsaddress: str | None = None
    """Where the Prometheus exporter listens (host:port); None: no metrics."""
    anycast: AnycastSettings = field(default_factory=AnycastSettings)
    sources: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Config:
    """A whole ldirectord.cf, parsed and validated."""

    path: str
    settings: GlobalSettings
    virtuals: tuple[Virtual, ...]
    warnings: tuple[ConfigWarning, ...] = ()
    digest: str = ""
