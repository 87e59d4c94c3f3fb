"""Replies the codec cannot trust: cut short, of the wrong length, with bytes
changed, or made of noise. Decoding either gives a value or raises IPVSError
(MalformedReply naming the attribute), never anything else; attributes it does
not know are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ldirectord_py.ipvs import codec
from ldirectord_py.ipvs.codec import CommandAttrs, DestAttrs, InfoAttrs, ServiceAttrs
from ldirectord_py.ipvs.errors import IPVSError, MalformedReply
from ldirectord_py.ipvs.model import Destination, Family, IPVSInfo, Table, VirtualService
from ldirectord_py.ipvs.netlink import NetlinkIPVS
from ldirectord_py.ipvs.nlattr import Attr, AttrTable
from tests.unit.ipvs.netlink_kernel import (
    NetlinkKernel,
    destination_reply,
    service_reply,
)
from tests.unit.ipvs.test_reconcile import tables

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Decoder = Callable[[bytes], object]


def decoders() -> list[Decoder]:
    return [
        codec.decode_service,
        lambda data: codec.decode_destination(data, Family.INET),
        lambda data: codec.decode_destination(data, Family.INET6),
        codec.decode_info,
    ]


def decodes_or_refuses(data: bytes) -> None:
    """The property: each decoder returns or raises IPVSError, nothing else."""
    for decode in decoders():
        try:
            decode(data)
        except IPVSError as e:
            assert isinstance(e, MalformedReply), e
            assert str(e).startswith("decode a netlink reply: Protocol error (EPROTO)")


def split(data: bytes) -> list[bytes]:
    """The attributes of a well-formed buffer, each with its padding."""
    parts, offset = [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("=H", data, offset)
        step = (length + 3) & ~3
        parts.append(data[offset : offset + step])
        offset += step
    return parts


def nla(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    """A well-formed GET_SERVICE or GET_DEST reply for a generated service."""
    table = draw(tables())
    assume(table.services)
    service = draw(st.sampled_from(table.services))
    use_destination = draw(st.booleans())
    if service.destinations and use_destination:
        return destination_reply(draw(st.sampled_from(service.destinations)))
    return service_reply(service)


@FUZZ
@given(replies(), st.data())
def test_a_reply_cut_anywhere_is_refused_or_read(reply: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(reply) - 1))
    decodes_or_refuses(reply[:cut])


@FUZZ
@given(replies(), st.data())
def test_changed_bytes_are_refused_or_read(reply: bytes, data: st.DataObject) -> None:
    changed = bytearray(reply)
    for _ in range(data.draw(st.integers(1, 4))):
        changed[data.draw(st.integers(0, len(reply) - 1))] = data.draw(st.integers(0, 255))
    decodes_or_refuses(bytes(changed))


@FUZZ
@given(st.binary(max_size=300))
def test_noise_is_refused_or_read(noise: bytes) -> None:
    decodes_or_refuses(noise)


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 4, 9, 10, 12]), st.binary(max_size=24)), max_size=8
    )
)
def test_attributes_of_any_length_are_refused_or_read(attributes: list[tuple[int, bytes]]) -> None:
    """Known numbers with payloads of any length, at the top and one level down."""
    body = b"".join(nla(kind, payload) for kind, payload in attributes)
    decodes_or_refuses(body)
    decodes_or_refuses(nla(CommandAttrs.service.number, body))
    decodes_or_refuses(nla(CommandAttrs.dest.number, body))


UNKNOWN_SERVICE = st.integers(13, 0x3FFF)
UNKNOWN_DEST = st.integers(16, 0x3FFF)  # 13-15: tunnel settings, not in the table either


@settings(max_examples=150, deadline=None)
@given(tables(), st.data())
def test_attributes_we_do_not_know_are_skipped(table: Table, data: st.DataObject) -> None:
    def with_unknown(body: bytes, numbers: st.SearchStrategy[int]) -> bytes:
        parts = split(body)
        for _ in range(data.draw(st.integers(1, 3))):
            extra = nla(data.draw(numbers), data.draw(st.binary(max_size=12)))
            parts.insert(data.draw(st.integers(0, len(parts))), extra)
        return b"".join(parts)

    for service in table:
        (inner,) = split(service_reply(service))
        body = with_unknown(inner[4:], UNKNOWN_SERVICE)
        top = with_unknown(nla(CommandAttrs.service.number, body), st.integers(3, 0x3FFF))
        decoded = codec.decode_service(top)
        assert decoded == service and decoded.stats == service.stats
        for d in service.destinations:
            (inner,) = split(destination_reply(d))
            reply = nla(CommandAttrs.dest.number, with_unknown(inner[4:], UNKNOWN_DEST))
            got = codec.decode_destination(reply, service.family)
            assert got == d and got.counters == d.counters


def _fixed(table: type[AttrTable]) -> list[Attr[object]]:
    return [a for a in table.by_number.values() if a.size is not None]


@pytest.mark.parametrize("attr", _fixed(ServiceAttrs), ids=lambda a: a.name)
@pytest.mark.parametrize("change", [-1, 1, 4])
def test_a_service_attribute_of_the_wrong_length_is_named(attr: Attr[object], change: int) -> None:
    service = VirtualService.tcp("192.0.2.1", 80, persistence=300)
    body = codec.service_attributes(service)
    _check_wrong_length(body, attr, change, CommandAttrs.service.number, codec.decode_service)


@pytest.mark.parametrize("attr", _fixed(DestAttrs), ids=lambda a: a.name)
@pytest.mark.parametrize("change", [-1, 1, 4])
def test_a_destination_attribute_of_the_wrong_length_is_named(
    attr: Attr[object], change: int
) -> None:
    (inner,) = split(destination_reply(Destination.of("10.0.0.1", 80)))
    _check_wrong_length(
        inner[4:],
        attr,
        change,
        CommandAttrs.dest.number,
        lambda data: codec.decode_destination(data, Family.INET),
    )


def _check_wrong_length(
    body: bytes, attr: Attr[object], change: int, top: int, decode: Decoder
) -> None:
    assert attr.size is not None
    parts = [p for p in split(body) if struct.unpack_from("=H", p, 2)[0] != attr.number]
    parts.append(nla(attr.number, bytes(attr.size + change)))
    with pytest.raises(MalformedReply) as raised:
        decode(nla(top, b"".join(parts)))
    assert f"{attr.name} is {attr.size + change} bytes, expected {attr.size}" in str(raised.value)


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: ServiceAttrs.af.wrap(struct.pack("=H", 7)), "IPVS_SVC_ATTR_AF: 7 is not a known"),
        (
            lambda: ServiceAttrs.af.pack(Family.INET) + ServiceAttrs.protocol.wrap(b"\x63\x00"),
            "IPVS_SVC_ATTR_PROTOCOL: 99 is not a known Protocol",
        ),
        (
            lambda: (
                codec.service_attributes(VirtualService.tcp("192.0.2.1", 80))[:-8]
                + ServiceAttrs.sched_name.wrap(b"\xff\xfe\0")
            ),
            "IPVS_SVC_ATTR_SCHED_NAME: not UTF-8 text",
        ),
        (lambda: ServiceAttrs.af.pack(Family.INET), "IPVS_SVC_ATTR_PROTOCOL missing"),
        (
            lambda: ServiceAttrs.stats64.wrap(nla(1, b"\0\0\0\0")),
            "IPVS_CMD_ATTR_SERVICE.IPVS_SVC_ATTR_STATS64.IPVS_STATS_ATTR_CONNS is 4 bytes",
        ),
    ],
)
def test_a_service_attribute_of_the_wrong_type_is_named(
    build: Callable[[], bytes], named: str
) -> None:
    body = build()
    if b"STATS64" in named.encode():
        service = codec.service_attributes(VirtualService.tcp("192.0.2.1", 80))
        body = service + body
    with pytest.raises(MalformedReply) as raised:
        codec.decode_service(nla(CommandAttrs.service.number, body))
    assert named in str(raised.value)


def test_a_destination_with_an_impossible_value_is_refused_not_a_value_error() -> None:
    d = codec.destination_attributes(Destination.of("10.0.0.1", 80), with_settings=True)
    parts = [p for p in split(d) if struct.unpack_from("=H", p, 2)[0] != DestAttrs.weight.number]
    weight = DestAttrs.weight.pack(0xFFFFFFFF)
    with pytest.raises(MalformedReply, match="IPVS_CMD_ATTR_DEST: weight 4294967295 out of range"):
        reply = nla(CommandAttrs.dest.number, b"".join(parts) + weight)
        codec.decode_destination(reply, Family.INET)
    forwarding = DestAttrs.fwd_method.wrap(struct.pack("=I", 6))
    with pytest.raises(MalformedReply, match="IPVS_DEST_ATTR_FWD_METHOD: 6 is not a known"):
        codec.decode_destination(nla(CommandAttrs.dest.number, d + forwarding), Family.INET)


def test_info_reads_back() -> None:
    data = InfoAttrs.version.pack(0x010201) + InfoAttrs.conn_tab_size.pack(4096)
    assert codec.decode_info(data) == IPVSInfo(0x010201, 4096)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data())
def test_a_backend_reading_damaged_datagrams_raises_only_ipvs_errors(
    table: Table, data: st.DataObject
) -> None:
    """The whole path (transport framing, then the codec) behind read_table."""
    kernel = NetlinkKernel(table)
    with NetlinkIPVS(sock=kernel) as ipvs:
        honest = kernel.answer

        def damaged(*args: object) -> list[bytes]:
            out = []
            for datagram in honest(*args):  # type: ignore[arg-type]
                changed = bytearray(datagram)
                if data.draw(st.booleans()):
                    del changed[data.draw(st.integers(0, len(changed) - 1)) :]
                for _ in range(data.draw(st.integers(0, 3))):
                    if changed:
                        where = data.draw(st.integers(0, len(changed) - 1))
                        changed[where] = data.draw(st.integers(0, 255))
                out.append(bytes(changed))
            return out

        kernel.answer = damaged
        outcome: Table | IPVSError
        try:
            outcome = ipvs.read_table()
        except IPVSError as e:  # anything else fails the test
            outcome = e
        assert isinstance(outcome, Table | IPVSError)
