"""A kernel at the netlink level, for NetlinkIPVS without ip_vs: it reads the
requests' bytes (generic netlink controller lookup and IPVS commands), applies
them to the in-memory FakeKernel, and answers with netlink messages as the real
one does: a reply per dump entry then DONE, an ERROR message per acknowledged
request (0 or -errno), a single answer to a plain get.

`datagrams` lets a test replace what the kernel answers with bytes of its own.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from ldirectord_py.ipvs import codec
from ldirectord_py.ipvs.codec import Command, CommandAttrs, DestAttrs, ServiceAttrs
from ldirectord_py.ipvs.model import (
    Destination,
    IPVSInfo,
    ServiceKey,
    Stats,
    Table,
    VirtualService,
)
from ldirectord_py.ipvs.nlattr import Attributes
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)
from ldirectord_py.ipvs.transport import ControlAttrs
from tests.unit.ipvs.fake_kernel import FakeKernel

NLMSG = struct.Struct("=IHHII")
GENL = struct.Struct("=BBH")
IPVS_FAMILY_ID = 0x25
CTRL_ID = 0x10
MULTI = 0x02
ACK = 0x04
DUMP = 0x300
ERROR = 2
DONE = 3


def message(kind: int, flags: int, sequence: int, payload: bytes) -> bytes:
    length = NLMSG.size + len(payload)
    return NLMSG.pack(length, kind, flags, sequence, 1) + payload + b"\0" * (-length % 4)


def genl(command: int, attributes: bytes) -> bytes:
    return GENL.pack(command, 1, 0) + attributes


def error(sequence: int, code: int, request: bytes = b"") -> bytes:
    header = request[: NLMSG.size] or NLMSG.pack(16, 0, 0, sequence, 0)
    return message(ERROR, 0x100, sequence, struct.pack("=i", -code) + header)


def _stats_block(attr: object, stats: Stats) -> bytes:
    table = codec.Stats64Attrs if attr is ServiceAttrs.stats64 else codec.StatsAttrs
    order = [table.by_number[n] for n in range(1, 11)]
    values = [
        stats.connections, stats.packets_in, stats.packets_out, stats.bytes_in, stats.bytes_out,
        stats.connection_rate, stats.packet_rate_in, stats.packet_rate_out, stats.byte_rate_in,
        stats.byte_rate_out,
    ]  # fmt: skip
    pairs = zip(order, values, strict=True)
    return b"".join(a.pack(v & ((1 << (8 * (a.size or 8))) - 1)) for a, v in pairs)


def service_reply(service: VirtualService) -> bytes:
    """GET_SERVICE's answer for one service, counters in both blocks as the kernel sends."""
    body = codec.service_attributes(service)
    body += ServiceAttrs.stats.nest(_stats_block(ServiceAttrs.stats, service.stats))
    body += ServiceAttrs.stats64.nest(_stats_block(ServiceAttrs.stats64, service.stats))
    return CommandAttrs.service.nest(body)


def destination_reply(destination: Destination) -> bytes:
    counters = destination.counters
    body = codec.destination_attributes(destination, with_settings=True)
    body += DestAttrs.active_conns.pack(counters.active_connections)
    body += DestAttrs.inact_conns.pack(counters.inactive_connections)
    body += DestAttrs.persist_conns.pack(counters.persistent_connections)
    body += DestAttrs.stats.nest(_stats_block(DestAttrs.stats, counters.stats))
    body += DestAttrs.stats64.nest(_stats_block(ServiceAttrs.stats64, counters.stats))
    return CommandAttrs.dest.nest(body)


def _service_key(a: Attributes) -> ServiceKey:
    family = a.require(ServiceAttrs.af)
    fwmark = a.get(ServiceAttrs.fwmark, 0)
    if fwmark:
        return ServiceKey.for_fwmark(fwmark, family)
    address = codec._address(family, a.require(ServiceAttrs.addr))
    protocol, port = a.require(ServiceAttrs.protocol), a.require(ServiceAttrs.port)
    return ServiceKey(family, protocol, address, port, 0)


