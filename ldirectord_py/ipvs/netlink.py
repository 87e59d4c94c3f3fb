"""The kernel's ip_vs over generic netlink (family "IPVS"): read the table, change it.

Why not pyroute2's IPVS classes, which the project otherwise depends on: measured
on pyroute2 0.9.7, their high-level decoding reads wrong values back (a NAT
destination as direct routing, a persistent service as not persistent), `update`
sends a delete, GET_INFO is missing, encoding one request costs 0.2-0.6 ms of
Python, importing the package costs 0.3-0.5 s (8 s in the TCG test guest), and
the synchronous socket runs an event loop of its own, which cannot be used from
inside the daemon's running loop. The IPVS netlink protocol is small and fixed
(linux/ip_vs.h), so this module speaks it directly with `struct` over one
AF_NETLINK socket: every attribute is read raw, by its number, exactly as the
kernel sent it.

`NetlinkIPVS` is synchronous and keeps a single socket. `AsyncIPVS` gives the
daemon the same calls as coroutines: each runs on one dedicated worker thread,
which serialises use of the socket (netlink replies are matched to requests by
sequence number, so two callers must never interleave) and keeps the event loop
free while a large table is read or a long batch is applied. A non-blocking
socket on the loop would not help: ip_vs answers each request synchronously
within the send, and the cost that matters is decoding and encoding thousands of
messages, which is CPU, not waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

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
    Table,
    VirtualService,
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
from ldirectord_py.ipvs.reconcile import ApplyReport, Ownership, reconcile

_T = TypeVar("_T")

# ------------------------------------------------------------ protocol numbers ----
# netlink (linux/netlink.h)
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP = 0x300
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1
# generic netlink controller (linux/genetlink.h)
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
# ip_vs (linux/ip_vs.h)
IPVS_GENL_NAME = b"IPVS"
IPVS_GENL_VERSION = 1
IPVS_CMD_NEW_SERVICE = 1
IPVS_CMD_SET_SERVICE = 2
IPVS_CMD_DEL_SERVICE = 3
IPVS_CMD_GET_SERVICE = 4
IPVS_CMD_NEW_DEST = 5
IPVS_CMD_SET_DEST = 6
IPVS_CMD_DEL_DEST = 7
IPVS_CMD_GET_DEST = 8
IPVS_CMD_GET_INFO = 15
IPVS_CMD_ZERO = 16
IPVS_CMD_FLUSH = 17
IPVS_CMD_ATTR_SERVICE = 1
IPVS_CMD_ATTR_DEST = 2
IPVS_SVC_ATTR_AF = 1
IPVS_SVC_ATTR_PROTOCOL = 2
IPVS_SVC_ATTR_ADDR = 3
IPVS_SVC_ATTR_PORT = 4
IPVS_SVC_ATTR_FWMARK = 5
IPVS_SVC_ATTR_SCHED_NAME = 6
IPVS_SVC_ATTR_FLAGS = 7
IPVS_SVC_ATTR_TIMEOUT = 8
IPVS_SVC_ATTR_NETMASK = 9
IPVS_SVC_ATTR_STATS = 10
IPVS_SVC_ATTR_PE_NAME = 11
IPVS_SVC_ATTR_STATS64 = 12
IPVS_DEST_ATTR_ADDR = 1
IPVS_DEST_ATTR_PORT = 2
IPVS_DEST_ATTR_FWD_METHOD = 3
IPVS_DEST_ATTR_WEIGHT = 4
IPVS_DEST_ATTR_U_THRESH = 5
IPVS_DEST_ATTR_L_THRESH = 6
IPVS_DEST_ATTR_ACTIVE_CONNS = 7
IPVS_DEST_ATTR_INACT_CONNS = 8
IPVS_DEST_ATTR_PERSIST_CONNS = 9
IPVS_DEST_ATTR_STATS = 10
IPVS_DEST_ATTR_ADDR_FAMILY = 11
IPVS_DEST_ATTR_STATS64 = 12
IPVS_INFO_ATTR_VERSION = 1
IPVS_INFO_ATTR_CONN_TAB_SIZE = 2
IP_VS_CONN_F_FWD_MASK = 0x7

_NLMSG = struct.Struct("=IHHII")
_GENL = struct.Struct("=BBH")
_NLA = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_BE16 = struct.Struct(">H")
_BE32 = struct.Struct(">I")
_FLAGS = struct.Struct("=II")
_NLA_TYPE_MASK = 0x3FFF

UNAVAILABLE_MESSAGE = "ip_vs is not available: load the ip_vs module"


# ------------------------------------------------------------------- errors ----
class IPVSError(OSError):
    """A kernel refusal, naming what was attempted and the errno.

    str(): `add destination 10.0.0.1:80 to TCP 192.0.2.1:80: File exists (EEXIST)`.
    """

    def __init__(self, action: str, code: int, detail: str | None = None) -> None:
        name = errno.errorcode.get(code, str(code))
        text = f"{action}: {os.strerror(code)} ({name})"
        if detail:
            text += f": {detail}"
        super().__init__(code, text)
        self.action = action

    def __str__(self) -> str:
        return str(self.strerror)


class IPVSUnavailable(IPVSError):
    """The running kernel has no ip_vs (the IPVS generic netlink family is missing)."""

    def __init__(self) -> None:
        super().__init__("ip_vs", errno.ENOENT)
        self.strerror = UNAVAILABLE_MESSAGE


# ---------------------------------------------------------------- attributes ----
def _attr(kind: int, payload: bytes) -> bytes:
    length = _NLA.size + len(payload)
    return _NLA.pack(length, kind) + payload + b"\0" * (-length % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    """Top-level attributes of a buffer, by number (the last one wins)."""
    found: dict[int, bytes] = {}
    offset = 0
    end = len(data)
    unpack = _NLA.unpack_from
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        if length < 4:
            break
        found[kind & _NLA_TYPE_MASK] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def _u16(v: bytes) -> int:
    return int(_U16.unpack_from(v)[0])


def _u32(v: bytes) -> int:
    return int(_U32.unpack_from(v)[0])


def _be16(v: bytes) -> int:
    return int(_BE16.unpack_from(v)[0])


def _text(v: bytes) -> str:
    return bytes(v).split(b"\0", 1)[0].decode()


def _address(family: Family, v: bytes) -> IPAddress:
    if family is Family.INET:
        return ipaddress.IPv4Address(bytes(v[:4]))
    return ipaddress.IPv6Address(bytes(v[:16]))


def _address_bytes(address: IPAddress) -> bytes:
    """The kernel's 16-byte address union (IPv4 in the first four bytes)."""
    return address.packed.ljust(16, b"\0")


