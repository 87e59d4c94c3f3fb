"""The route writer's stall signal for the daemon's WriterSupervisor (issue 10).

A round that never ends (a bug: every gRPC call has its own deadline) must show
as `busy_since` so the supervisor stops feeding the systemd watchdog; a writer
waiting for the next change, or for an unreachable GoBGP, is not stalled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ldirectord_py.daemon.supervisor import WriterSupervisor
from ldirectord_py.routing import messages
from ldirectord_py.routing.model import Route
from ldirectord_py.routing.writer import RouteWriter

from .test_writer_undecided import PREFIXES, VIP, TableGoBGP


class HangingAddPath(TableGoBGP):
    """AddPath never returns: the writer's round cannot end."""

    async def add_path(
        self, route: Route, *, local_asn: int | None = None, timeout: float | None = None
    ) -> bytes:
        await asyncio.Event().wait()
        return b""  # pragma: no cover


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervise(gobgp: TableGoBGP, routes: dict[Any, Route]) -> tuple[list[str], list[str], bool]:
    """Run the writer against `gobgp`, submit `routes`, and judge it twice with a
    supervisor whose clock jumps past the stall bound in between.
    Returns (stalled names, supervisor log lines, whether busy_since was set)."""
    lines: list[str] = []

    async def main() -> tuple[list[str], bool]:
        writer = RouteWriter(
            target="unix:/in-memory", prefixes=PREFIXES, log=lambda line: None, heartbeat=0.05
        )
        writer._new_client = lambda: gobgp  # type: ignore[assignment,method-assign,return-value]
        clock = Clock()
        supervisor = WriterSupervisor(
            lines.append, lambda: {"routes": writer}, clock=clock, stall_bound=10.0
        )
        writer.start()
        try:
            writer.submit(routes)
            await asyncio.sleep(0.3)
            busy = writer.busy_since is not None
            # the supervisor's clock is its own: move "now" past the bound from
            # the start of whatever round is running
            clock.now = (writer.busy_since or 0.0) + 11.0
            supervisor.check()
            return supervisor.stalled(), busy
        finally:
            await writer.stop(withdraw=False)

    stalled, busy = asyncio.run(main())
    return stalled, lines, busy


def test_a_round_that_never_ends_is_a_stall() -> None:
    stalled, lines, busy = supervise(HangingAddPath([]), {VIP: Route(VIP)})
    assert busy
    assert stalled == ["routes"]
    assert any("routes writer stalled: one attempt has been running" in line for line in lines)


def test_a_writer_waiting_for_changes_is_not_stalled() -> None:
    stalled, lines, busy = supervise(TableGoBGP([]), {VIP: Route(VIP)})
    assert not busy
    assert stalled == []
    assert not any("stalled" in line for line in lines)


class Unreachable(TableGoBGP):
    async def get_bgp(self, *, timeout: float | None = None) -> Any:
        from ldirectord_py.routing.gobgp import GoBGPError

        raise GoBGPError("unix:/in-memory", "GetBgp", "connection refused", unavailable=True)

    async def list_paths(self, version: int, **kw: Any) -> Sequence[messages.PathView]:
        raise AssertionError("not connected")  # pragma: no cover


def test_an_unreachable_gobgp_is_not_a_stall() -> None:
    stalled, _, busy = supervise(Unreachable([]), {VIP: Route(VIP)})
    assert not busy
    assert stalled == []
