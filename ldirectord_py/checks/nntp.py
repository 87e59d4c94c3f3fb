"""nntp: connect, read the greeting (one read of up to 64 bytes), close.

Up: the greeting starts with `2` (200 or 201), within negotiatetimeout.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    async with net.stream(spec.address, spec.checkport) as (reader, _writer):
        data = await reader.read(64)
    if not data:
        raise CheckFailed("connection closed before greeting", FailureKind.CLOSED)
    if not data.startswith(b"2"):
        raise CheckFailed(f"greeting {data[:3].decode('latin-1')}", FailureKind.OTHER)
    return "greeting ok"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="nntp",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("nntp",),
    default_ports=MappingProxyType({"nntp": 119}),
)