_STATS_FIELDS = (
    "connections",
    "packets_in",
    "packets_out",
    "bytes_in",
    "bytes_out",
    "connection_rate",
    "packet_rate_in",
    "packet_rate_out",
    "byte_rate_in",
    "byte_rate_out",
)


def _stats(attrs: dict[int, bytes], stats64: int, stats32: int) -> Stats:
    """The 64-bit counter block when the kernel sends one, else the 32-bit one."""
    if stats64 in attrs:
        block = _attrs(attrs[stats64])
        values = {
            name: int(_U64.unpack_from(block[i + 1])[0])
            for i, name in enumerate(_STATS_FIELDS)
            if i + 1 in block
        }
    elif stats32 in attrs:
        block = _attrs(attrs[stats32])
        values = {}
        for i, name in enumerate(_STATS_FIELDS):
            if i + 1 in block:
                wide = name.startswith("bytes_")
                values[name] = int((_U64 if wide else _U32).unpack_from(block[i + 1])[0])
    else:
        return Stats()
    return Stats(**values)


def _service_key_attrs(key: ServiceKey) -> bytes:
    parts = [_attr(IPVS_SVC_ATTR_AF, _U16.pack(key.family))]
    if key.fwmark:
        parts.append(_attr(IPVS_SVC_ATTR_FWMARK, _U32.pack(key.fwmark)))
    else:
        assert key.protocol is not None and key.address is not None
        parts.append(_attr(IPVS_SVC_ATTR_PROTOCOL, _U16.pack(key.protocol)))
        parts.append(_attr(IPVS_SVC_ATTR_ADDR, _address_bytes(key.address)))
        parts.append(_attr(IPVS_SVC_ATTR_PORT, _BE16.pack(key.port)))
    return b"".join(parts)


def _netmask_bytes(service: VirtualService) -> bytes:
    """IPv4: the mask in network order. IPv6: the prefix length as a host-order u32
    (the kernel reads the same four bytes as a prefix length)."""
    assert service.netmask is not None
    if service.family is Family.INET:
        return _BE32.pack(service.netmask)
    return _U32.pack(service.netmask)


