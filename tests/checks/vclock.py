"""An asyncio event loop on virtual time, for scheduler tests without sleeping.

The loop's clock only moves when the loop would otherwise wait: then it jumps
straight to the next timer. Real file descriptors are still polled (without
blocking), so the loop's own wake-up pipe works. Nothing in a test using this
loop may wait on real I/O.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop_ref: list[VirtualClockLoop]) -> None:
        super().__init__()
        self._loop_ref = loop_ref

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout is None or timeout <= 0:
            if not ready and timeout is None:
                raise RuntimeError("virtual clock loop would block forever")
            return ready
        self._loop_ref[0].now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        ref: list[VirtualClockLoop] = []
        super().__init__(selector=_VirtualSelector(ref))
        ref.append(self)
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
