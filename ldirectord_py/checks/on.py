"""checktype=on: never checked, always up (the original's `on`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldirectord_py.checks.descriptor import CheckDescriptor, checktimeout

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    return "checktype on"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="on",
    check=check,
    deadline=checktimeout,
    fd_cost=0,
    slotted=False,
    waits=False,
    checktypes=("on",),
)
