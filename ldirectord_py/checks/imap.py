"""imap and imaps (TLS from the first byte): greeting, LOGIN if `login` is set, LOGOUT.

Up: the greeting is `* OK` or `* PREAUTH` and, when `login` is set, `LOGIN` gets a
tagged OK, within negotiatetimeout (Net::IMAP::Simple in the original).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

_GREETING = re.compile(rb"^\*\s+(OK|PREAUTH)\b", re.IGNORECASE)
MAX_UNTAGGED = 1000


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    tls = spec.service == "imaps"
    async with net.stream(spec.address, spec.checkport, tls=tls) as (reader, writer):
        greeting = await net.readline(reader, "greeting")
        if not _GREETING.match(greeting):
            raise CheckFailed("bad greeting", FailureKind.MALFORMED)
        if spec.login:
            command = f"a001 LOGIN {quoted(spec.login)} {quoted(spec.passwd)}\r\n"
            await net.send(writer, command.encode())
            for _ in range(MAX_UNTAGGED):
                line = await net.readline(reader, "LOGIN reply")
                if line.startswith(b"a001 "):
                    if not line[5:7].upper() == b"OK":
                        raise CheckFailed("login failed", FailureKind.LOGIN)
                    break
            else:
                raise CheckFailed("no LOGIN reply", FailureKind.NO_ANSWER)
        await net.send(writer, b"a002 LOGOUT\r\n")
    return "logged in" if spec.login else "greeting ok"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="imap",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("imap", "imaps"),
    default_ports=MappingProxyType({"imap": 143, "imaps": 993}),
)
