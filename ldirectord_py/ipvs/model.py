"""The ip_vs table as the kernel holds it: virtual services, their destinations, counters.

Everything here is an immutable value. Equality means "the kernel would hold the same
thing": live counters are carried along for listings but never take part in a
comparison, so a table read back from the kernel equals the desired table that
produced it. Keys (`ServiceKey`, `DestinationKey`) identify entries exactly the way
the kernel looks them up.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]  # noqa: UP007 (runtime alias)

MAX_U32 = 0xFFFFFFFF
MAX_WEIGHT = 0x7FFFFFFF  # the kernel keeps weights and thresholds in signed ints
# Longest persistence timeout to write (31 days, ipvsadm's limit): the kernel keeps
# it in jiffies, so values near 2**32 / HZ seconds wrap around (to 0 at HZ=250).
MAX_PERSISTENCE = 31 * 86400
DEFAULT_SCHEDULER = "wlc"
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq")


class Family(IntEnum):
    """Address family, with the kernel's (socket) numbers."""

    INET = 2
    INET6 = 10

    @classmethod
    def of(cls, address: IPAddress) -> Family:
        return cls.INET if address.version == 4 else cls.INET6


class Protocol(IntEnum):
    """Transport protocol of an address/port service (fwmark services have none)."""

    TCP = 6
    UDP = 17
    SCTP = 132


class Forwarding(IntEnum):
    """How ip_vs reaches a destination (the kernel's IP_VS_CONN_F_* values).

    ldirectord's words map onto three of them: gate = ROUTE (direct routing),
    masq = MASQ (NAT), ipip = TUNNEL. LOCAL (method 1, delivery to this host) can
    only be set over netlink (ipvsadm has no switch for it) and lists as "Local";
    the kernel does not switch a real on a local address to it by itself.
    """

    MASQ = 0
    LOCAL = 1
    TUNNEL = 2
    ROUTE = 3

    @property
    def label(self) -> str:
        """The word ipvsadm prints in its Forward column."""
        return {0: "Masq", 1: "Local", 2: "Tunnel", 3: "Route"}[self.value]

    @classmethod
    def from_ldirectord(cls, word: str) -> Forwarding:
        """`gate`, `masq` or `ipip`, as written in ldirectord.cf."""
        try:
            return {"gate": cls.ROUTE, "masq": cls.MASQ, "ipip": cls.TUNNEL}[word]
        except KeyError:
            raise ValueError(f"unknown forwarding method {word!r}") from None

    @property
    def keeps_own_port(self) -> bool:
        """Only NAT rewrites the destination port; the others reach it on the virtual's."""
        return self is Forwarding.MASQ


class SchedFlags(IntFlag):
    """The three scheduler flag bits of a service (IP_VS_SVC_F_SCHED1..3).

    Their meaning depends on the scheduler: for sh and mh, FLAG_1 is
    `sh-fallback`/`mh-fallback` and FLAG_2 is `sh-port`/`mh-port`.
    """

    NONE = 0
    FLAG_1 = 0x08
    FLAG_2 = 0x10
    FLAG_3 = 0x20

    @classmethod
    def parse(cls, text: str, scheduler: str) -> SchedFlags:
        """ipvsadm's `-b` syntax: comma-separated names (`sh-port,sh-fallback`, `flag-3`)."""
        names = {"flag-1": cls.FLAG_1, "flag-2": cls.FLAG_2, "flag-3": cls.FLAG_3}
        if scheduler in ("sh", "mh"):
            names[f"{scheduler}-fallback"] = cls.FLAG_1
            names[f"{scheduler}-port"] = cls.FLAG_2
        flags = cls.NONE
        for name in filter(None, (part.strip() for part in text.split(","))):
            if name not in names:
                raise ValueError(f"scheduler flag {name!r} does not apply to {scheduler}")
            flags |= names[name]
        return flags


# Service flag bits on the wire (struct ip_vs_flags); sched flags are SchedFlags.
SVC_F_PERSISTENT = 0x01
SVC_F_HASHED = 0x02
SVC_F_ONEPACKET = 0x04
SVC_F_SCHED_MASK = int(SchedFlags.FLAG_1 | SchedFlags.FLAG_2 | SchedFlags.FLAG_3)