def _service_attrs(service: VirtualService) -> bytes:
    parts = [
        _service_key_attrs(service.key),
        _attr(IPVS_SVC_ATTR_SCHED_NAME, service.scheduler.encode() + b"\0"),
        _attr(IPVS_SVC_ATTR_FLAGS, _FLAGS.pack(service.flags, 0xFFFFFFFF)),
        _attr(IPVS_SVC_ATTR_TIMEOUT, _U32.pack(service.persistence or 0)),
        _attr(IPVS_SVC_ATTR_NETMASK, _netmask_bytes(service)),
    ]
    if service.pe_name:
        parts.append(_attr(IPVS_SVC_ATTR_PE_NAME, service.pe_name.encode() + b"\0"))
    return b"".join(parts)


def _destination_attrs(destination: Destination, with_settings: bool) -> bytes:
    parts = [
        _attr(IPVS_DEST_ATTR_ADDR_FAMILY, _U16.pack(destination.family)),
        _attr(IPVS_DEST_ATTR_ADDR, _address_bytes(destination.address)),
        _attr(IPVS_DEST_ATTR_PORT, _BE16.pack(destination.port)),
    ]
    if with_settings:
        parts += [
            _attr(IPVS_DEST_ATTR_FWD_METHOD, _U32.pack(destination.forwarding)),
            _attr(IPVS_DEST_ATTR_WEIGHT, _U32.pack(destination.weight)),
            _attr(IPVS_DEST_ATTR_U_THRESH, _U32.pack(destination.upper_threshold)),
            _attr(IPVS_DEST_ATTR_L_THRESH, _U32.pack(destination.lower_threshold)),
        ]
    return b"".join(parts)


def _decode_service(payload: bytes) -> VirtualService:
    a = _attrs(_attrs(payload)[IPVS_CMD_ATTR_SERVICE])
    family = Family(_u16(a[IPVS_SVC_ATTR_AF]))
    fwmark = _u32(a[IPVS_SVC_ATTR_FWMARK]) if IPVS_SVC_ATTR_FWMARK in a else 0
    flags = _FLAGS.unpack_from(a[IPVS_SVC_ATTR_FLAGS])[0] if IPVS_SVC_ATTR_FLAGS in a else 0
    raw_mask = a.get(IPVS_SVC_ATTR_NETMASK)
    netmask = None
    if raw_mask is not None:
        netmask = int((_BE32 if family is Family.INET else _U32).unpack_from(raw_mask)[0])
    return VirtualService(
        family=family,
        protocol=None if fwmark else Protocol(_u16(a[IPVS_SVC_ATTR_PROTOCOL])),
        address=None if fwmark else _address(family, a[IPVS_SVC_ATTR_ADDR]),
        port=0 if fwmark else _be16(a[IPVS_SVC_ATTR_PORT]),
        fwmark=fwmark,
        scheduler=_text(a[IPVS_SVC_ATTR_SCHED_NAME]),
        sched_flags=SchedFlags(flags & SVC_F_SCHED_MASK),
        persistence=_u32(a[IPVS_SVC_ATTR_TIMEOUT]) if flags & SVC_F_PERSISTENT else None,
        netmask=netmask,
        pe_name=_text(a[IPVS_SVC_ATTR_PE_NAME]) or None if IPVS_SVC_ATTR_PE_NAME in a else None,
        one_packet=bool(flags & SVC_F_ONEPACKET),
        stats=_stats(a, IPVS_SVC_ATTR_STATS64, IPVS_SVC_ATTR_STATS),
    )


def _decode_destination(payload: bytes, service_family: Family) -> Destination:
    a = _attrs(_attrs(payload)[IPVS_CMD_ATTR_DEST])
    family = service_family
    if IPVS_DEST_ATTR_ADDR_FAMILY in a:
        family = Family(_u16(a[IPVS_DEST_ATTR_ADDR_FAMILY]))

    def count(kind: int) -> int:
        return _u32(a[kind]) if kind in a else 0

    return Destination(
        address=_address(family, a[IPVS_DEST_ATTR_ADDR]),
        port=_be16(a[IPVS_DEST_ATTR_PORT]),
        forwarding=Forwarding(_u32(a[IPVS_DEST_ATTR_FWD_METHOD]) & IP_VS_CONN_F_FWD_MASK),
        weight=count(IPVS_DEST_ATTR_WEIGHT),
        upper_threshold=count(IPVS_DEST_ATTR_U_THRESH),
        lower_threshold=count(IPVS_DEST_ATTR_L_THRESH),
        counters=DestinationCounters(
            active_connections=count(IPVS_DEST_ATTR_ACTIVE_CONNS),
            inactive_connections=count(IPVS_DEST_ATTR_INACT_CONNS),
            persistent_connections=count(IPVS_DEST_ATTR_PERSIST_CONNS),
            stats=_stats(a, IPVS_DEST_ATTR_STATS64, IPVS_DEST_ATTR_STATS),
        ),
    )


