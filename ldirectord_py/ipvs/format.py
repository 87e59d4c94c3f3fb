"""ipvsadm-identical listings of a Table: `ipvsadm -L` in all its forms, and `-c`.

The output is reproduced from observation of ipvsadm 1.31 (Debian 12) against a real
kernel; tests/unit/ipvs/golden/ holds the recordings this module is tested against.
Two behaviours of ipvsadm matter beyond column widths:

* Order. ipvsadm sorts services and destinations with glibc's qsort, which is a
  top-down merge sort, and its comparisons subtract unsigned 32-bit fields and
  keep the sign of the wrapped result. 1.2.3.4 therefore lists after 192.0.2.1,
  fwmark 4294967295 before every address service, and the result depends on the
  kernel's own order. `ipvsadm_order` repeats the same comparisons in the same
  merge order, so a Table read back in kernel order lists exactly as ipvsadm does.
* Width of counters. For destinations ipvsadm reads the kernel's 32-bit counter
  block, so their connection, packet and rate figures wrap at 2**32; services use
  the 64-bit block.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ldirectord_py.ipvs.connections import Connection
from ldirectord_py.ipvs.model import (
    Destination,
    Family,
    IPAddress,
    SchedFlags,
    ServiceKey,
    Stats,
    Table,
    VirtualService,
    bracketed,
    default_netmask,
)

_T = TypeVar("_T")


class ServiceNotFound(LookupError):
    """A listing asked for one service (-t/-u/-f) that the table does not hold."""

    def __init__(self, key: ServiceKey) -> None:
        super().__init__("No such service")
        self.key = key


@dataclass(frozen=True)
class ListingOptions:
    """ipvsadm's listing switches. Of stats, rate, thresholds and persistent_conn
    only the first one set counts, in that order, as with ipvsadm."""

    numeric: bool = False  # -n
    stats: bool = False  # --stats
    rate: bool = False  # --rate
    thresholds: bool = False  # --thresholds
    persistent_conn: bool = False  # --persistent-conn
    exact: bool = False  # --exact
    sort: bool = True  # --nosort clears it
    service: ServiceKey | None = None  # -t/-u/--sctp-service/-f [-6]
    connections: bool = False  # -c


class Resolver(Protocol):
    """Names for -L without -n."""

    def host_name(self, address: IPAddress) -> str | None: ...

    def service_name(self, port: int, protocol: str) -> str | None: ...


class SystemResolver:
    """The C library's answers (/etc/hosts, DNS, /etc/services), as ipvsadm gets them."""

    def host_name(self, address: IPAddress) -> str | None:
        try:
            return socket.gethostbyaddr(str(address))[0]
        except OSError:
            return None

    def service_name(self, port: int, protocol: str) -> str | None:
        try:
            return socket.getservbyport(port, protocol)
        except (OSError, OverflowError):
            return None


# ---------------------------------------------------------------- ipvsadm's order ----


def _wrapped_sign(difference: int) -> int:
    """The sign C gives `(int)(a - b)` for unsigned 32-bit a and b."""
    d = difference & 0xFFFFFFFF
    if d == 0:
        return 0
    return -1 if d & 0x80000000 else 1


def _address_words(address: IPAddress | None) -> tuple[int, int, int, int]:
    """The 16-byte address union as four host-order words (IPv4 fills the first)."""
    if address is None:
        return (0, 0, 0, 0)
    if address.version == 4:
        return (int(address), 0, 0, 0)
    value = int(address)
    return (value >> 96, (value >> 64) & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF)


def _compare_addresses(family: Family, a: IPAddress | None, b: IPAddress | None) -> int:
    words_a, words_b = _address_words(a), _address_words(b)
    count = 4 if family is Family.INET6 else 1
    for wa, wb in zip(words_a[:count], words_b[:count], strict=True):
        sign = _wrapped_sign(wa - wb)
        if sign:
            return sign
    return 0


def _compare_services(a: VirtualService, b: VirtualService) -> int:
    return (
        _wrapped_sign(a.fwmark - b.fwmark)
        or (a.family - b.family)
        or (int(a.protocol or 0) - int(b.protocol or 0))
        or _compare_addresses(a.family, a.address, b.address)
        or (a.port - b.port)
    )