def as_address(value: str | IPAddress) -> IPAddress:
    """An address from text or an address object (IPv6 may come with brackets)."""
    if isinstance(value, str):
        return ipaddress.ip_address(value.strip("[]"))
    return value


def address_text(address: IPAddress) -> str:
    """The address as the C library's inet_ntop writes it (as ipvsadm shows it).

    Python's own text differs for IPv4-mapped and -compatible IPv6 addresses
    (`::ffff:c000:201` where inet_ntop gives `::ffff:192.0.2.1`).
    """
    if address.version == 6:
        return socket.inet_ntop(socket.AF_INET6, address.packed)
    return str(address)


def bracketed(address: IPAddress) -> str:
    """The address as ipvsadm prints it next to a port: IPv6 in brackets."""
    return f"[{address_text(address)}]" if address.version == 6 else str(address)


@dataclass(frozen=True)
class Stats:
    """Traffic counters and rate estimates the kernel keeps per service and destination."""

    connections: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    connection_rate: int = 0
    packet_rate_in: int = 0
    packet_rate_out: int = 0
    byte_rate_in: int = 0
    byte_rate_out: int = 0


ZERO_STATS = Stats()


@dataclass(frozen=True)
class DestinationCounters:
    """What the kernel counts for one destination (never compared, only listed)."""

    active_connections: int = 0
    inactive_connections: int = 0
    persistent_connections: int = 0
    stats: Stats = ZERO_STATS


ZERO_COUNTERS = DestinationCounters()


@dataclass(frozen=True)
class ServiceKey:
    """What the kernel looks a service up by: (family, protocol, address, port) or
    (family, fwmark)."""

    family: Family
    protocol: Protocol | None
    address: IPAddress | None
    port: int
    fwmark: int

    @classmethod
    def for_address(cls, protocol: Protocol, hostport: str) -> ServiceKey:
        """From ipvsadm's `-t/-u/--sctp-service` argument: `192.0.2.1:80`,
        `[2001:db8::1]:443` (numeric only; a missing port means 0)."""
        host, sep, port = hostport.rpartition(":")
        if not sep or (hostport.count(":") > 1 and not hostport.startswith("[")):
            host, port = hostport, "0"
        address = as_address(host)
        return cls(Family.of(address), protocol, address, int(port), 0)

    @classmethod
    def for_fwmark(cls, fwmark: int, family: Family = Family.INET) -> ServiceKey:
        """From ipvsadm's `-f MARK` (and `-6`)."""
        return cls(family, None, None, 0, fwmark)

    def __str__(self) -> str:
        """`TCP 192.0.2.1:80`, `TCP [2001:db8::1]:443`, `FWM 7`, `FWM 7 IPv6`."""
        if self.fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.family is Family.INET6 else "")
        assert self.protocol is not None and self.address is not None
        return f"{self.protocol.name} {bracketed(self.address)}:{self.port}"


@dataclass(frozen=True)
class DestinationKey:
    """What the kernel looks a destination up by, within its service."""

    address: IPAddress
    port: int

    def __str__(self) -> str:
        return f"{bracketed(self.address)}:{self.port}"


