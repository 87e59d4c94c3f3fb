"""CheckRuntime: what the checks of one event loop share, in one object.

The deadline slots (deadline.py), the epoll set of the bare sockets (net.Poller),
one ICMP socket per family (ping.Pinger) and the tasks still reaping timed-out
external checks' children. The Scheduler opens one when it starts, hands it to
every check it runs and closes it when it stops (waiting for the reapers); it is
also the loop's current runtime, which `run_check` called on its own (tests,
`check_now` outside a scheduler) uses, made on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine

from ldirectord_py.checks.deadline import Deadlines
from ldirectord_py.checks.net import Poller
from ldirectord_py.checks.ping import Pinger


class CheckRuntime:
    """The per-loop state of the checks (see the module docstring)."""

    __slots__ = ("_pingers", "_poller", "deadlines", "loop", "reapers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines = Deadlines(loop)
        self._poller: Poller | None = None
        self._pingers: dict[int, Pinger] = {}
        self.reapers: set[asyncio.Task[None]] = set()

    @property
    def poller(self) -> Poller:
        """The epoll set of the checks' bare sockets (made on first use)."""
        poller = self._poller
        if poller is None:
            poller = self._poller = Poller(self.loop)
        return poller

    def pinger(self, family: int) -> Pinger:
        """The shared ICMP socket of `family` (made on first use)."""
        pinger = self._pingers.get(family)
        if pinger is None:
            pinger = self._pingers[family] = Pinger(family, self.loop)
        return pinger

    def reap(self, coro: Coroutine[object, object, None]) -> None:
        """Run `coro` in the background until done; `close` waits for it."""
        task = self.loop.create_task(coro)
        self.reapers.add(task)
        task.add_done_callback(self.reapers.discard)

    async def drain_reapers(self) -> None:
        """Wait for children still being terminated."""
        while self.reapers:
            await asyncio.gather(*list(self.reapers), return_exceptions=True)

    async def close(self) -> None:
        """Wait for the reapers, then close the shared sockets; the loop's next
        check makes a new runtime."""
        await self.drain_reapers()
        self.release()

    def release(self) -> None:
        """Close the shared sockets now (the loop may already be closed)."""
        if _current and _current[-1] is self:
            _current.pop()
        elif self in _current:
            _current.remove(self)
        live = not self.loop.is_closed()
        if self._poller is not None:
            if live:
                with contextlib.suppress(Exception):
                    self.loop.remove_reader(self._poller.fileno())
            self._poller.close()
            self._poller = None
        for pinger in self._pingers.values():
            if live:
                pinger.close()
            else:
                pinger.sock.close()
        self._pingers.clear()


# The current runtime of each loop still open (usually one loop, one entry).
_current: list[CheckRuntime] = []


def open_runtime(loop: asyncio.AbstractEventLoop) -> CheckRuntime:
    """A new runtime for `loop`, made its current one (the Scheduler's)."""
    _forget_closed_loops()
    new = CheckRuntime(loop)
    _current.append(new)
    return new


def runtime_for(loop: asyncio.AbstractEventLoop) -> CheckRuntime:
    """The current runtime of `loop` (made on first use)."""
    if _current and _current[-1].loop is loop:
        return _current[-1]
    for runtime in reversed(_current):
        if runtime.loop is loop:
            return runtime
    return open_runtime(loop)


def _forget_closed_loops() -> None:
    for runtime in [r for r in _current if r.loop.is_closed()]:
        runtime.release()
