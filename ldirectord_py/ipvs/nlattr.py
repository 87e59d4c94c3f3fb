"""Netlink attributes described as data: a table class per attribute set, one line
per attribute (number, wire type), and one checked decoder for all of them.

A protocol is then a handful of tables (see `ipvs/codec.py`) instead of module
constants and hand-written `struct` calls. Decoding checks what a hand-written
decoder tends to skip: every attribute lies inside its buffer, has exactly the
length its type has, and holds a value of its type (a known enum member, text
that decodes). A reply that breaks any of this raises MalformedReply naming the
attribute, with the path through nested sets:
`IPVS_CMD_ATTR_DEST.IPVS_DEST_ATTR_PORT is 3 bytes, expected 2`. Attributes a
table does not list are skipped, as a newer kernel may send more than we know.

    class Point(AttrTable):
        PREFIX = "POINT_ATTR_"
        x = Attr(1, U32)
        label = Attr(2, TEXT)

    data = Point.x.pack(7) + Point.label.pack("a")
    Point.decode(data).require(Point.x)  # 7
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum
from typing import Any, ClassVar, Generic, TypeVar, cast, overload

from ldirectord_py.ipvs.errors import MalformedReply

T = TypeVar("T")
E = TypeVar("E", bound=IntEnum)

#: the action a decoding error carries until the caller names what it was doing
DECODING = "decode a netlink reply"

_HEADER = struct.Struct("=HH")
_HEADER_SIZE = _HEADER.size
_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER


class Codec(Generic[T]):
    """How one attribute's payload is laid out: its exact size (None: any) and value.

    `scalar`, for a plain integer, lets the decoder and `Attr.pack` call the struct
    directly: thousands of destinations per table read make the extra Python call
    per attribute matter.
    """

    size: int | None = None
    scalar: struct.Struct | None = None

    def decode(self, data: bytes, start: int, length: int) -> T:
        """The value of `length` bytes at `start`; ValueError if they are not one."""
        raise NotImplementedError

    def encode(self, value: T) -> bytes:
        raise NotImplementedError

    def encoder(self) -> Callable[[T], bytes]:
        """The cheapest callable that encodes a value (a struct's own pack for integers)."""
        return self.encode

    def describe(self) -> str:
        return type(self).__name__.lower()


class Integer(Codec[int]):
    """A fixed-width integer in the byte order of `layout` (a struct format)."""

    def __init__(self, layout: str) -> None:
        self._struct = struct.Struct(layout)
        self.scalar = self._struct
        self.size = self._struct.size
        self._layout = layout

    def decode(self, data: bytes, start: int, length: int) -> int:
        value: int = self._struct.unpack_from(data, start)[0]
        return value

    def encode(self, value: int) -> bytes:
        return self._struct.pack(value)

    def encoder(self) -> Callable[[int], bytes]:
        return self._struct.pack

    def describe(self) -> str:
        return f"integer {self._layout}"


class Words(Codec[tuple[int, ...]]):
    """A fixed C struct of integers (`struct ip_vs_flags` is two u32)."""

    def __init__(self, layout: str) -> None:
        self._struct = struct.Struct(layout)
        self.size = self._struct.size

    def decode(self, data: bytes, start: int, length: int) -> tuple[int, ...]:
        values: tuple[int, ...] = self._struct.unpack_from(data, start)
        return values

    def encode(self, value: tuple[int, ...]) -> bytes:
        return self._struct.pack(*value)


class Raw(Codec[bytes]):
    """Bytes of a fixed length whose meaning depends on another attribute
    (an address union whose family is sent beside it)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, data: bytes, start: int, length: int) -> bytes:
        return data[start : start + length]

    def encode(self, value: bytes) -> bytes:
        if len(value) != self.size:
            raise ValueError(f"{len(value)} bytes where {self.size} are needed")
        return value


class Text(Codec[str]):
    """A NUL-terminated UTF-8 string (nla_put_string)."""

    def decode(self, data: bytes, start: int, length: int) -> str:
        raw = bytes(data[start : start + length]).split(b"\0", 1)[0]
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise ValueError(f"not UTF-8 text: {raw[:32]!r}") from None

    def encode(self, value: str) -> bytes:
        return value.encode() + b"\0"


class Enumerated(Codec[E]):
    """An integer that must be a member of an enum (after `mask`, when given)."""

    def __init__(self, integer: Integer, enum: type[E], mask: int | None = None) -> None:
        self._integer = integer
        self._enum = enum
        self._mask = -1 if mask is None else mask
        self._members = {int(member): member for member in enum}
        self.size = integer.size

    def decode(self, data: bytes, start: int, length: int) -> E:
        value = self._integer.decode(data, start, length) & self._mask
        try:
            return self._members[value]
        except KeyError:
            raise ValueError(f"{value} is not a known {self._enum.__name__}") from None

    def encode(self, value: E) -> bytes:
        return self._integer.encode(value)

    def encoder(self) -> Callable[[E], bytes]:
        return self._integer.encoder()  # an IntEnum packs as its int


class Nested(Codec["Attributes"]):
    """An attribute whose payload is a set of attributes of another table."""

    def __init__(self, table: type[AttrTable]) -> None:
        self.table = table

    def decode(self, data: bytes, start: int, length: int) -> Attributes:
        return self.table.decode(data, start, start + length)

    def encode(self, value: Attributes) -> bytes:
        raise TypeError("build a nested attribute with Attr.nest(), from packed attributes")


U8 = Integer("=B")
U16 = Integer("=H")
U32 = Integer("=I")
U64 = Integer("=Q")
BE16 = Integer(">H")
BE32 = Integer(">I")
TEXT = Text()


class Attr(Generic[T]):
    """One attribute of a table: its number and wire type. The table names it
    (PREFIX + the attribute's name in upper case, as the kernel header does)."""

    __slots__ = ("_encode", "_header", "_padding", "codec", "decode", "name", "number", "size")

    def __init__(self, number: int, codec: Codec[T]) -> None:
        if not 0 < number <= _TYPE_MASK:
            raise ValueError(f"attribute number {number} out of range")
        self.number = number
        self.codec = codec
        self.name = f"attribute {number}"
        self.size = codec.size
        self.decode = codec.decode
        self._encode = codec.encoder()
        self._header: bytes | None = None
        self._padding = b""
        if codec.size is not None:  # fixed size (each codec checks it): header made once
            self._header = _HEADER.pack(_HEADER_SIZE + codec.size, number)
            self._padding = b"\0" * (-(_HEADER_SIZE + codec.size) % 4)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = str(getattr(owner, "PREFIX", "")) + name.upper()

    def __repr__(self) -> str:
        return f"<{self.name} = {self.number}: {self.codec.describe()}>"

    def pack(self, value: T) -> bytes:
        """The attribute on the wire: header, payload, padding to 4 bytes."""
        if self._header is not None:
            return self._header + self._encode(value) + self._padding
        return self.wrap(self._encode(value))

    def nest(self, *packed: bytes) -> bytes:
        """A nested attribute holding attributes already packed."""
        return self.wrap(b"".join(packed))

    def wrap(self, payload: bytes) -> bytes:
        length = _HEADER_SIZE + len(payload)
        return _HEADER.pack(length, self.number) + payload + b"\0" * (-length % 4)


#: how the decoder reads an attribute other than a plain integer: the attribute,
#: its size, the codec's decode, the table of a nested set, its name as a path
_Step = tuple["Attr[Any]", int | None, Any, "type[AttrTable] | None", str]


class AttrTable:
    """A set of attributes (a kernel `*_ATTR_*` enum). Subclasses list `Attr`s as
    class attributes; `decode` reads a buffer of them with every check."""

    PREFIX: ClassVar[str] = ""
    by_number: ClassVar[dict[int, Attr[Any]]] = {}
    _scalars: ClassVar[dict[int, tuple[Attr[int], int, Any]]] = {}
    _others: ClassVar[dict[int, _Step]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        table: dict[int, Attr[Any]] = {}
        for value in vars(cls).values():
            if isinstance(value, Attr):
                if value.number in table:
                    raise TypeError(f"{cls.__name__}: attribute number {value.number} twice")
                table[value.number] = value
        cls.by_number = table
        # what the decoder needs of each attribute, in one lookup: plain integers
        # are read by their struct directly
        cls._scalars = {
            n: (a, a.codec.scalar.size, a.codec.scalar.unpack_from)
            for n, a in table.items()
            if a.codec.scalar is not None
        }
        cls._others = {
            n: (
                a,
                a.size,
                a.decode,
                a.codec.table if isinstance(a.codec, Nested) else None,
                a.name + ".",
            )
            for n, a in table.items()
            if a.codec.scalar is None
        }

    @classmethod
    def decode(cls, data: bytes, start: int = 0, end: int | None = None) -> Attributes:
        """The attributes in data[start:end] (immutable: nested sets are read from it
        when first asked for). Raises MalformedReply (action DECODING) for one that
        does not fit, has the wrong length or holds a bad value."""
        return Attributes(cls, _parse(cls, data, start, len(data) if end is None else end, ""))


def _parse(
    table: type[AttrTable], data: bytes, start: int, end: int, path: str
) -> dict[Attr[Any], Any]:
    scalars = table._scalars
    others = table._others
    values: dict[Attr[Any], Any] = {}
    offset = start
    unpack = _HEADER.unpack_from
    try:
        while offset < end:
            length, number = unpack(data, offset)
            after = offset + length
            if length < 4 or after > end:
                raise _Overrun(number, length, end - offset)
            number &= 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
            scalar = scalars.get(number)
            if scalar is not None:
                attr, size, unpack_value = scalar
                if length - 4 != size:
                    raise _WrongSize(attr, length - 4)
                values[attr] = unpack_value(data, offset + 4)[0]
            else:
                step = others.get(number)
                if step is not None:
                    attr, fixed, decode, nested, name = step
                    if fixed is not None and length - 4 != fixed:
                        raise _WrongSize(attr, length - 4)
                    if nested is not None:
                        inner = path + name
                        values[attr] = Attributes(nested, None, data, offset + 4, after, inner)
                    else:
                        values[attr] = decode(data, offset + 4, length - 4)
            offset = (after + 3) & ~3
    except struct.error:  # fewer than 4 bytes left for a header
        problem = f"{end - offset} stray bytes after the last {table.PREFIX}* attribute"
        raise MalformedReply(DECODING, path + problem) from None
    except _Overrun as e:
        known = table.by_number.get(e.number & _TYPE_MASK)
        name = known.name if known is not None else f"{table.PREFIX}* {e.number & _TYPE_MASK}"
        problem = f"{name} claims {e.length} bytes with {e.left} left in its buffer"
        raise MalformedReply(DECODING, path + problem) from None
    except _WrongSize as e:
        problem = f"{e.attr.name} is {e.size} bytes, expected {e.attr.size}"
        raise MalformedReply(DECODING, path + problem) from None
    except ValueError as e:  # a codec's: the attribute being read is the one at offset
        (number,) = struct.unpack_from("=H", data, offset + 2)
        attr_name = table.by_number[number & _TYPE_MASK].name
        raise MalformedReply(DECODING, f"{path}{attr_name}: {e}") from None
    return values


class _Overrun(Exception):
    def __init__(self, number: int, length: int, left: int) -> None:
        self.number, self.length, self.left = number, length, left


class _WrongSize(Exception):
    def __init__(self, attr: Attr[Any], size: int) -> None:
        self.attr, self.size = attr, size


class Attributes:
    """The decoded attributes of one buffer, read through the table's `Attr`s.

    A nested set is parsed when first read: the 32-bit counter block the kernel
    sends beside the 64-bit one costs nothing when only the 64-bit one is used.
    """

    __slots__ = ("_data", "_end", "_path", "_start", "_values", "table")

    def __init__(
        self,
        table: type[AttrTable],
        values: dict[Attr[Any], Any] | None,
        data: bytes = b"",
        start: int = 0,
        end: int = 0,
        path: str = "",
    ) -> None:
        self.table = table
        self._values = values
        self._data = data
        self._start = start
        self._end = end
        self._path = path  # "OUTER_ATTR_X." for a nested set: names its attributes

    def _load(self) -> dict[Attr[Any], Any]:
        values = _parse(self.table, self._data, self._start, self._end, self._path)
        self._values = values
        self._data = b""
        return values

    def __contains__(self, attr: Attr[Any]) -> bool:
        values = self._values if self._values is not None else self._load()
        return attr in values

    def __repr__(self) -> str:
        values = self._values if self._values is not None else self._load()
        shown = ", ".join(f"{a.name}={v!r}" for a, v in values.items())
        return f"<{self.table.__name__} {shown}>"

    @overload
    def get(self, attr: Attr[T]) -> T | None: ...

    @overload
    def get(self, attr: Attr[T], default: T) -> T: ...

    def get(self, attr: Attr[T], default: T | None = None) -> T | None:
        values = self._values if self._values is not None else self._load()
        return cast("T | None", values.get(attr, default))

    def require(self, attr: Attr[T]) -> T:
        """The attribute's value; MalformedReply if the reply lacks it."""
        values = self._values if self._values is not None else self._load()
        try:
            return cast(T, values[attr])
        except KeyError:
            raise MalformedReply(DECODING, f"{self._path}{attr.name} missing") from None

    def each(self, attrs: tuple[Attr[int], ...]) -> list[int]:
        """The values of several integer attributes in order, 0 for a missing one."""
        values = self._values if self._values is not None else self._load()
        return [values.get(a, 0) for a in attrs]