@dataclass(frozen=True)
class Destination:
    """A real server of a virtual service."""

    address: IPAddress
    port: int
    forwarding: Forwarding = Forwarding.ROUTE
    weight: int = 1
    upper_threshold: int = 0
    lower_threshold: int = 0
    counters: DestinationCounters = field(default=ZERO_COUNTERS, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"destination port {self.port} out of range")
        if not 0 <= self.weight <= MAX_WEIGHT:
            raise ValueError(f"weight {self.weight} out of range 0..{MAX_WEIGHT}")
        for name in ("upper_threshold", "lower_threshold"):
            if not 0 <= getattr(self, name) <= MAX_WEIGHT:
                raise ValueError(f"{name} out of range 0..{MAX_WEIGHT}")
        if self.lower_threshold > self.upper_threshold:
            raise ValueError(
                f"lower threshold {self.lower_threshold} above upper threshold "
                f"{self.upper_threshold} (the kernel refuses it, even with no upper one)"
            )

    @classmethod
    def of(
        cls,
        address: str | IPAddress,
        port: int,
        forwarding: Forwarding = Forwarding.ROUTE,
        *,
        weight: int = 1,
        upper_threshold: int = 0,
        lower_threshold: int = 0,
    ) -> Destination:
        return cls(as_address(address), port, forwarding, weight, upper_threshold, lower_threshold)

    @property
    def key(self) -> DestinationKey:
        return DestinationKey(self.address, self.port)

    @property
    def family(self) -> Family:
        return Family.of(self.address)

    def __str__(self) -> str:
        return str(self.key)


def default_netmask(family: Family) -> int:
    """A full mask: 255.255.255.255 for IPv4, a prefix length of 128 for IPv6."""
    return MAX_U32 if family is Family.INET else 128


@dataclass(frozen=True)
class VirtualService:
    """A virtual service and its settings; `destinations` ride along uncompared.

    `netmask` is what the kernel stores: for IPv4 the mask as a 32-bit number
    (0xFFFFFF00 is 255.255.255.0), for IPv6 a prefix length. `persistence` is the
    persistence timeout in seconds, or None for a service that is not persistent.
    Compare two services with `==` to learn whether the kernel would need an edit;
    compare their `key`s to learn whether they are the same service.
    """

    family: Family
    protocol: Protocol | None
    address: IPAddress | None
    port: int
    fwmark: int = 0
    scheduler: str = DEFAULT_SCHEDULER
    sched_flags: SchedFlags = SchedFlags.NONE
    persistence: int | None = None
    netmask: int | None = None
    pe_name: str | None = None
    one_packet: bool = False
    destinations: tuple[Destination, ...] = field(default=(), compare=False, repr=False)
    stats: Stats = field(default=ZERO_STATS, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.netmask is None:
            object.__setattr__(self, "netmask", default_netmask(self.family))
        if self.fwmark:
            if not 0 < self.fwmark <= MAX_U32:
                raise ValueError(f"fwmark {self.fwmark} out of range 1..{MAX_U32}")
            if self.address is not None or self.protocol is not None or self.port:
                raise ValueError("a fwmark service has no address, protocol or port")
        else:
            if self.address is None or self.protocol is None:
                raise ValueError("a service needs an address and a protocol, or a fwmark")
            if Family.of(self.address) is not self.family:
                raise ValueError(f"address {self.address} is not in family {self.family.name}")
            if not 0 <= self.port <= 0xFFFF:
                raise ValueError(f"service port {self.port} out of range")
        if self.persistence is not None and not 0 <= self.persistence <= MAX_U32:
            raise ValueError(f"persistence timeout {self.persistence} out of range")
        assert self.netmask is not None
        if self.family is Family.INET6 and not 1 <= self.netmask <= 128:
            raise ValueError(f"IPv6 netmask (prefix length) {self.netmask} out of range 1..128")
        if not 0 <= self.netmask <= MAX_U32:
            raise ValueError(f"netmask {self.netmask:#x} out of range")
        if not self.scheduler:
            raise ValueError("a service needs a scheduler")
        keys = [d.key for d in self.destinations]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"destination {dup} appears twice in {self.key}")

    # Constructors that read like ipvsadm's -t/-u/--sctp-service/-f.
    @classmethod
    def tcp(cls, address: str | IPAddress, port: int, **settings: object) -> VirtualService:
        return cls._inet(Protocol.TCP, address, port, settings)

    @classmethod
    def udp(cls, address: str | IPAddress, port: int, **settings: object) -> VirtualService:
        return cls._inet(Protocol.UDP, address, port, settings)

    @classmethod
    def sctp(cls, address: str | IPAddress, port: int, **settings: object) -> VirtualService:
        return cls._inet(Protocol.SCTP, address, port, settings)

    @classmethod
    def firewall_mark(
        cls, fwmark: int, family: Family = Family.INET, **settings: object
    ) -> VirtualService:
        return cls(family, None, None, 0, fwmark, **settings)  # type: ignore[arg-type]

    @classmethod
    def _inet(
        cls, protocol: Protocol, address: str | IPAddress, port: int, settings: dict[str, object]
    ) -> VirtualService:
        addr = as_address(address)
        return cls(Family.of(addr), protocol, addr, port, **settings)  # type: ignore[arg-type]

    @property
    def key(self) -> ServiceKey:
        return ServiceKey(self.family, self.protocol, self.address, self.port, self.fwmark)

    @property
    def is_fwmark(self) -> bool:
        return self.fwmark != 0

    @property
    def flags(self) -> int:
        """The service flag word the kernel stores (without its internal HASHED bit)."""
        word = int(self.sched_flags)
        if self.persistence is not None:
            word |= SVC_F_PERSISTENT
        if self.one_packet:
            word |= SVC_F_ONEPACKET
        return word

    @property
    def netmask_text(self) -> str:
        """255.255.255.0 for IPv4, the prefix length for IPv6 (as ipvsadm prints it)."""
        assert self.netmask is not None
        if self.family is Family.INET:
            return str(ipaddress.IPv4Address(self.netmask))
        return str(self.netmask)

    def writable(self) -> None:
        """Raise ValueError for a setting the kernel would not store as given.

        Reading accepts whatever the kernel holds; writing must not produce a
        value that reads back different, or the reconciler would edit forever.
        """
        if self.persistence is not None and not 1 <= self.persistence <= MAX_PERSISTENCE:
            raise ValueError(
                f"{self.key}: persistence timeout {self.persistence} out of range "
                f"1..{MAX_PERSISTENCE} (the kernel would store another value)"
            )

    def destination(self, key: DestinationKey) -> Destination | None:
        return next((d for d in self.destinations if d.key == key), None)

    def stored_destination(self, destination: Destination) -> Destination:
        """The destination as the kernel stores it under this service.

        ipvsadm and the Perl original send a gate or ipip real with the virtual's
        port, whatever port the configuration names, because only NAT can change
        the port; the kernel then keys the destination by that port. Doing the same
        here lets a desired table compare equal to what the kernel holds.
        A fwmark service has no port, so its destinations keep theirs.
        """
        if destination.forwarding.keeps_own_port or self.is_fwmark:
            return destination
        if destination.port == self.port:
            return destination
        return Destination(
            destination.address,
            self.port,
            destination.forwarding,
            destination.weight,
            destination.upper_threshold,
            destination.lower_threshold,
            destination.counters,
        )

    def __str__(self) -> str:
        return str(self.key)


