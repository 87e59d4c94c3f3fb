"""ldap and ldaps (TLS from the first byte): bind, base-scope search of `request`.

What is sent (LDAPv3, as Net::LDAP in the original): a simple BindRequest, as
`login` with `passwd` when both are set, else anonymous; then a SearchRequest
with base = `request` minus its leading `/`, scope base, derefAliases
findingBaseObj, filter `(objectClass=*)`, asking for no attributes (`1.1`: only
the DN is used); then an UnbindRequest.

Up: the bind succeeds, the search returns exactly one entry, and `receive` is
empty or matches that entry's DN, all within checktimeout (the original's alarm;
its per-socket timeout was negotiatetimeout).

The protocol is spoken directly (a minimal BER codec for these four messages)
rather than through ldap3, which is blocking and unmaintained since 2021: on
asyncio the deadline is exact and no thread is parked on a hung server.
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net, regex
from ldirectord_py.checks.descriptor import CheckDescriptor, checktimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

MAX_MESSAGE = 1024 * 1024
MAX_MESSAGES = 1000

# BER tags
SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
ENUMERATED = 0x0A
BOOLEAN = 0x01
BIND_REQUEST = 0x60
BIND_RESPONSE = 0x61
UNBIND_REQUEST = 0x42
SEARCH_REQUEST = 0x63
SEARCH_ENTRY = 0x64
SEARCH_DONE = 0x65
SEARCH_REFERENCE = 0x73
SIMPLE_AUTH = 0x80
FILTER_PRESENT = 0x87


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def integer(value: int, tag: int = INTEGER) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def message(message_id: int, op: bytes) -> bytes:
    return tlv(SEQUENCE, integer(message_id) + op)


def bind_request(message_id: int, name: str, password: str) -> bytes:
    op = tlv(
        BIND_REQUEST,
        integer(3) + tlv(OCTET_STRING, name.encode()) + tlv(SIMPLE_AUTH, password.encode()),
    )
    return message(message_id, op)


def search_request(message_id: int, base: str) -> bytes:
    op = tlv(
        SEARCH_REQUEST,
        tlv(OCTET_STRING, base.encode())
        + integer(0, ENUMERATED)  # scope: baseObject
        + integer(2, ENUMERATED)  # derefAliases: derefFindingBaseObj (Net::LDAP's default)
        + integer(0)  # sizeLimit
        + integer(0)  # timeLimit
        + tlv(BOOLEAN, b"\x00")  # typesOnly
        + tlv(FILTER_PRESENT, b"objectClass")
        + tlv(SEQUENCE, tlv(OCTET_STRING, b"1.1")),
    )
    return message(message_id, op)


def unbind_request(message_id: int) -> bytes:
    return message(message_id, tlv(UNBIND_REQUEST, b""))


def parse(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """One TLV at `pos`: (tag, content, next position)."""
    if pos + 2 > len(data):
        raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
    first = data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    end = pos + length
    if end > len(data):
        raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
    return tag, data[pos:end], end


async def read_message(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """One LDAPMessage from the stream: (messageID, protocolOp tag, op content)."""
    head = await reader.readexactly(2)
    if head[0] != SEQUENCE:
        raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
    if head[1] & 0x80:
        count = head[1] & 0x7F
        if count == 0 or count > 4:
            raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
        extra = await reader.readexactly(count)
        length = int.from_bytes(extra, "big")
    else:
        length = head[1]
    if length > MAX_MESSAGE:
        raise CheckFailed("LDAP message too large", FailureKind.MALFORMED)
    body = await reader.readexactly(length)
    tag, raw_id, pos = parse(body)
    if tag != INTEGER:
        raise CheckFailed("malformed LDAP message", FailureKind.MALFORMED)
    op_tag, op, _ = parse(body, pos)
    return int.from_bytes(raw_id, "big", signed=True), op_tag, op


def result_code(op: bytes) -> int:
    tag, code, _ = parse(op)
    if tag != ENUMERATED:
        raise CheckFailed("malformed LDAP result", FailureKind.MALFORMED)
    return int.from_bytes(code, "big")


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    tls = spec.service == "ldaps"
    base = spec.request[1:]
    if spec.login and spec.passwd:
        name, password = spec.login, spec.passwd
    else:
        name, password = "", ""
    async with net.stream(spec.address, spec.checkport, tls=tls) as (reader, writer):
        await net.send(writer, bind_request(1, name, password))
        msg_id, tag, op = await read_message(reader)
        if msg_id != 1 or tag != BIND_RESPONSE:
            raise CheckFailed("unexpected reply to bind", FailureKind.MALFORMED)
        code = result_code(op)
        if code != 0:
            raise CheckFailed(f"bind failed (result {code})", FailureKind.LOGIN)
        await net.send(writer, search_request(2, base))
        dns: list[bytes] = []
        for _ in range(MAX_MESSAGES):
            msg_id, tag, op = await read_message(reader)
            if msg_id != 2:
                continue  # e.g. a notice of disconnection (id 0)
            if tag == SEARCH_ENTRY:
                _t, dn, _ = parse(op)
                dns.append(dn)
            elif tag == SEARCH_DONE:
                break
            elif tag != SEARCH_REFERENCE:
                raise CheckFailed("unexpected reply to search", FailureKind.MALFORMED)
        else:
            raise CheckFailed("search did not end", FailureKind.MALFORMED)
        await net.send(writer, unbind_request(3))
    if len(dns) != 1:
        raise CheckFailed(
            f"{len(dns)} entries found (want exactly 1)", FailureKind.RECEIVE_MISMATCH
        )
    dn_text = regex.as_bytes_text(dns[0])
    if not regex.is_empty_receive(spec.receive):
        try:
            matched = await regex.search(spec.receive, dn_text)
        except regex.BadPattern as e:
            raise CheckFailed(f"bad receive regex: {e}", FailureKind.MALFORMED) from e
        if not matched:
            raise CheckFailed("receive did not match", FailureKind.RECEIVE_MISMATCH)
    return "entry found"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="ldap",
    check=check,
    deadline=checktimeout,
    fd_cost=1,
    slotted=False,
    services=("ldap", "ldaps"),
    default_ports=MappingProxyType({"ldap": 389, "ldaps": 636}),
)
