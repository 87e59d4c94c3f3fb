"""Issue 11, finding 3: the route writer next to a large foreign table in gobgpd.

gobgpd holds FOREIGN IPv4 routes learned from the router (a partial Internet
table) plus two learned routes inside the anycast prefix. The writer reads
only the anycast prefixes (ListPath with LONGER lookups), so the table size
changes nothing for it: it converges within its usual time, announces and
withdraws at the router, stops cleanly withdrawing its routes, never touches a
foreign route, and its event loop never stalls on a read. (Before, each read
listed the whole RIB, overran the 2 s deadline and retried forever.)

The writer looks its known VIPs up one by one and scans the IPv4 /24 address
by address, so gobgpd never walks its table for it. Runs against Debian 12's
gobgpd 3.10.0; bench/routing_rib.py measures 100,000 and 1,000,000 routes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from ldirectord_py.routing.model import Route, host_prefix
from ldirectord_py.routing.writer import RouteWriter
from tests.integration.routing.conftest import PREFIXES, run
from tests.integration.routing.lab import FOREIGN_INSIDE, Lab

T = TypeVar("T")
FOREIGN = 150_000
LAG = 0.25
"""The writer's loop may be late by this much at worst (a shared 2-core machine)."""
V1, V2, V6 = (host_prefix(a) for a in ("198.51.100.10", "198.51.100.11", "2001:db8:ff::10"))


async def lag_during(awaitable: Awaitable[T]) -> tuple[T, float]:
    """`awaitable`'s result, and the worst lateness of a 10 ms timer on the loop
    meanwhile (the lab's own birdc polls are synchronous: they are not measured)."""
    worst = 0.0

    async def probe() -> None:
        nonlocal worst
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - start - 0.01)

    task = asyncio.get_running_loop().create_task(probe())
    try:
        result = await awaitable
    finally:
        task.cancel()
    return result, worst


def test_writer_is_unaffected_by_a_large_foreign_table() -> None:
    with Lab(foreign_routes=FOREIGN) as lab:
        lab.wait_foreign_table()
        before = lab.table_size()
        logs: list[str] = []

        async def scenario() -> None:
            w = RouteWriter(target=lab.gobgp_target(), prefixes=PREFIXES, log=logs.append)
            started = time.monotonic()
            w.start()
            w.submit({V1: Route(V1), V6: Route(V6, med=5)})
            converged, lag = await lag_during(w.converge_now(5))
            assert converged, logs
            assert time.monotonic() - started < 2.0, "converging took the old full-table time"
            lags = [lag]
            assert lab.wait_route(str(V1)) is not None
            assert lab.wait_route(str(V6)) is not None
            w.submit({V2: Route(V2, med=10), V6: Route(V6, med=5)})
            converged, lag = await lag_during(w.converge_now(5))
            assert converged, logs
            lags.append(lag)
            lab.wait_route(str(V1), present=False)
            r2 = lab.wait_route(str(V2))
            assert r2 is not None and r2.med == 10
            # A resync reads the table again: still only the anycast prefixes.
            w._held = None
            w._wake.set()
            converged, lag = await lag_during(w.converge_now(5))
            assert converged, logs
            lags.append(lag)
            stopping = time.monotonic()
            _, lag = await lag_during(w.stop(withdraw=True))
            assert time.monotonic() - stopping < 2.0
            lags.append(lag)
            lab.wait_route(str(V2), present=False)
            lab.wait_route(str(V6), present=False)
            assert max(lags) < LAG, f"the writer's loop stalled: {lags}"

        run(scenario(), guard=45)
        assert not any("failed" in line or "retrying" in line for line in logs), logs
        # Every foreign route is still there, the learned ones inside the prefix too.
        assert lab.table_size() == before
        rib = lab.gobgp("global", "rib", "198.51.100.0/24", "longer-prefixes")
        for prefix in FOREIGN_INSIDE:
            assert prefix in rib, rib