def operation_of(command: int, attributes: bytes) -> Operation:
    """The operation a request carries, read back with the codec's tables."""
    top = CommandAttrs.decode(attributes)
    key = _service_key(top.require(CommandAttrs.service))
    match command:
        case Command.NEW_SERVICE:
            return AddService(codec.decode_service(attributes))
        case Command.SET_SERVICE:
            return EditService(codec.decode_service(attributes))
        case Command.DEL_SERVICE:
            return DeleteService(key)
        case Command.NEW_DEST | Command.SET_DEST:
            destination = codec.decode_destination(attributes, key.family)
            kind = AddDestination if command == Command.NEW_DEST else EditDestination
            return kind(key, destination)
        case Command.DEL_DEST:
            d = top.require(CommandAttrs.dest)
            family = d.get(DestAttrs.addr_family, key.family)
            address = codec._address(family, d.require(DestAttrs.addr))
            return DeleteDestination(key, Destination(address, d.require(DestAttrs.port)).key)
    raise AssertionError(f"not an operation: command {command}")


class NetlinkKernel:
    """A NetlinkSocket backed by FakeKernel (see the module docstring)."""

    def __init__(self, table: Table | None = None, info: IPVSInfo | None = None) -> None:
        self.kernel = FakeKernel(table)
        self.info = info or IPVSInfo(0x010201, 4096)
        self.datagrams: deque[bytes] = deque()
        self.sent: list[bytes] = []
        self.requests: list[tuple[int, bytes]] = []  # (command, attributes) of IPVS requests
        self.closed = False
        self.answer: Callable[[int, int, int, int, bytes, bytes], list[bytes]] = self._answer

    # the socket -------------------------------------------------------------
    def send(self, data: bytes, /) -> int:
        self.sent.append(data)
        offset = 0
        while offset < len(data):
            length, kind, flags, sequence, _port = NLMSG.unpack_from(data, offset)
            request = data[offset : offset + length]
            command = request[NLMSG.size]
            attributes = request[NLMSG.size + GENL.size :]
            self.datagrams.extend(self.answer(kind, flags, sequence, command, attributes, request))
            offset += (length + 3) & ~3
        return len(data)

    def recv_into(self, buffer: bytearray, /) -> int:
        if not self.datagrams:
            raise TimeoutError("timed out")
        data = self.datagrams.popleft()
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.closed = True

    # the kernel -------------------------------------------------------------
    def _answer(
        self, kind: int, flags: int, sequence: int, command: int, attributes: bytes, request: bytes
    ) -> list[bytes]:
        if kind == CTRL_ID:
            name = ControlAttrs.decode(attributes).require(ControlAttrs.family_name)
            if name != "IPVS":
                return [error(sequence, errno.ENOENT, request)]
            reply = ControlAttrs.family_id.pack(IPVS_FAMILY_ID)
            reply += ControlAttrs.family_name.pack(name)
            return [message(CTRL_ID, 0, sequence, genl(1, reply))]
        assert kind == IPVS_FAMILY_ID, kind
        self.requests.append((command, attributes))
        if command == Command.GET_INFO:
            info = codec.InfoAttrs.version.pack(self.info.version)
            info += codec.InfoAttrs.conn_tab_size.pack(self.info.connection_table_size)
            return [message(kind, 0, sequence, genl(command, info))]
        if command == Command.GET_SERVICE:
            parts = b"".join(
                message(kind, MULTI, sequence, genl(command, service_reply(s)))
                for s in self.kernel.services.values()
            )
            return [parts + message(DONE, MULTI, sequence, struct.pack("=i", 0))]
        if command == Command.GET_DEST:
            key = _service_key(CommandAttrs.decode(attributes).require(CommandAttrs.service))
            if key not in self.kernel.services:
                return [error(sequence, errno.ESRCH, request)]
            parts = b"".join(
                message(kind, MULTI, sequence, genl(command, destination_reply(d)))
                for d in self.kernel.services[key].destinations
            )
            return [parts + message(DONE, MULTI, sequence, struct.pack("=i", 0))]
        if command == Command.FLUSH:
            self.kernel.services.clear()
            return [error(sequence, 0, request)]
        if command == Command.ZERO:
            self.kernel.services = {
                k: replace(
                    s,
                    stats=Stats(),
                    destinations=tuple(
                        replace(d, counters=replace(d.counters, stats=Stats()))
                        for d in s.destinations
                    ),
                )
                for k, s in self.kernel.services.items()
            }
            return [error(sequence, 0, request)]
        (result,) = self.kernel.execute([operation_of(command, attributes)])
        return [error(sequence, result.errno or 0 if isinstance(result, OSError) else 0, request)]
