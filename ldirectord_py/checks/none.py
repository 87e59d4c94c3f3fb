"""service=none: a negotiate check that asks nothing, always up (the original's
`none`, and what a negotiate check of an unknown service falls back to)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    return "service none"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="none",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=0,
    slotted=False,
    waits=False,
    services=("none",),
)