@dataclass(frozen=True)
class _Request:
    """One message to the kernel and the words that name it in an error."""

    command: int
    attributes: bytes
    action: str


def _request_for(op: Operation) -> _Request:
    match op:
        case AddService(service):
            attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_attrs(service))
            return _Request(IPVS_CMD_NEW_SERVICE, attrs, str(op))
        case EditService(service):
            attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_attrs(service))
            return _Request(IPVS_CMD_SET_SERVICE, attrs, str(op))
        case DeleteService(key):
            attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_key_attrs(key))
            return _Request(IPVS_CMD_DEL_SERVICE, attrs, str(op))
        case AddDestination(key, destination) | EditDestination(key, destination):
            command = IPVS_CMD_NEW_DEST if isinstance(op, AddDestination) else IPVS_CMD_SET_DEST
            attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_key_attrs(key)) + _attr(
                IPVS_CMD_ATTR_DEST, _destination_attrs(destination, with_settings=True)
            )
            return _Request(command, attrs, str(op))
        case DeleteDestination(key, dkey):
            target = Destination(dkey.address, dkey.port)
            attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_key_attrs(key)) + _attr(
                IPVS_CMD_ATTR_DEST, _destination_attrs(target, with_settings=False)
            )
            return _Request(IPVS_CMD_DEL_DEST, attrs, str(op))
    raise TypeError(f"not an ip_vs operation: {op!r}")


