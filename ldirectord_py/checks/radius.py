"""radius: one Access-Request with `login`, `passwd` and `secret`.

What is sent: an Access-Request (RFC 2865) with User-Name = `login`,
User-Password = `passwd` hidden with `secret`, NAS-IP-Address = our address
(IPv4) and a Message-Authenticator (RFC 3579; the original sent none, servers
hardened against BlastRADIUS may require it). One datagram, no retransmission,
to the real's check port.

Up: a well-formed reply with our identifier and a valid Response Authenticator
within checktimeout that accepts the credentials (Access-Accept), as in the
original: its Authen::Radius check_pwd returns false for an Access-Reject, which
ldirectord counts as down -- verified against FreeRADIUS in tests/checks (the
spec's quirk 16, "a reject counts as alive", is not what the original does).
Down on Access-Reject, silence, an ICMP error, and a reply that does not
authenticate (garbage, wrong secret). REJECT_IS_ALIVE flips the reject case.

The protocol is spoken directly (a request and a reply are some forty lines of
RFC 2865) instead of through pyrad, which needs a dictionary file and runs its
own transports for what is one datagram each way.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import struct
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, checktimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

ACCESS_REQUEST = 1
CODES = {2: "Access-Accept", 3: "Access-Reject", 11: "Access-Challenge"}
REJECT_IS_ALIVE = False
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS, MESSAGE_AUTHENTICATOR = 1, 2, 4, 80


def attribute(kind: int, value: bytes) -> bytes:
    if len(value) > 253:
        value = value[:253]
    return struct.pack("!BB", kind, len(value) + 2) + value


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    padded = password + b"\0" * (-len(password) % 16 or (16 if not password else 0))
    out = b""
    last = authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + last).digest()
        block = bytes(a ^ b for a, b in zip(padded[i : i + 16], key, strict=True))
        out += block
        last = block
    return out[:128]


def access_request(ident: int, authenticator: bytes, spec: CheckSpec, nas_ip: str | None) -> bytes:
    secret = spec.secret.encode("utf-8")
    attrs = b""
    if spec.login:
        attrs += attribute(USER_NAME, spec.login.encode("utf-8"))
    attrs += attribute(
        USER_PASSWORD, hide_password(spec.passwd.encode("utf-8"), secret, authenticator)
    )
    if nas_ip:
        attrs += attribute(NAS_IP_ADDRESS, ipaddress.IPv4Address(nas_ip).packed)
    placeholder = attribute(MESSAGE_AUTHENTICATOR, b"\0" * 16)
    length = 20 + len(attrs) + len(placeholder)
    header = struct.pack("!BBH", ACCESS_REQUEST, ident, length) + authenticator
    mac = hmac.new(secret, header + attrs + placeholder, hashlib.md5).digest()
    return header + attrs + attribute(MESSAGE_AUTHENTICATOR, mac)


def verify_reply(data: bytes, ident: int, authenticator: bytes, secret: bytes) -> int:
    """The reply's code if it is ours and authentic; CheckFailed otherwise."""
    if len(data) < 20:
        raise CheckFailed("malformed reply", FailureKind.MALFORMED)
    code, rid, length = struct.unpack("!BBH", data[:4])
    if length < 20 or length > len(data):
        raise CheckFailed("malformed reply", FailureKind.MALFORMED)
    if rid != ident:
        raise CheckFailed("reply to another request", FailureKind.MALFORMED)
    data = data[:length]
    expected = hashlib.md5(data[:4] + authenticator + data[20:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:20]):
        raise CheckFailed("reply does not authenticate (wrong secret?)", FailureKind.LOGIN)
    return int(code)


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    ident = os.urandom(1)[0]
    authenticator = os.urandom(16)
    async with net.Datagram(spec.family) as sock:
        await sock.connect(spec.address, spec.checkport)
        local = sock.local()[0]
        nas_ip = local if spec.family == 4 else None
        await sock.send(access_request(ident, authenticator, spec, nas_ip))
        data = await sock.recv()
    code = verify_reply(data, ident, authenticator, spec.secret.encode("utf-8"))
    name = CODES.get(code, f"code {code}")
    if code == 2 or (REJECT_IS_ALIVE and code in CODES):
        return name
    raise CheckFailed(name, FailureKind.LOGIN)


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="radius",
    check=check,
    deadline=checktimeout,
    fd_cost=1,
    slotted=False,
    services=("radius",),
    default_ports=MappingProxyType({"radius": 1812}),
)