@dataclass(frozen=True)
class IPVSInfo:
    """The listing header: `IP Virtual Server version 1.2.1 (size=4096)`."""

    version: int  # 0x010201 is 1.2.1
    connection_table_size: int

    @property
    def version_text(self) -> str:
        v = self.version
        return f"{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}.{v & 0xFF}"


@dataclass(frozen=True, eq=False)
class Table:
    """Virtual services with their destinations, in the kernel's order when read back.

    Two tables are equal when they hold the same services with the same settings and
    the same destinations, whatever the order and whatever the counters.
    """

    services: tuple[VirtualService, ...] = ()
    info: IPVSInfo | None = None

    def __post_init__(self) -> None:
        keys = [s.key for s in self.services]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"service {dup} appears twice")

    @classmethod
    def of(cls, services: Iterable[VirtualService], info: IPVSInfo | None = None) -> Table:
        return cls(tuple(services), info)

    def service(self, key: ServiceKey) -> VirtualService | None:
        return next((s for s in self.services if s.key == key), None)

    def __iter__(self) -> Iterator[VirtualService]:
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def _comparable(self) -> dict[ServiceKey, tuple[VirtualService, frozenset[Destination]]]:
        return {s.key: (s, frozenset(s.destinations)) for s in self.services}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self._comparable() == other._comparable()

    __hash__ = None  # type: ignore[assignment]