# ------------------------------------------------------------------- backend ----
class NetlinkIPVS:
    """ip_vs over one generic netlink socket. Not thread-safe: one caller at a time.

    Raises IPVSUnavailable when the kernel has no ip_vs, IPVSError for every
    refusal. Use as a context manager, or call close().
    """

    #: requests sent in one write when applying many operations
    BATCH = 200
    #: the generic netlink family ip_vs registers
    FAMILY = IPVS_GENL_NAME

    def __init__(self, timeout: float = 10.0) -> None:
        self._socket = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_GENERIC
        )
        try:
            self._socket.settimeout(timeout)
            self._socket.bind((0, 0))
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
                # optional: without them errors just carry the whole request back
                with contextlib.suppress(OSError):
                    self._socket.setsockopt(SOL_NETLINK, option, 1)
            self._buffer = bytearray(1 << 20)
            self._sequence = 0
            self._family_id = self._resolve_family()
        except BaseException:
            self._socket.close()
            raise

    # context management -----------------------------------------------------
    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> NetlinkIPVS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading -------------------------------------------------------------------
    def read_info(self) -> IPVSInfo:
        """Version and connection-table size (the listing header)."""
        (reply,) = self._transact(IPVS_CMD_GET_INFO, b"", NLM_F_REQUEST, "read ip_vs info")
        a = _attrs(reply)
        return IPVSInfo(_u32(a[IPVS_INFO_ATTR_VERSION]), _u32(a[IPVS_INFO_ATTR_CONN_TAB_SIZE]))

    def read_services(self) -> list[VirtualService]:
        """Every service, without destinations, in the kernel's order."""
        replies = self._transact(
            IPVS_CMD_GET_SERVICE, b"", NLM_F_REQUEST | NLM_F_DUMP, "read services"
        )
        return [_decode_service(r) for r in replies]

    def read_destinations(self, service: VirtualService) -> list[Destination]:
        """The destinations of one service, in the kernel's order."""
        attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_key_attrs(service.key))
        replies = self._transact(
            IPVS_CMD_GET_DEST,
            attrs,
            NLM_F_REQUEST | NLM_F_DUMP,
            f"read destinations of {service.key}",
        )
        return [_decode_destination(r, service.family) for r in replies]

    def read_table(self) -> Table:
        """The whole table with counters and info, as ipvsadm -L would see it."""
        info = self.read_info()
        services = []
        for service in self.read_services():
            try:
                destinations = tuple(self.read_destinations(service))
            except IPVSError as e:
                if e.errno != errno.ESRCH:
                    raise
                continue  # deleted by someone else between the two dumps
            services.append(replace(service, destinations=destinations))
        return Table(tuple(services), info)

    # changing ------------------------------------------------------------------
    def execute(self, operations: Iterable[Operation]) -> list[IPVSError | None]:
        """Carry out operations in order; for each, None or the kernel's refusal.

        Requests go out in batches of BATCH messages per write: the kernel handles
        them in order and acknowledges each, so one refusal does not stop the rest.
        """
        requests = [_request_for(op) for op in operations]
        results: list[IPVSError | None] = []
        for start in range(0, len(requests), self.BATCH):
            results.extend(self._send_batch(requests[start : start + self.BATCH]))
        return results

    def run(self, operation: Operation) -> None:
        """Carry out one operation; raise IPVSError if the kernel refuses it."""
        (error,) = self.execute([operation])
        if error is not None:
            raise error

    def add_service(self, service: VirtualService) -> None:
        self.run(AddService(service))

    def edit_service(self, service: VirtualService) -> None:
        self.run(EditService(service))

    def delete_service(self, key: ServiceKey) -> None:
        self.run(DeleteService(key))

    def add_destination(self, service: ServiceKey, destination: Destination) -> None:
        self.run(AddDestination(service, destination))

    def edit_destination(self, service: ServiceKey, destination: Destination) -> None:
        self.run(EditDestination(service, destination))

    def delete_destination(self, service: ServiceKey, destination: Destination) -> None:
        self.run(DeleteDestination(service, destination.key))

    def flush(self) -> None:
        """Delete every service (ipvsadm -C)."""
        self._transact(IPVS_CMD_FLUSH, b"", NLM_F_REQUEST | NLM_F_ACK, "flush the table")

    def zero(self, service: ServiceKey | None = None) -> None:
        """Reset counters, of one service or of all (ipvsadm -Z)."""
        if service is None:
            self._transact(IPVS_CMD_ZERO, b"", NLM_F_REQUEST | NLM_F_ACK, "zero all counters")
        else:
            attrs = _attr(IPVS_CMD_ATTR_SERVICE, _service_key_attrs(service))
            self._transact(IPVS_CMD_ZERO, attrs, NLM_F_REQUEST | NLM_F_ACK, f"zero {service}")

    # netlink plumbing ------------------------------------------------------------
    def _next_sequence(self) -> int:
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF or 1
        return self._sequence

    def _message(self, family: int, command: int, attributes: bytes, flags: int) -> bytes:
        body = _GENL.pack(command, IPVS_GENL_VERSION, 0) + attributes
        header = _NLMSG.pack(_NLMSG.size + len(body), family, flags, self._next_sequence(), 0)
        return header + body

    def _resolve_family(self) -> int:
        name = _attr(CTRL_ATTR_FAMILY_NAME, self.FAMILY + b"\0")
        message = self._message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, name, NLM_F_REQUEST)
        try:
            (reply,) = self._exchange(message, "look up the IPVS netlink family")
        except IPVSError as e:
            if e.errno in (errno.ENOENT, errno.EOPNOTSUPP):
                raise IPVSUnavailable() from None
            raise
        return _u16(_attrs(reply)[CTRL_ATTR_FAMILY_ID])

    def _transact(self, command: int, attributes: bytes, flags: int, action: str) -> list[bytes]:
        return self._exchange(self._message(self._family_id, command, attributes, flags), action)

    def _send(self, data: bytes, action: str) -> None:
        try:
            self._socket.send(data)
        except OSError as e:
            raise IPVSError(action, e.errno or errno.EIO) from None

    def _messages(self, action: str) -> Iterator[tuple[int, int, int, bytes]]:
        """Netlink messages as they arrive: (type, flags, sequence, payload).

        Payloads are copied out of the receive buffer, which the next read reuses.
        """
        while True:
            try:
                size = self._socket.recv_into(self._buffer)
            except TimeoutError:
                raise IPVSError(action, errno.ETIMEDOUT) from None
            except OSError as e:
                raise IPVSError(action, e.errno or errno.EIO) from None
            view = memoryview(self._buffer)[:size]
            offset = 0
            while offset + _NLMSG.size <= size:
                length, kind, flags, sequence, _pid = _NLMSG.unpack_from(view, offset)
                if length < _NLMSG.size:
                    break
                payload = bytes(view[offset + _NLMSG.size : offset + length])
                yield kind, flags, sequence, payload
                offset += (length + 3) & ~3

    def _exchange(self, message: bytes, action: str) -> list[bytes]:
        """Send one request; return the payloads (genl header stripped) of its replies."""
        _length, _kind, request_flags, sequence, _pid = _NLMSG.unpack_from(message)
        # a dump ends with DONE, an acknowledged request with an ACK, a plain get
        # with its single answer
        single_answer = not request_flags & NLM_F_ACK and request_flags & NLM_F_DUMP != NLM_F_DUMP
        self._send(message, action)
        replies: list[bytes] = []
        for kind, flags, seq, payload in self._messages(action):
            if seq != sequence:
                continue
            if kind == NLMSG_ERROR:
                code = -int(struct.unpack_from("=i", payload)[0])
                if code:
                    raise IPVSError(action, code, _extended_error(flags, payload))
                return replies
            if kind == NLMSG_DONE:
                code = -int(struct.unpack_from("=i", payload)[0]) if len(payload) >= 4 else 0
                if code:
                    raise IPVSError(action, code)
                return replies
            replies.append(payload[_GENL.size :])
            if single_answer and not flags & NLM_F_MULTI:
                return replies
        raise AssertionError("unreachable")

    def _send_batch(self, requests: Sequence[_Request]) -> list[IPVSError | None]:
        flags = NLM_F_REQUEST | NLM_F_ACK
        messages = [
            self._message(self._family_id, r.command, r.attributes, flags) for r in requests
        ]
        pending = {_NLMSG.unpack_from(m)[3]: i for i, m in enumerate(messages)}
        results: list[IPVSError | None] = [None] * len(requests)
        self._send(b"".join(messages), requests[0].action if requests else "send")
        if not pending:
            return results
        for kind, flags_, seq, payload in self._messages(requests[0].action):
            if kind != NLMSG_ERROR or seq not in pending:
                continue
            index = pending.pop(seq)
            code = -int(struct.unpack_from("=i", payload)[0])
            if code:
                detail = _extended_error(flags_, payload)
                results[index] = IPVSError(requests[index].action, code, detail)
            if not pending:
                break
        return results


