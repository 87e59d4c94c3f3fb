"""The attribute-table machinery on its own: names, padding, nesting, and the checks."""

from __future__ import annotations

import pytest

from ldirectord_py.ipvs.errors import MalformedReply
from ldirectord_py.ipvs.nlattr import BE16, TEXT, U32, Attr, AttrTable, Nested, Raw


class Inner(AttrTable):
    PREFIX = "INNER_ATTR_"
    count = Attr(1, U32)


class Outer(AttrTable):
    PREFIX = "OUTER_ATTR_"
    port = Attr(1, BE16)
    label = Attr(2, TEXT)
    inner = Attr(3, Nested(Inner))
    blob = Attr(4, Raw(3))


def test_attributes_are_named_as_the_kernel_header_names_them() -> None:
    assert Outer.port.name == "OUTER_ATTR_PORT"
    assert Outer.by_number == {1: Outer.port, 2: Outer.label, 3: Outer.inner, 4: Outer.blob}
    assert repr(Inner.count) == "<INNER_ATTR_COUNT = 1: integer =I>"


def test_packed_attributes_are_padded_to_four_bytes_and_read_back() -> None:
    assert Outer.port.pack(80) == b"\x06\x00\x01\x00\x00\x50\x00\x00"
    data = Outer.port.pack(80) + Outer.label.pack("wrr") + Outer.inner.nest(Inner.count.pack(7))
    data += Outer.blob.pack(b"abc")
    read = Outer.decode(data)
    assert read.require(Outer.port) == 80 and read.get(Outer.label) == "wrr"
    assert read.require(Outer.inner).require(Inner.count) == 7
    assert read.require(Outer.blob) == b"abc"
    assert Outer.port in read and Outer.label in read


def test_a_missing_attribute_is_named_with_its_path() -> None:
    read = Outer.decode(Outer.inner.nest(b""))
    assert read.get(Outer.port) is None and read.get(Outer.port, 1) == 1
    with pytest.raises(MalformedReply, match="OUTER_ATTR_PORT missing"):
        read.require(Outer.port)
    with pytest.raises(MalformedReply, match=r"OUTER_ATTR_INNER\.INNER_ATTR_COUNT missing"):
        read.require(Outer.inner).require(Inner.count)


def test_a_bad_nested_attribute_is_named_when_the_set_is_read() -> None:
    read = Outer.decode(Outer.inner.nest(Inner.count.wrap(b"\x01")))
    with pytest.raises(MalformedReply, match=r"OUTER_ATTR_INNER\.INNER_ATTR_COUNT is 1 bytes"):
        read.get(Outer.inner, read).get(Inner.count)


def test_a_table_cannot_list_a_number_twice() -> None:
    with pytest.raises(TypeError, match="attribute number 1 twice"):

        class Twice(AttrTable):
            a = Attr(1, U32)
            b = Attr(1, U32)


def test_wrong_values_are_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="2 bytes where 3 are needed"):
        Outer.blob.pack(b"ab")
    with pytest.raises(ValueError, match="out of range"):
        Attr(0x4000, U32)
    with pytest.raises(TypeError, match="nest"):
        Outer.inner.pack(Outer.decode(b""))
