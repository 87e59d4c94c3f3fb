"""Paced reads (net.py): a check reading data that is already there yields to
the loop, so other checks' timers fire on time while it reads.

Measured in CPU time of the loop's thread between two ticks of a 5 ms ticker
(what the loop spent before it came back to the ticker), not in wall time,
which a loaded machine stretches whatever the code does."""

from __future__ import annotations

import asyncio
import time

import pytest

from ldirectord_py.checks import CheckSpec, run_check
from tests.checks.conftest import make_spec, run
from tests.checks.test_deadline import thread_server

# 100,000 1-byte chunks: 600 KB on the wire
CHUNKS = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"1\r\nx\r\n" * 100_000
    + b"0\r\n\r\n"
)
# 200,000 short lines, none matching: the simpletcp check reads them all
LINES = b"x\n" * 200_000
HELD_CPU = 0.02


async def _worst_tick_gap(spec: CheckSpec) -> tuple[float, bool, str]:
    """Run the check beside a 5 ms ticker; the most CPU the loop's thread spent
    between two ticks."""
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.thread_time()
        while True:
            await asyncio.sleep(0.005)
            now = time.thread_time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    result = await run_check(spec)
    task.cancel()
    return max(gaps), result.ok, result.reason


CASES = {
    "http 1-byte chunks (BareStream)": (
        CHUNKS,
        lambda p: make_spec(
            service="http",
            checkport=p,
            url=f"http://127.0.0.1:{p}/",
            receive="^x+$",
            negotiatetimeout=10.0,
        ),
    ),
    "simpletcp short lines (PacedStreamReader)": (
        LINES,
        lambda p: make_spec(
            service="simpletcp", checkport=p, request="/GO", receive="^never", negotiatetimeout=10.0
        ),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_fast_reply_does_not_hold_the_loop(case: tuple[bytes, object]) -> None:
    reply, make = case
    assert callable(make)
    with thread_server(reply) as port:
        worst, _ok, reason = run(_worst_tick_gap(make(port)))
    assert "timeout" not in reason, reason  # the whole reply was read
    # unpaced, the loop is held for the whole read (over 100 ms of CPU here)
    assert worst < HELD_CPU, f"the loop was held for {worst * 1000:.0f} ms of CPU"
