"""smtp and submission: greeting, EHLO (HELO if EHLO is refused), QUIT.

What Net::SMTP->new does in the original: the greeting must be 2xx, then EHLO
(falling back to HELO) must be 2xx. Up: both succeed within negotiatetimeout.
Neither TLS nor authentication is attempted (the original attempts neither).
"""

from __future__ import annotations

import asyncio
import re
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

HELLO = "localhost.localdomain"  # Net::SMTP's default Hello
_REPLY = re.compile(rb"^(\d{3})([ -])")
MAX_REPLY_LINES = 100


async def read_reply(reader: asyncio.StreamReader, what: str) -> tuple[int, bytes]:
    """One (possibly multi-line) SMTP/FTP-style reply: code and first line."""
    first = b""
    for _ in range(MAX_REPLY_LINES):
        line = await net.readline(reader, what)
        m = _REPLY.match(line)
        if not m:
            raise CheckFailed(f"malformed {what}", FailureKind.MALFORMED)
        if not first:
            first = line.rstrip()
        if m.group(2) == b" ":
            return int(m.group(1)), first
    raise CheckFailed(f"{what} too long", FailureKind.MALFORMED)


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    async with net.stream(spec.address, spec.checkport) as (reader, writer):
        code, _ = await read_reply(reader, "greeting")
        if code // 100 != 2:
            raise CheckFailed(f"greeting {code}", FailureKind.OTHER)
        await net.send(writer, f"EHLO {HELLO}\r\n".encode())
        code, _ = await read_reply(reader, "EHLO reply")
        if code // 100 != 2:
            await net.send(writer, f"HELO {HELLO}\r\n".encode())
            code, _ = await read_reply(reader, "HELO reply")
            if code // 100 != 2:
                raise CheckFailed(f"HELO {code}", FailureKind.OTHER)
        await net.send(writer, b"QUIT\r\n")
    return "greeting and EHLO ok"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="smtp",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("smtp", "submission"),
    default_ports=MappingProxyType({"smtp": 25, "submission": 587}),
)
