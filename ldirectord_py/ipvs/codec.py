"""The IPVS generic netlink messages as attribute tables, and the mapping between
them and the table model (`ipvs/model.py`). No socket here: `ipvs/transport.py`
carries the bytes.

The tables follow linux/ip_vs.h (numbers and wire types are the kernel's);
attributes the kernel may add later (tunnel settings of a destination, say) are
not listed, so decoding skips them. Every decode raises MalformedReply, naming
the attribute, for a reply it cannot read.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum

from ldirectord_py.ipvs.errors import MalformedReply
from ldirectord_py.ipvs.model import (
    SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
    SVC_F_SCHED_MASK,
    Destination,
    DestinationCounters,
    Family,
    Forwarding,
    IPAddress,
    IPVSInfo,
    Protocol,
    SchedFlags,
    ServiceKey,
    Stats,
    VirtualService,
)
from ldirectord_py.ipvs.nlattr import (
    BE16,
    DECODING,
    TEXT,
    U16,
    U32,
    U64,
    Attr,
    Attributes,
    AttrTable,
    Enumerated,
    Nested,
    Raw,
    Words,
)
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)

FAMILY_NAME = b"IPVS"
VERSION = 1
IP_VS_CONN_F_FWD_MASK = 0x7
_INET = Family.INET
_ALL_FLAGS = 0xFFFFFFFF


class Command(IntEnum):
    """IPVS_CMD_*: the requests this backend sends."""

    NEW_SERVICE = 1
    SET_SERVICE = 2
    DEL_SERVICE = 3
    GET_SERVICE = 4
    NEW_DEST = 5
    SET_DEST = 6
    DEL_DEST = 7
    GET_DEST = 8
    GET_INFO = 15
    ZERO = 16
    FLUSH = 17


class StatsAttrs(AttrTable):
    """IPVS_STATS_ATTR_* in the 32-bit block: byte counters are 64-bit even here."""

    PREFIX = "IPVS_STATS_ATTR_"
    conns = Attr(1, U32)
    inpkts = Attr(2, U32)
    outpkts = Attr(3, U32)
    inbytes = Attr(4, U64)
    outbytes = Attr(5, U64)
    cps = Attr(6, U32)
    inpps = Attr(7, U32)
    outpps = Attr(8, U32)
    inbps = Attr(9, U32)
    outbps = Attr(10, U32)


class Stats64Attrs(AttrTable):
    """IPVS_STATS_ATTR_* in the 64-bit block (IPVS_*_ATTR_STATS64)."""

    PREFIX = "IPVS_STATS_ATTR_"
    conns = Attr(1, U64)
    inpkts = Attr(2, U64)
    outpkts = Attr(3, U64)
    inbytes = Attr(4, U64)
    outbytes = Attr(5, U64)
    cps = Attr(6, U64)
    inpps = Attr(7, U64)
    outpps = Attr(8, U64)
    inbps = Attr(9, U64)
    outbps = Attr(10, U64)


#: each block's attributes in the order of the Stats fields
_STATS32_ORDER = tuple(StatsAttrs.by_number[n] for n in range(1, 11))
_STATS64_ORDER = tuple(Stats64Attrs.by_number[n] for n in range(1, 11))


class ServiceAttrs(AttrTable):
    """IPVS_SVC_ATTR_*. The address is the kernel's 16-byte union (IPv4 in the
    first four bytes); the netmask's four bytes are read by family (see _netmask)."""

    PREFIX = "IPVS_SVC_ATTR_"
    af = Attr(1, Enumerated(U16, Family))
    protocol = Attr(2, Enumerated(U16, Protocol))
    addr = Attr(3, Raw(16))
    port = Attr(4, BE16)
    fwmark = Attr(5, U32)
    sched_name = Attr(6, TEXT)
    flags = Attr(7, Words("=II"))  # struct ip_vs_flags: flags, mask
    timeout = Attr(8, U32)
    netmask = Attr(9, Raw(4))
    stats = Attr(10, Nested(StatsAttrs))
    pe_name = Attr(11, TEXT)
    stats64 = Attr(12, Nested(Stats64Attrs))