def _glibc_merge_sort(items: Sequence[_T], compare: Callable[[_T, _T], int]) -> list[_T]:
    """glibc's qsort for tables that fit in memory: split in halves (the first one
    the smaller), sort each, merge taking from the first half on ties."""
    if len(items) <= 1:
        return list(items)
    half = len(items) // 2
    left = _glibc_merge_sort(items[:half], compare)
    right = _glibc_merge_sort(items[half:], compare)
    merged: list[_T] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if compare(left[i], right[j]) <= 0:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    return merged


def ipvsadm_order(services: Sequence[VirtualService]) -> list[VirtualService]:
    """Services in the order ipvsadm lists them (given the kernel's order)."""
    return _glibc_merge_sort(services, _compare_services)


def ipvsadm_destination_order(service: VirtualService) -> list[Destination]:
    """A service's destinations in the order ipvsadm lists them.

    The family of the left-hand destination of each comparison decides how much
    of the addresses is compared (four words for IPv6, the first for IPv4), which
    matters only for pools that mix families (tunnelled reals).
    """

    def compare(a: Destination, b: Destination) -> int:
        return _compare_addresses(a.family, a.address, b.address) or (a.port - b.port)

    return _glibc_merge_sort(service.destinations, compare)


# ------------------------------------------------------------------ text pieces ----


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


class _Names:
    """Address and port text: numeric under -n, else names where ipvsadm finds them.

    ipvsadm writes "host:port" into a fixed buffer: in the table listing a label
    longer than 28 characters (59 for IPv6) is cut there, port and all.
    """

    def __init__(self, numeric: bool, resolver: Resolver | None) -> None:
        self.numeric = numeric
        self.resolver = resolver or SystemResolver()

    def host(self, address: IPAddress) -> str:
        name = None if self.numeric else self.resolver.host_name(address)
        if name is None:
            return bracketed(address)
        return f"[{name}]" if address.version == 6 else name

    def port(self, port: int, protocol: str | None) -> str:
        if not self.numeric and protocol is not None:
            name = self.resolver.service_name(port, protocol)
            if name:
                return name
        return str(port)

    def hostport(self, address: IPAddress, port: int, protocol: str | None) -> str:
        """`protocol` None (a fwmark service) leaves the port numeric."""
        label = f"{self.host(address)}:{self.port(port, protocol)}"
        return label[: 59 if address.version == 6 else 28]

    def connection_hostport(self, address: IPAddress, port: int, protocol: str | None) -> str:
        """The -c listing cuts at 59 characters whatever the family."""
        return f"{self.host(address)}:{self.port(port, protocol)}"[:59]


def _protocol_column(service: VirtualService) -> str:
    return "FWM" if service.is_fwmark else service.protocol.name  # type: ignore[union-attr]


def _protocol_for_names(service: VirtualService) -> str | None:
    return service.protocol.name.lower() if service.protocol is not None else None


def _service_label(service: VirtualService, names: _Names) -> str:
    if service.is_fwmark:
        label = str(_signed32(service.fwmark))
        return label + " IPv6" if service.family is Family.INET6 else label
    assert service.address is not None
    return names.hostport(service.address, service.port, _protocol_for_names(service))


def _sched_flag_names(service: VirtualService) -> list[str]:
    flags = service.sched_flags
    if service.scheduler in ("sh", "mh"):
        s = service.scheduler
        pairs = [(SchedFlags.FLAG_1, f"{s}-fallback"), (SchedFlags.FLAG_2, f"{s}-port")]
    else:
        pairs = [
            (SchedFlags.FLAG_1, "flag-1"),
            (SchedFlags.FLAG_2, "flag-2"),
            (SchedFlags.FLAG_3, "flag-3"),
        ]
    return [name for flag, name in pairs if flags & flag]


def _service_settings(service: VirtualService) -> str:
    """`rr (sh-port) persistent 300 mask 255.255.255.0 pe sip ops`."""
    text = service.scheduler
    if service.sched_flags:
        text += " (" + ",".join(_sched_flag_names(service)) + ")"
    if service.persistence is not None:
        text += f" persistent {service.persistence}"
        if service.netmask != default_netmask(service.family):
            text += f" mask {service.netmask_text}"
    if service.pe_name:
        text += f" pe {service.pe_name}"
    if service.one_packet:
        text += " ops"
    return text


