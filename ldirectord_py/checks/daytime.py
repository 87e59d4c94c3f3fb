"""daytime (RFC 867): connect, read the one line the server sends, close.

Up: a non-empty line within negotiatetimeout. (A throwaway example of a new
check type: this module and its line in registry.py.)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind
from ldirectord_py.checks.spec import CheckSpec

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    async with net.stream(spec.address, spec.checkport) as (reader, _writer):
        line = await net.readline(reader, "time")
    if not line.strip():
        raise CheckFailed("empty time", FailureKind.MALFORMED)
    return "time " + line.decode("latin-1").strip()


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="daytime",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("daytime",),
    default_ports=MappingProxyType({"daytime": 13}),
)
