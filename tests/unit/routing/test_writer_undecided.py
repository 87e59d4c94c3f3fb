"""RouteWriter and the routes it finds for VIPs the daemon has not decided yet.

A restarted daemon finds its previous run's route in GoBGP before its first
check round: the writer must keep it as it is (no DeletePath, no AddPath) until
the VIP is decided, and still withdraw a true leftover. The writer runs its real
task here against an in-memory GoBGP that records every change."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from ldirectord_py.routing import messages
from ldirectord_py.routing.gobgp import BgpInfo
from ldirectord_py.routing.model import HostPrefix, Route, host_prefix
from ldirectord_py.routing.writer import RouteWriter

PREFIXES = [ipaddress.ip_network("198.51.100.0/24")]
ASN = 65001
VIP = host_prefix("198.51.100.10")
GONE = host_prefix("198.51.100.99")
"""A VIP of the previous run that the configuration no longer has."""


class TableGoBGP:
    """Stands in for GoBGPClient: a global table of local paths, and a record of
    every AddPath / DeletePath the writer sends."""

    dialect = None

    def __init__(self, held: Sequence[HostPrefix]) -> None:
        self.table = {p: messages.expected_view(Route(p), ASN) for p in held}
        self.changes: list[str] = []

    async def get_bgp(self, *, timeout: float | None = None) -> BgpInfo:
        return BgpInfo(asn=ASN, router_id="192.0.2.1", listen_port=179)

    async def watch_peers(self) -> AsyncIterator[Any]:
        await asyncio.Event().wait()  # no peer events: blocks until cancelled
        yield None  # pragma: no cover

    async def list_paths(
        self,
        version: int,
        *,
        exact: Sequence[Any] = (),
        longer: Sequence[Any] = (),
        timeout: float | None = None,
    ) -> list[messages.PathView]:
        wanted = set(exact)
        return [
            v
            for p, v in self.table.items()
            if p.version == version
            and (p in wanted or any(p.subnet_of(n) for n in longer if n.version == version))
        ]

    async def add_path(
        self, route: Route, *, local_asn: int | None = None, timeout: float | None = None
    ) -> bytes:
        self.changes.append(f"add {route.prefix}")
        self.table[route.prefix] = messages.expected_view(route, local_asn)
        return b""

    async def delete_path(self, prefix: HostPrefix, *, timeout: float | None = None) -> None:
        self.changes.append(f"delete {prefix}")
        self.table.pop(prefix, None)

    async def update_paths(
        self, announce: list[Route], withdraw: list[HostPrefix], **kw: Any
    ) -> None:
        for route in announce:
            await self.add_path(route)
        for prefix in withdraw:
            await self.delete_path(prefix)

    async def close(self) -> None:
        pass


def run(gobgp: TableGoBGP, scenario: Callable[[RouteWriter], Awaitable[None]]) -> None:
    async def main() -> None:
        writer = RouteWriter(
            target="unix:/in-memory", prefixes=PREFIXES, log=lambda line: None, heartbeat=0.05
        )
        writer._new_client = lambda: gobgp  # type: ignore[assignment,method-assign,return-value]
        writer.start()
        try:
            await scenario(writer)
        finally:
            await writer.stop(withdraw=False)

    asyncio.run(main())


async def settle(writer: RouteWriter) -> None:
    """Converged, and a few more rounds of the writer's loop (a late delete would show)."""
    assert await writer.converge_now(5.0)
    await asyncio.sleep(0.2)


def test_held_route_of_an_undecided_vip_is_kept_as_it_is() -> None:
    gobgp = TableGoBGP([VIP])

    async def scenario(writer: RouteWriter) -> None:
        await asyncio.sleep(0.2)  # connected and scanned before the daemon says anything
        assert gobgp.changes == []
        writer.submit({}, undecided={VIP})  # the first check round is not over
        await settle(writer)
        assert gobgp.changes == []
        assert VIP in gobgp.table
        writer.submit({VIP: Route(VIP)})  # decided up: the held route is adopted
        await settle(writer)

    run(gobgp, scenario)
    assert gobgp.changes == []  # zero changes to GoBGP across the restart


def test_undecided_vip_decided_down_is_withdrawn() -> None:
    gobgp = TableGoBGP([VIP])

    async def scenario(writer: RouteWriter) -> None:
        writer.submit({}, undecided={VIP})
        await settle(writer)
        assert gobgp.changes == []
        writer.submit({})  # decided down (anycastdown withdraw)
        await settle(writer)

    run(gobgp, scenario)
    assert gobgp.changes == [f"delete {VIP}"]
    assert VIP not in gobgp.table


def test_leftover_of_a_vip_no_longer_configured_is_withdrawn() -> None:
    gobgp = TableGoBGP([VIP, GONE])

    async def scenario(writer: RouteWriter) -> None:
        writer.submit({}, undecided={VIP})  # GONE is in no config: not undecided
        await settle(writer)

    run(gobgp, scenario)
    assert gobgp.changes == [f"delete {GONE}"]
    assert list(gobgp.table) == [VIP]


def test_undecided_with_a_desired_route_is_announced() -> None:
    """A prefix both desired and undecided (a caller's slip) follows the route."""
    gobgp = TableGoBGP([])

    async def scenario(writer: RouteWriter) -> None:
        writer.submit({VIP: Route(VIP, med=5)}, undecided={VIP})
        await settle(writer)

    run(gobgp, scenario)
    assert gobgp.changes == [f"add {VIP}"]
    assert gobgp.table[VIP].med == 5