def _large_number(value: int, exact: bool) -> str:
    """A 9-column counter: exact, or scaled to K/M/G/T past 8 digits."""
    if exact or value < 100_000_000:
        return f" {value:>8}"
    if value < 1_000_000_000:
        return f"{value // 1_000:>8}K"
    if value < 100_000_000_000:
        return f"{value // 1_000_000:>8}M"
    if value < 100_000_000_000_000:
        return f"{value // 1_000_000_000:>8}G"
    return f"{value // 1_000_000_000_000:>8}T"


def _stats_columns(stats: Stats, exact: bool, rate: bool, wraps_at_32_bits: bool) -> str:
    if rate:
        values = [
            stats.connection_rate,
            stats.packet_rate_in,
            stats.packet_rate_out,
            stats.byte_rate_in,
            stats.byte_rate_out,
        ]
        narrow = [True] * 5
    else:
        values = [
            stats.connections,
            stats.packets_in,
            stats.packets_out,
            stats.bytes_in,
            stats.bytes_out,
        ]
        narrow = [True, True, True, False, False]
    if wraps_at_32_bits:
        values = [v & 0xFFFFFFFF if n else v for v, n in zip(values, narrow, strict=True)]
    return "".join(_large_number(v, exact) for v in values)


# --------------------------------------------------------------------- listings ----

_HEADERS = {
    "default": (
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    ),
    "stats": (
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
    ),
    "rate": (
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
        "  -> RemoteAddress:Port",
    ),
    "thresholds": (
        "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ",
        "  -> RemoteAddress:Port",
    ),
    "persistent_conn": (
        "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ",
        "  -> RemoteAddress:Port",
    ),
}


def _form(options: ListingOptions) -> str:
    for form in ("stats", "rate", "thresholds", "persistent_conn"):
        if getattr(options, form):
            return form
    return "default"


def _service_line(
    service: VirtualService, form: str, options: ListingOptions, names: _Names
) -> str:
    prefix = f"{_protocol_column(service):<4} "
    label = _service_label(service, names)
    if form in ("stats", "rate"):
        return (
            prefix
            + f"{label:<28}"
            + _stats_columns(service.stats, options.exact, form == "rate", wraps_at_32_bits=False)
        )
    return prefix + f"{label} {_service_settings(service)}"


def _destination_line(
    service: VirtualService,
    destination: Destination,
    form: str,
    options: ListingOptions,
    names: _Names,
) -> str:
    label = names.hostport(destination.address, destination.port, _protocol_for_names(service))
    c = destination.counters
    head = f"  -> {label:<28}"
    if form in ("stats", "rate"):
        return head + _stats_columns(c.stats, options.exact, form == "rate", wraps_at_32_bits=True)
    if form == "thresholds":
        return (
            f"{head} {destination.upper_threshold:<10} {destination.lower_threshold:<10}"
            f" {c.active_connections:<10} {c.inactive_connections:<10}"
        )
    if form == "persistent_conn":
        return (
            f"{head} {destination.weight:<9} {c.persistent_connections:<11}"
            f" {c.active_connections:<10} {c.inactive_connections:<10}"
        )
    return (
        f"{head} {destination.forwarding.label:<7} {destination.weight:<6}"
        f" {c.active_connections:<10} {c.inactive_connections:<10}"
    )


def render_listing(
    table: Table,
    options: ListingOptions = ListingOptions(),
    *,
    connections: Sequence[Connection] = (),
    resolver: Resolver | None = None,
) -> str:
    """What `ipvsadm -L` prints with these options, byte for byte.

    With options.connections, lists `connections` as `ipvsadm -L -c` does.
    Raises ServiceNotFound when options.service names a service the table lacks
    (ipvsadm then prints "No such service" and exits with 1).
    """
    if options.connections:
        return render_connections(connections, options, resolver=resolver)
    names = _Names(options.numeric, resolver)
    form = _form(options)
    lines: list[str] = []
    services: Sequence[VirtualService] = table.services
    if options.service is not None:
        selected = table.service(options.service)
        if selected is None:
            raise ServiceNotFound(options.service)
        services = [selected]
    else:
        if table.info is None:
            raise ValueError("the listing header needs the table's ip_vs info")
        lines.append(
            f"IP Virtual Server version {table.info.version_text}"
            f" (size={table.info.connection_table_size})"
        )
    lines.extend(_HEADERS[form])
    for service in ipvsadm_order(services) if options.sort else services:
        lines.append(_service_line(service, form, options, names))
        destinations = ipvsadm_destination_order(service) if options.sort else service.destinations
        for destination in destinations:
            lines.append(_destination_line(service, destination, form, options, names))
    return "\n".join(lines) + "\n"


