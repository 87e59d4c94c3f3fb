"""NetlinkIPVS against a kernel at the netlink level (netlink_kernel.py): every message
kind goes out as bytes, is read back with the codec's tables, and comes back as
the kernel would send it; errors, acknowledgements, dumps and batches as the
transport sees them.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings

from ldirectord_py.ipvs.codec import Command
from ldirectord_py.ipvs.model import (
    Destination,
    DestinationCounters,
    Forwarding,
    IPVSInfo,
    Stats,
    Table,
    VirtualService,
)
from ldirectord_py.ipvs.netlink import IPVSError, IPVSUnavailable, MalformedReply, NetlinkIPVS
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)
from ldirectord_py.ipvs.reconcile import plan
from tests.unit.ipvs.netlink_kernel import (
    ERROR,
    NLMSG,
    NetlinkKernel,
    error,
    genl,
    message,
    operation_of,
)
from tests.unit.ipvs.test_reconcile import tables


def backend(kernel: NetlinkKernel) -> NetlinkIPVS:
    return NetlinkIPVS(sock=kernel)


@settings(max_examples=60, deadline=None)
@given(tables())
def test_a_table_programmed_from_empty_reads_back_the_same(table: Table) -> None:
    kernel = NetlinkKernel()
    with backend(kernel) as ipvs:
        results = ipvs.execute(plan(table, Table(), lambda key: True))
        assert results == [None] * len(results)
        assert ipvs.read_table() == table


@settings(max_examples=60, deadline=None)
@given(tables())
def test_every_operation_kind_reads_back_from_its_bytes(table: Table) -> None:
    """Each request, decoded with the tables as the kernel would, is the operation sent."""
    operations: list[Operation] = []
    for service in table:
        operations += [AddService(service), EditService(replace(service, scheduler="rr"))]
        for d in service.destinations:
            operations += [
                AddDestination(service.key, d),
                EditDestination(service.key, replace(d, weight=d.weight // 2)),
                DeleteDestination(service.key, d.key),
            ]
        operations.append(DeleteService(service.key))
    kernel = NetlinkKernel()
    with backend(kernel) as ipvs:
        assert ipvs.execute(operations) == [None] * len(operations)
    sent = [operation_of(command, attributes) for command, attributes in kernel.requests]
    assert sent == operations
    assert kernel.kernel.services == {}


def test_counters_and_info_come_back_as_the_kernel_sends_them() -> None:
    stats = Stats(*[2**40 + i for i in range(10)])
    d = Destination(
        Destination.of("10.0.0.1", 80).address,
        80,
        Forwarding.MASQ,
        5,
        counters=DestinationCounters(3, 4, 5, stats),
    )
    service = replace(VirtualService.tcp("192.0.2.1", 80), destinations=(d,), stats=stats)
    kernel = NetlinkKernel(Table((service,)), IPVSInfo(0x010201, 1 << 20))
    with backend(kernel) as ipvs:
        table = ipvs.read_table()
        assert table.info == IPVSInfo(0x010201, 1 << 20)
        (read,) = table.services
        assert read.stats == stats
        assert read.destinations[0].counters == DestinationCounters(3, 4, 5, stats)
        ipvs.zero()
        assert ipvs.read_table().services[0].destinations[0].counters.stats == Stats()
        ipvs.zero(service.key)
        ipvs.flush()
        assert ipvs.read_table().services == ()
    commands = [command for command, _ in kernel.requests]
    assert Command.ZERO in commands and Command.FLUSH in commands and kernel.closed


def test_refusals_in_a_batch_stay_with_their_operation() -> None:
    service = VirtualService.tcp("192.0.2.1", 80)
    d = Destination.of("10.0.0.1", 80)
    ops: list[Operation] = [
        AddService(service),
        AddService(service),
        AddDestination(service.key, d),
        DeleteDestination(service.key, Destination.of("10.0.0.2", 80).key),
    ]
    with backend(NetlinkKernel()) as ipvs:
        ipvs.BATCH = 3  # the batch boundary falls between two of them
        results = ipvs.execute(ops)
    assert [r.errno if r else None for r in results] == [None, errno.EEXIST, None, errno.ENOENT]
    assert str(results[1]) == "add service TCP 192.0.2.1:80: File exists (EEXIST)"


def test_a_refused_single_operation_raises() -> None:
    with backend(NetlinkKernel()) as ipvs, pytest.raises(IPVSError) as raised:
        ipvs.delete_service(VirtualService.tcp("192.0.2.1", 80).key)
    assert raised.value.errno == errno.ESRCH


def test_a_kernel_without_the_family_is_ip_vs_unavailable() -> None:
    class Elsewhere(NetlinkIPVS):
        FAMILY = b"NO-SUCH-FAMILY"

    kernel = NetlinkKernel()
    with pytest.raises(IPVSUnavailable):
        Elsewhere(sock=kernel)
    assert kernel.closed


def test_the_kernels_own_words_ride_on_the_error() -> None:
    kernel = NetlinkKernel()

    def answer(kind: int, flags: int, seq: int, cmd: int, attrs: bytes, req: bytes) -> list[bytes]:
        if kind == 0x10:
            return NetlinkKernel._answer(kernel, kind, flags, seq, cmd, attrs, req)
        text = b"Invalid scheduler\0"
        tlv = struct.pack("=HH", 4 + len(text), 1) + text + b"\0" * (-len(text) % 4)
        body = struct.pack("=i", -errno.ENOENT) + req[: NLMSG.size] + tlv
        return [message(ERROR, 0x100 | 0x200, seq, body)]

    kernel.answer = answer
    with backend(kernel) as ipvs, pytest.raises(IPVSError) as raised:
        ipvs.add_service(VirtualService.tcp("192.0.2.1", 80, scheduler="nope"))
    assert str(raised.value) == (
        "add service TCP 192.0.2.1:80: No such file or directory (ENOENT): Invalid scheduler"
    )


def test_replies_to_other_requests_are_skipped_and_a_silent_kernel_times_out() -> None:
    kernel = NetlinkKernel()
    with backend(kernel) as ipvs:
        original = kernel.answer

        def answer(*args: object) -> list[bytes]:
            stray = error(12345, errno.EPERM)  # an answer to someone else's sequence
            return [stray, *original(*args)]  # type: ignore[arg-type]

        kernel.answer = answer
        assert ipvs.read_table() == Table(info=IPVSInfo(0x010201, 4096))
        kernel.answer = lambda *args: []
        with pytest.raises(IPVSError) as raised:
            ipvs.read_info()
        assert raised.value.errno == errno.ETIMEDOUT


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (lambda seq: message(0x25, 0, seq, b"\x0f"), "has no genl header"),
        (lambda seq: message(ERROR, 0, seq, b"\x01"), "has no code"),
        (lambda seq: error(seq + 9, 0) + b"\x01\x02", "2 stray bytes after a message"),
        (lambda seq: message(0x25, 0, seq, genl(15, b""))[:-2], "claims 20 bytes with 18 left"),
        (lambda seq: NLMSG.pack(400, 0x25, 0, seq, 1) + bytes(8), "claims 400 bytes"),
        (lambda seq: message(0x25, 0, seq, genl(15, b"\x08\x00\x01\x00\x01")), "VERSION"),
        (lambda seq: message(0x25, 0, seq, genl(15, b"")), "IPVS_INFO_ATTR_VERSION missing"),
    ],
)
def test_a_broken_reply_is_a_malformed_reply_naming_the_fault(reply: object, problem: str) -> None:
    kernel = NetlinkKernel()
    with backend(kernel) as ipvs:
        kernel.answer = lambda kind, flags, seq, *rest: [reply(seq)]  # type: ignore[operator]
        with pytest.raises(MalformedReply) as raised:
            ipvs.read_info()
    assert raised.value.errno == errno.EPROTO
    assert str(raised.value).startswith("read ip_vs info: Protocol error (EPROTO): malformed reply")
    assert problem in str(raised.value)


def test_the_sequence_number_wraps_past_zero() -> None:
    kernel = NetlinkKernel()
    with backend(kernel) as ipvs:
        ipvs._link._sequence = 0xFFFFFFFE
        ipvs.read_info()
        ipvs.read_info()
    sequences = [NLMSG.unpack_from(m)[3] for m in kernel.sent[-2:]]
    assert sequences == [0xFFFFFFFF, 1]
