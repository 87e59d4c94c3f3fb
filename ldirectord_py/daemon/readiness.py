"""Readiness (systemd's READY=1): the first check round is over and the table it
decided is programmed, or the dataplane has reported why it cannot be."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ldirectord_py.ipvs.writer import WriterState

POLL = 0.05


class Readiness:
    def __init__(self) -> None:
        self._first_round = asyncio.Event()

    async def first_round(
        self, checks: Coroutine[Any, Any, None], done: Callable[[], None]
    ) -> None:
        """Run the first round (`checks`), then `done()` and mark it over."""
        await checks
        done()
        self._first_round.set()

    async def wait(self, state: Callable[[], WriterState], timeout: float) -> None:
        await self._first_round.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            current = state()
            if current.converged or current.last_error is not None:
                return
            await asyncio.sleep(POLL)
