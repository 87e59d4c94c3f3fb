"""sip: an OPTIONS request to `sip:<login>` over the virtual's protocol.

What is sent (as the original): `OPTIONS sip:<login> SIP/2.0` with Via (our
address and port, a fixed branch), Max-Forwards 70, To, From (with a tag),
a random Call-ID, `CSeq: 63104 OPTIONS`, Contact, `Accept: application/sdp` and
`Content-Length: 0`. `login` defaults to `ldirectord@<hostname>`. Over udp it is
one datagram; over tcp (also fwmark virtuals) a stream. The Via transport says
TCP on a stream (the original always wrote UDP).

Up: the first line of the reply starts with `SIP/2.0 200 OK`, within
negotiatetimeout (over tcp the headers must also end: an empty line).
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

MAX_LINES = 200


def request(spec: CheckSpec, local: tuple[str, int], transport: str) -> bytes:
    host, port = local
    if ":" in host:
        host = f"[{host}]"
    login = spec.login
    return (
        f"OPTIONS sip:{login} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bKhjhs8ass877\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:{login}>\r\n"
        f"From: <sip:{login}>;tag=1928301774\r\n"
        f"Call-ID: {os.urandom(8).hex()}\r\n"
        "CSeq: 63104 OPTIONS\r\n"
        f"Contact: <sip:{login}>\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _status_ok(line: bytes) -> None:
    if not line.startswith(b"SIP/2.0 200 OK"):
        text = line[:40].decode("latin-1").strip()
        if text:
            raise CheckFailed(f"reply {text!r}", FailureKind.OTHER)
        raise CheckFailed("empty reply", FailureKind.NO_ANSWER)


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    if spec.protocol == "udp":
        async with net.Datagram(spec.family) as sock:
            await sock.connect(spec.address, spec.checkport)
            await sock.send(request(spec, sock.local(), "UDP"))
            data = await sock.recv()
        _status_ok(data.split(b"\n", 1)[0])
        return "200 OK"
    async with net.stream(spec.address, spec.checkport) as (reader, writer):
        sockname = writer.get_extra_info("sockname")
        await net.send(writer, request(spec, (sockname[0], sockname[1]), "TCP"))
        _status_ok(await net.readline(reader, "status line"))
        for _ in range(MAX_LINES):
            line = await reader.readline()
            if line.strip() == b"":
                return "200 OK"
        raise CheckFailed("reply headers too long", FailureKind.MALFORMED)


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="sip",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("sip",),
    default_ports=MappingProxyType({"sip": 5060}),
)