def _extended_error(flags: int, payload: bytes) -> str | None:
    """The kernel's own words for an error (extended ACK), when it gave any."""
    if not flags & NLM_F_ACK_TLVS:
        return None
    # error code, then the request's header (its payload is capped by NETLINK_CAP_ACK)
    inner_length = _NLMSG.unpack_from(payload, 4)[0]
    offset = 4 + (_NLMSG.size if flags & NLM_F_CAPPED else inner_length)
    message = _attrs(payload[offset:]).get(NLMSGERR_ATTR_MSG)
    return _text(message) if message is not None else None


# --------------------------------------------------------------------- asyncio ----
class AsyncIPVS:
    """NetlinkIPVS for the daemon's event loop: the same calls, awaited.

    All calls run, one at a time, on a single worker thread that owns the socket
    (see the module docstring for why a thread and not a non-blocking socket).
    """

    def __init__(self, backend_factory: Callable[[], NetlinkIPVS] = NetlinkIPVS) -> None:
        self._factory = backend_factory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipvs-netlink")
        self._backend: NetlinkIPVS | None = None

    async def _call(self, method: Callable[[NetlinkIPVS], _T]) -> _T:
        def run() -> _T:
            if self._backend is None:
                self._backend = self._factory()  # may raise IPVSUnavailable: retried next call
            return method(self._backend)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def read_table(self) -> Table:
        return await self._call(lambda b: b.read_table())

    async def read_info(self) -> IPVSInfo:
        return await self._call(lambda b: b.read_info())

    async def execute(self, operations: Sequence[Operation]) -> list[IPVSError | None]:
        return await self._call(lambda b: b.execute(operations))

    async def apply(self, operations: Sequence[Operation]) -> ApplyReport:
        """Carry out a plan (reconcile.plan) and report."""
        return ApplyReport.of(operations, await self.execute(operations))

    async def reconcile(self, desired: Table, owns: Ownership) -> ApplyReport:
        """Read the live table, plan and apply, as one step on the worker."""
        return await self._call(lambda b: reconcile(desired, b, owns))

    async def flush(self) -> None:
        await self._call(lambda b: b.flush())

    async def zero(self, service: ServiceKey | None = None) -> None:
        await self._call(lambda b: b.zero(service))

    async def close(self) -> None:
        def shut() -> None:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)