_CONNECTION_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def render_connections(
    connections: Sequence[Connection],
    options: ListingOptions,
    *,
    resolver: Resolver | None = None,
) -> str:
    """What `ipvsadm -L -c` prints for these connection entries (in their order)."""
    names = _Names(options.numeric, resolver)
    header = "pro expire state       source             virtual            destination"
    if options.persistent_conn:
        header += "        pe name          pe_data"
    lines = ["IPVS connection entries", header]
    for c in connections:
        protocol = _CONNECTION_PROTOCOLS.get(c.protocol)
        minutes, seconds = divmod(c.expires, 60)
        line = (
            f"{c.protocol:<3} {f'{minutes:02d}:{seconds:02d}':<6} {c.state:<11}"
            f" {names.connection_hostport(c.client_address, c.client_port, protocol):<18}"
            f" {names.connection_hostport(c.virtual_address, c.virtual_port, protocol):<18}"
            f" {names.connection_hostport(c.destination_address, c.destination_port, protocol)}"
        )
        if options.persistent_conn and c.pe_name:
            line += f" {c.pe_name:<18} {c.pe_data or ''}"
        lines.append(line)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ JSON ----


def _stats_dict(stats: Stats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in Stats.__dataclass_fields__}


def listing_as_dict(
    table: Table, options: ListingOptions = ListingOptions(), connections: Sequence[Connection] = ()
) -> dict[str, object]:
    """The data of a listing as plain JSON-ready values, in ipvsadm's order.

    Same selection and order as render_listing (options.service, options.sort);
    counters are given in full, never scaled or wrapped.
    """
    if options.connections:
        return {
            "connections": [
                {
                    "protocol": c.protocol,
                    "client": f"{bracketed(c.client_address)}:{c.client_port}",
                    "virtual": f"{bracketed(c.virtual_address)}:{c.virtual_port}",
                    "destination": f"{bracketed(c.destination_address)}:{c.destination_port}",
                    "state": c.state,
                    "expires": c.expires,
                    "pe_name": c.pe_name,
                    "pe_data": c.pe_data,
                }
                for c in connections
            ]
        }
    services: Sequence[VirtualService] = table.services
    if options.service is not None:
        selected = table.service(options.service)
        if selected is None:
            raise ServiceNotFound(options.service)
        services = [selected]
    out: list[dict[str, object]] = []
    for s in ipvsadm_order(services) if options.sort else services:
        destinations = ipvsadm_destination_order(s) if options.sort else s.destinations
        out.append(
            {
                "service": str(s.key),
                "family": "ipv6" if s.family is Family.INET6 else "ipv4",
                "protocol": s.protocol.name.lower() if s.protocol else None,
                "address": str(s.address) if s.address else None,
                "port": s.port,
                "fwmark": s.fwmark or None,
                "scheduler": s.scheduler,
                "sched_flags": _sched_flag_names(s),
                "persistence": s.persistence,
                "netmask": s.netmask_text,
                "pe_name": s.pe_name,
                "one_packet": s.one_packet,
                "stats": _stats_dict(s.stats),
                "destinations": [
                    {
                        "destination": str(d.key),
                        "address": str(d.address),
                        "port": d.port,
                        "forwarding": d.forwarding.label.lower(),
                        "weight": d.weight,
                        "upper_threshold": d.upper_threshold,
                        "lower_threshold": d.lower_threshold,
                        "active_connections": d.counters.active_connections,
                        "inactive_connections": d.counters.inactive_connections,
                        "persistent_connections": d.counters.persistent_connections,
                        "stats": _stats_dict(d.counters.stats),
                    }
                    for d in destinations
                ],
            }
        )
    info = table.info
    return {
        "version": info.version_text if info else None,
        "connection_table_size": info.connection_table_size if info else None,
        "services": out,
    }
