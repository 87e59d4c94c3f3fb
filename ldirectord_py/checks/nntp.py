"""nntp: connect, read the greeting (one read of up to 64 bytes), close.

Up: the greeting starts with `2` (200 or 201), within negotiatetimeout.
"""

from __future__ import annotations

from ldirectord_py.checks import net
from ldirectord_py.checks.result import CheckFailed
from ldirectord_py.checks.spec import CheckSpec


async def check(spec: CheckSpec) -> str:
    async with net.stream(spec.address, spec.checkport) as (reader, _writer):
        data = await reader.read(64)
    if not data:
        raise CheckFailed("connection closed before greeting")
    if not data.startswith(b"2"):
        raise CheckFailed(f"greeting {data[:3].decode('latin-1')}")
    return "greeting ok"
