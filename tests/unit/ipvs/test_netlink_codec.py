"""The netlink backend without a kernel: wire encoding, decoding, and a missing ip_vs.

The real kernel's answers are tested in tests/kernel/test_netlink.py.
"""

from __future__ import annotations

import asyncio
import errno
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings

from ldirectord_py.ipvs import codec
from ldirectord_py.ipvs.codec import CommandAttrs, DestAttrs, ServiceAttrs
from ldirectord_py.ipvs.model import (
    Destination,
    Family,
    Forwarding,
    SchedFlags,
    Stats,
    VirtualService,
)
from ldirectord_py.ipvs.netlink import (
    UNAVAILABLE_MESSAGE,
    AsyncIPVS,
    IPVSError,
    IPVSUnavailable,
    NetlinkIPVS,
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
from tests.unit.ipvs.test_reconcile import tables


def test_this_host_without_ip_vs_says_so_plainly() -> None:
    if Path("/proc/net/ip_vs").exists():  # a host with ip_vs: the backend opens
        NetlinkIPVS().close()
        return
    with pytest.raises(IPVSUnavailable) as raised:
        NetlinkIPVS()
    assert str(raised.value) == "ip_vs is not available: load the ip_vs module"
    assert raised.value.errno == errno.ENOENT


def test_a_missing_netlink_family_is_ip_vs_unavailable() -> None:
    class Elsewhere(NetlinkIPVS):
        FAMILY = b"NO-SUCH-FAMILY"

    with pytest.raises(IPVSUnavailable, match=UNAVAILABLE_MESSAGE):
        Elsewhere()


def test_kernel_refusals_name_the_object_and_the_errno() -> None:
    op = DeleteDestination(
        VirtualService.tcp("192.0.2.1", 80).key, Destination.of("10.0.0.1", 80).key
    )
    error = IPVSError(str(op), errno.ENOENT)
    assert str(error) == (
        "delete destination 10.0.0.1:80 from TCP 192.0.2.1:80: No such file or directory (ENOENT)"
    )
    assert isinstance(error, OSError) and error.errno == errno.ENOENT
    assert str(IPVSError("add service TCP 192.0.2.1:80", errno.EEXIST)) == (
        "add service TCP 192.0.2.1:80: File exists (EEXIST)"
    )


def nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, built here independently of the codec's tables."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def kernel_reply(attribute: int, body: bytes) -> bytes:
    """What the kernel sends back for a service or destination (without the genl header)."""
    return nla(attribute, body)


@settings(max_examples=100, deadline=None)
@given(tables())
def test_services_and_destinations_survive_the_wire(table: object) -> None:
    for service in table:  # type: ignore[attr-defined]
        reply = kernel_reply(CommandAttrs.service.number, codec.service_attributes(service))
        assert codec.decode_service(reply) == service
        for d in service.destinations:
            body = codec.destination_attributes(d, with_settings=True)
            decoded = codec.decode_destination(
                kernel_reply(CommandAttrs.dest.number, body), service.family
            )
            assert decoded == d


def test_netmask_byte_order_is_what_ipvsadm_sends() -> None:
    v4 = VirtualService.tcp("192.0.2.1", 80, persistence=1, netmask=0xFFFFFF00)
    v6 = VirtualService.tcp("2001:db8::1", 80, persistence=1, netmask=64)
    mask4 = ServiceAttrs.decode(codec.service_attributes(v4)).require(ServiceAttrs.netmask)
    mask6 = ServiceAttrs.decode(codec.service_attributes(v6)).require(ServiceAttrs.netmask)
    assert mask4 == bytes([255, 255, 255, 0])
    assert mask6 == struct.pack("=I", 64)  # "128.0.0.0" for /128 on x86, as ipvsadm sends


def test_addresses_travel_in_the_16_byte_union() -> None:
    data = codec.service_attributes(VirtualService.tcp("192.0.2.1", 80))
    attrs = ServiceAttrs.decode(data)
    assert attrs.require(ServiceAttrs.addr) == bytes([192, 0, 2, 1]) + bytes(12)
    assert attrs.require(ServiceAttrs.port) == 80
    assert ServiceAttrs.port.pack(80)[4:6] == b"\x00\x50"


def _stats_block(kind: int, values: list[int], wide: set[int]) -> bytes:
    return nla(
        kind,
        b"".join(
            nla(i + 1, struct.pack("=Q" if i + 1 in wide else "=I", v))
            for i, v in enumerate(values)
        ),
    )


def test_counters_come_from_the_64_bit_block_when_there_is_one() -> None:
    d = Destination.of("10.0.0.1", 80, Forwarding.MASQ)
    body = codec.destination_attributes(d, with_settings=True)
    stats64 = _stats_block(
        DestAttrs.stats64.number, [2**33 + i for i in range(10)], set(range(1, 11))
    )
    stats32 = _stats_block(DestAttrs.stats.number, list(range(10)), {4, 5})
    counts = b"".join(
        nla(k, struct.pack("=I", v))
        for k, v in (
            (DestAttrs.active_conns.number, 3),
            (DestAttrs.inact_conns.number, 4),
            (DestAttrs.persist_conns.number, 5),
        )
    )
    wide = codec.decode_destination(
        kernel_reply(CommandAttrs.dest.number, body + counts + stats32 + stats64), Family.INET
    )
    assert wide.counters.stats == Stats(*[2**33 + i for i in range(10)])
    assert (wide.counters.active_connections, wide.counters.inactive_connections) == (3, 4)
    assert wide.counters.persistent_connections == 5
    narrow = codec.decode_destination(
        kernel_reply(CommandAttrs.dest.number, body + stats32), Family.INET
    )
    assert narrow.counters.stats == Stats(*range(10))


def test_an_ipv4_destination_under_an_ipv6_service_keeps_its_family() -> None:
    d = Destination.of("10.0.0.1", 80, Forwarding.TUNNEL)
    reply = kernel_reply(CommandAttrs.dest.number, codec.destination_attributes(d, True))
    assert codec.decode_destination(reply, Family.INET6) == d


V4 = VirtualService.tcp(
    "192.0.2.1",
    80,
    scheduler="sh",
    sched_flags=SchedFlags.FLAG_1,
    persistence=300,
    netmask=0xFFFFFF00,
    pe_name="sip",
)
V6 = VirtualService.firewall_mark(7, Family.INET6, scheduler="wrr", persistence=60, netmask=64)
D4 = Destination.of(
    "10.0.0.1", 8080, Forwarding.MASQ, weight=5, upper_threshold=100, lower_threshold=10
)
D6 = Destination.of("2001:db8::5", 443, Forwarding.TUNNEL, weight=0)

# The bytes the hand-written encoder sent before the codec became tables
# (recorded from main at 54696d2): the tables send exactly the same.
RECORDED_REQUESTS = [
    (
        AddService(V4),
        1,
        "5c0001000600010002000000060002000600000014000300c0000201000000000000000000000000"
        "060004000050000007000600736800000c00070009000000ffffffff080008002c01000008000900"
        "ffffff0008000b0073697000",
    ),
    (
        EditService(V6),
        2,
        "38000100060001000a000000080005000700000008000600777272000c00070001000000ffffffff"
        "080008003c0000000800090040000000",
    ),
    (
        DeleteService(V4.key),
        3,
        "300001000600010002000000060002000600000014000300c0000201000000000000000000000000"
        "0600040000500000",
    ),
    (
        AddDestination(V4.key, D4),
        5,
        "300001000600010002000000060002000600000014000300c0000201000000000000000000000000"
        "06000400005000004800020006000b0002000000140001000a000001000000000000000000000000"
        "060002001f900000080003000000000008000400050000000800050064000000080006000a000000",
    ),
    (
        EditDestination(V6.key, D6),
        6,
        "14000100060001000a00000008000500070000004800020006000b000a0000001400010020010db8"
        "0000000000000000000000050600020001bb00000800030002000000080004000000000008000500"
        "000000000800060000000000",
    ),
    (
        DeleteDestination(V4.key, D4.key),
        7,
        "300001000600010002000000060002000600000014000300c0000201000000000000000000000000"
        "06000400005000002800020006000b0002000000140001000a000001000000000000000000000000"
        "060002001f900000",
    ),
]


@pytest.mark.parametrize(("op", "command", "wire"), RECORDED_REQUESTS, ids=str)
def test_requests_are_the_bytes_the_hand_written_encoder_sent(
    op: Operation, command: int, wire: str
) -> None:
    request = codec.request_for(op)
    assert (request.command, request.attributes.hex()) == (command, wire)


def test_async_calls_run_on_one_worker_and_unavailability_is_retried() -> None:
    attempts: list[int] = []

    class Recorder:
        def __init__(self) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise IPVSUnavailable()
            self.seen: list[object] = []

        def execute(self, operations: list[object]) -> list[None]:
            return [None for _ in operations]

        def close(self) -> None:
            pass

    async def scenario() -> None:
        ipvs = AsyncIPVS(Recorder)  # type: ignore[arg-type]
        with pytest.raises(IPVSUnavailable):
            await ipvs.execute([AddService(VirtualService.tcp("192.0.2.1", 80))])
        report = await ipvs.apply([AddService(VirtualService.tcp("192.0.2.1", 80))])
        assert report.ok and report.applied == 1
        await ipvs.close()

    asyncio.run(scenario())
    assert len(attempts) == 2