class DestAttrs(AttrTable):
    """IPVS_DEST_ATTR_*. The forwarding method is the low bits of the connection flags."""

    PREFIX = "IPVS_DEST_ATTR_"
    addr = Attr(1, Raw(16))
    port = Attr(2, BE16)
    fwd_method = Attr(3, Enumerated(U32, Forwarding, mask=IP_VS_CONN_F_FWD_MASK))
    weight = Attr(4, U32)
    u_thresh = Attr(5, U32)
    l_thresh = Attr(6, U32)
    active_conns = Attr(7, U32)
    inact_conns = Attr(8, U32)
    persist_conns = Attr(9, U32)
    stats = Attr(10, Nested(StatsAttrs))
    addr_family = Attr(11, Enumerated(U16, Family))
    stats64 = Attr(12, Nested(Stats64Attrs))


class CommandAttrs(AttrTable):
    """IPVS_CMD_ATTR_*: the top level of a request or reply."""

    PREFIX = "IPVS_CMD_ATTR_"
    service = Attr(1, Nested(ServiceAttrs))
    dest = Attr(2, Nested(DestAttrs))


class InfoAttrs(AttrTable):
    """IPVS_INFO_ATTR_*: the answer to GET_INFO."""

    PREFIX = "IPVS_INFO_ATTR_"
    version = Attr(1, U32)
    conn_tab_size = Attr(2, U32)


@dataclass(frozen=True)
class Request:
    """One message to the kernel and the words that name it in an error."""

    command: Command
    attributes: bytes
    action: str


# ------------------------------------------------------------------ encoding ----
def _address_bytes(address: IPAddress) -> bytes:
    return address.packed.ljust(16, b"\0")


_NETMASK_INET = struct.Struct(">I")
_NETMASK_INET6 = struct.Struct("=I")


def _netmask_layout(family: Family) -> struct.Struct:
    """IPv4: the mask in network order. IPv6: the prefix length as a host-order u32
    (the kernel reads the same four bytes as a prefix length; ipvsadm sends it so)."""
    return _NETMASK_INET if family is _INET else _NETMASK_INET6


def service_key_attributes(key: ServiceKey) -> bytes:
    """The attributes that name a service: family, then fwmark or protocol/address/port."""
    S = ServiceAttrs
    if key.fwmark:
        return S.af.pack(key.family) + S.fwmark.pack(key.fwmark)
    assert key.protocol is not None and key.address is not None
    return (
        S.af.pack(key.family)
        + S.protocol.pack(key.protocol)
        + S.addr.pack(_address_bytes(key.address))
        + S.port.pack(key.port)
    )


def service_attributes(service: VirtualService) -> bytes:
    """A service's key and settings, as NEW_SERVICE and SET_SERVICE carry them."""
    S = ServiceAttrs
    assert service.netmask is not None
    parts = [
        service_key_attributes(service.key),
        S.sched_name.pack(service.scheduler),
        S.flags.pack((service.flags, _ALL_FLAGS)),
        S.timeout.pack(service.persistence or 0),
        S.netmask.pack(_netmask_layout(service.family).pack(service.netmask)),
    ]
    if service.pe_name:
        parts.append(S.pe_name.pack(service.pe_name))
    return b"".join(parts)


def destination_attributes(destination: Destination, with_settings: bool) -> bytes:
    """A destination's key, and its settings unless it is being deleted."""
    D = DestAttrs
    parts = [
        D.addr_family.pack(destination.family),
        D.addr.pack(_address_bytes(destination.address)),
        D.port.pack(destination.port),
    ]
    if with_settings:
        parts += [
            D.fwd_method.pack(destination.forwarding),
            D.weight.pack(destination.weight),
            D.u_thresh.pack(destination.upper_threshold),
            D.l_thresh.pack(destination.lower_threshold),
        ]
    return b"".join(parts)


def service_selector(key: ServiceKey) -> bytes:
    """The top-level attributes that pick one service (GET_DEST, ZERO, DEL_SERVICE)."""
    return CommandAttrs.service.nest(service_key_attributes(key))


