"""pop and pops (TLS from the first byte): greeting, USER/PASS if `login` is set, QUIT.

Up: the greeting is `+OK` and, when `login` is set, USER and PASS both answer
`+OK`, within negotiatetimeout. Difference: with an empty `login` the original
(Mail::POP3Client->new always returns an object) reports up even when nothing
answers; here the `+OK` greeting is required. Only USER/PASS is used, where
Mail::POP3Client would try APOP and CRAM-MD5 first when offered.
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


async def _ok(reader: asyncio.StreamReader, what: str) -> None:
    line = await net.readline(reader, what)
    if line[:3].upper() != b"+OK":
        kind = FailureKind.OTHER if what == "greeting" else FailureKind.LOGIN
        raise CheckFailed(f"{what}: {line[:40].decode('latin-1').strip()}", kind)


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    tls = spec.service == "pops"
    async with net.stream(spec.address, spec.checkport, tls=tls) as (reader, writer):
        await _ok(reader, "greeting")
        if spec.login:
            await net.send(writer, f"USER {spec.login}\r\n".encode())
            await _ok(reader, "USER")
            await net.send(writer, f"PASS {spec.passwd}\r\n".encode())
            await _ok(reader, "login")
        await net.send(writer, b"QUIT\r\n")
    return "logged in" if spec.login else "greeting ok"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="pop",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("pop", "pops"),
    default_ports=MappingProxyType({"pop": 110, "pops": 995}),
)
