"""How long the event loop has been held up: the running total of its stalls.

A stall is time the loop should have run a callback and did not: the process was
stopped (SIGSTOP, a frozen VM, a debugger) or starved of CPU, or something ran
too long on the loop. Check deadlines are loop timers, so a stall makes them
expire late, after the backend's reply has been sitting in the socket buffer;
the deadlines (deadline.py) give a check back the stall it suffered instead of
blaming the backend.

Measured, not guessed: every observer reports a callback that was due at `due`
and ran at `now`; a lateness above TOLERANCE counts the interval [due, now],
and overlapping intervals from several observers count once (a union), so the
total is the wall-clock time during which the loop was behind. A tick every
TICK seconds observes itself while anyone cares (`hold`/`release`), so a stall
that ends between two deadlines is counted too.
"""

from __future__ import annotations

import asyncio
import math

TOLERANCE = 0.02
TICK = 0.05


class LoopStall:
    """The stall total of one event loop (`total`, seconds, loop clock)."""

    __slots__ = ("_counted_until", "_holders", "_tick_due", "_ticker", "loop", "total")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.total = 0.0
        self._counted_until = -math.inf
        self._holders = 0
        self._ticker: asyncio.TimerHandle | None = None
        self._tick_due = 0.0

    def observe(self, due: float, now: float) -> float:
        """A callback due at `due` ran at `now`; returns the updated total."""
        if now - due > TOLERANCE:
            start = max(due, self._counted_until)
            if now > start:
                self.total += now - start
                self._counted_until = now
        return self.total

    def now(self, at: float | None = None) -> float:
        """The total as of this moment (`at`: the loop's time, if known), the
        tick's pending lateness included."""
        if self._ticker is not None:
            self.observe(self._tick_due, self.loop.time() if at is None else at)
        return self.total

    def hold(self) -> None:
        """Someone needs stalls between callbacks counted: keep the tick running."""
        self._holders += 1
        if self._ticker is None:
            self._tick_due = self.loop.time() + TICK
            self._ticker = self.loop.call_at(self._tick_due, self._tick)

    def release(self) -> None:
        self._holders -= 1
        if self._holders <= 0:
            self._holders = 0
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None

    def _tick(self) -> None:
        now = self.loop.time()
        self.observe(self._tick_due, now)
        self._tick_due = now + TICK
        self._ticker = self.loop.call_at(self._tick_due, self._tick)