def request_for(op: Operation) -> Request:
    """The message that carries out one operation."""
    C = CommandAttrs
    match op:
        case AddService(service) | EditService(service):
            command = Command.NEW_SERVICE if isinstance(op, AddService) else Command.SET_SERVICE
            return Request(command, C.service.nest(service_attributes(service)), str(op))
        case DeleteService(key):
            return Request(Command.DEL_SERVICE, service_selector(key), str(op))
        case AddDestination(key, destination) | EditDestination(key, destination):
            command = Command.NEW_DEST if isinstance(op, AddDestination) else Command.SET_DEST
            body = destination_attributes(destination, with_settings=True)
            return Request(command, service_selector(key) + C.dest.nest(body), str(op))
        case DeleteDestination(key, dkey):
            body = destination_attributes(Destination(dkey.address, dkey.port), False)
            return Request(Command.DEL_DEST, service_selector(key) + C.dest.nest(body), str(op))
    raise TypeError(f"not an ip_vs operation: {op!r}")


# ------------------------------------------------------------------ decoding ----
#: a destination's settings and connection counts, 0 when the kernel leaves one out
_DEST_COUNTS = (
    DestAttrs.weight,
    DestAttrs.u_thresh,
    DestAttrs.l_thresh,
    DestAttrs.active_conns,
    DestAttrs.inact_conns,
    DestAttrs.persist_conns,
)


def _address(family: Family, raw: bytes) -> IPAddress:
    if family is _INET:
        return ipaddress.IPv4Address(raw[:4])
    return ipaddress.IPv6Address(raw)


def _stats(wide: Attributes | None, narrow: Attributes | None) -> Stats:
    """The 64-bit counter block when the kernel sends one, else the 32-bit one."""
    if wide is not None:
        return Stats(*wide.each(_STATS64_ORDER))
    if narrow is not None:
        return Stats(*narrow.each(_STATS32_ORDER))
    return Stats()


def decode_service(payload: bytes) -> VirtualService:
    """One GET_SERVICE reply (generic netlink header removed)."""
    S = ServiceAttrs
    a = CommandAttrs.decode(payload).require(CommandAttrs.service)
    family = a.require(S.af)
    fwmark = a.get(S.fwmark, 0)
    flags = a.get(S.flags, (0, 0))[0]
    raw_mask = a.get(S.netmask)
    netmask = None if raw_mask is None else int(_netmask_layout(family).unpack(raw_mask)[0])
    try:
        return VirtualService(
            family=family,
            protocol=None if fwmark else a.require(S.protocol),
            address=None if fwmark else _address(family, a.require(S.addr)),
            port=0 if fwmark else a.require(S.port),
            fwmark=fwmark,
            scheduler=a.require(S.sched_name),
            sched_flags=SchedFlags(flags & SVC_F_SCHED_MASK),
            persistence=a.require(S.timeout) if flags & SVC_F_PERSISTENT else None,
            netmask=netmask,
            pe_name=a.get(S.pe_name) or None,
            one_packet=bool(flags & SVC_F_ONEPACKET),
            stats=_stats(a.get(S.stats64), a.get(S.stats)),
        )
    except ValueError as e:
        raise MalformedReply(DECODING, f"{CommandAttrs.service.name}: {e}") from None


def decode_destination(payload: bytes, service_family: Family) -> Destination:
    """One GET_DEST reply; a destination without its own family has the service's."""
    D = DestAttrs
    a = CommandAttrs.decode(payload).require(CommandAttrs.dest)
    weight, upper, lower, active, inactive, persistent = a.each(_DEST_COUNTS)
    try:
        return Destination(
            _address(a.get(D.addr_family, service_family), a.require(D.addr)),
            a.require(D.port),
            a.require(D.fwd_method),
            weight,
            upper,
            lower,
            DestinationCounters(
                active, inactive, persistent, _stats(a.get(D.stats64), a.get(D.stats))
            ),
        )
    except ValueError as e:
        raise MalformedReply(DECODING, f"{CommandAttrs.dest.name}: {e}") from None


def decode_info(payload: bytes) -> IPVSInfo:
    """The GET_INFO reply: version and connection-table size."""
    a = InfoAttrs.decode(payload)
    return IPVSInfo(a.require(InfoAttrs.version), a.require(InfoAttrs.conn_tab_size))
