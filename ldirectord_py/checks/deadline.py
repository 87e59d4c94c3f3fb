"""Check deadlines: hard, cheap, and fair to a check the loop held up.

Hard: expiry cancels the check's task (as asyncio.timeout does); run_check turns
that cancellation, and only that one, into "timeout after Ns".

Cheap: connect and http checks run by the thousand per second; a loop timer
each (a heap push, and a cancelled timer left in the heap for a whole timeout)
would cost more than the check. Their deadlines are grouped in slots of
RESOLUTION seconds with one loop timer per slot, so such a deadline fires at
most RESOLUTION late, never early. The other checks (`precise`) get a timer of
their own, at the exact time; the libraries among them that keep a timer of
their own are given `backstop(timeout)`, so ours fires first.

Fair: a deadline is a loop timer, so when the loop stalls (SIGSTOP, CPU
starvation) it expires late, after the reply may have been sitting in the
socket buffer, unread, or before the request was even sent. So at expiry the
deadline is re-armed from now by what the stalls took from the check: the
timeout minus the time the check had the loop for (its age minus the loop's
stalls since it started, stall.py), never more than the timeout in all (a
deadline is at most doubled in loop time). And if the expiry callback itself
ran late, the loop has not looked at its sockets since it resumed, so the check
gets up to GRACES more slots for a reply that is already there. On a loop that
keeps up nothing changes: a hung backend times out at its deadline.
"""

from __future__ import annotations

import asyncio
import math

from ldirectord_py.checks.stall import TOLERANCE, LoopStall

RESOLUTION = 0.005
GRACES = 3
BACKSTOP_SLACK = 1.0


def backstop(timeout: float) -> float:
    """The timeout to give a library that keeps a timer of its own (dnspython,
    the SQL drivers): behind ours even when ours is re-armed after a stall, so
    the check's deadline decides and its reason is "timeout after ..."."""
    return 2 * timeout + BACKSTOP_SLACK


class Deadline:
    """One check's deadline; `expired` is set when it cancelled the task."""

    __slots__ = (
        "cancelling",
        "expired",
        "extended",
        "graces",
        "handle",
        "precise",
        "stall_at_start",
        "started",
        "task",
        "timeout",
    )

    def __init__(
        self,
        task: asyncio.Task[object],
        started: float,
        timeout: float,
        stall_at_start: float,
        precise: bool,
    ) -> None:
        self.task: asyncio.Task[object] | None = task
        self.cancelling = task.cancelling()
        self.expired = False
        self.started = started
        self.timeout = timeout
        self.stall_at_start = stall_at_start
        self.extended = 0.0
        self.graces = 0
        self.precise = precise
        self.handle: asyncio.TimerHandle | None = None


class Deadlines:
    """The deadlines of one event loop."""

    __slots__ = ("loop", "slots", "stall")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, list[Deadline]] = {}
        self.stall = LoopStall(loop)

    def arm(self, task: asyncio.Task[object], after: float, *, precise: bool = False) -> Deadline:
        """A deadline `after` seconds from now for `task`; call `disarm` when done."""
        now = self.loop.time()
        deadline = Deadline(task, now, after, self.stall.now(now), precise)
        self.stall.hold()
        self._place(deadline, now + after)
        return deadline

    def disarm(self, deadline: Deadline) -> None:
        """The check is over: the deadline no longer applies."""
        if deadline.task is not None:
            deadline.task = None
            self.stall.release()
        if deadline.handle is not None:
            deadline.handle.cancel()
            deadline.handle = None

    def _place(self, deadline: Deadline, when: float) -> None:
        if deadline.precise:
            deadline.handle = self.loop.call_at(when, self._expire_precise, deadline, when)
            return
        key = math.ceil(when / RESOLUTION)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = []
            self.loop.call_at(key * RESOLUTION, self._expire_slot, key)
        slot.append(deadline)

    def _expire_slot(self, key: int) -> None:
        due = key * RESOLUTION
        now = self.loop.time()
        self.stall.observe(due, now)
        for deadline in self.slots.pop(key, ()):
            if deadline.task is not None:
                self._expire(deadline, due, now)

    def _expire_precise(self, deadline: Deadline, due: float) -> None:
        deadline.handle = None
        if deadline.task is not None:
            now = self.loop.time()
            self.stall.observe(due, now)
            self._expire(deadline, due, now)

    def _expire(self, deadline: Deadline, due: float, now: float) -> None:
        # the time the check had the loop for: since it started, minus the stalls
        running = now - deadline.started - (self.stall.total - deadline.stall_at_start)
        owed = min(deadline.timeout - running, deadline.timeout - deadline.extended)
        if owed > RESOLUTION:
            deadline.extended += owed  # the loop was held up: the check gets its time
            self._place(deadline, now + owed)
            return
        if now - due > TOLERANCE and deadline.graces < GRACES:
            deadline.graces += 1  # a reply already there counts: look once more
            self._place(deadline, now + RESOLUTION)
            return
        task = deadline.task
        assert task is not None
        self.disarm(deadline)
        deadline.expired = True
        task.cancel()


def deadlines_for(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The Deadlines of `loop`'s current check runtime (runtime.py)."""
    from ldirectord_py.checks.runtime import runtime_for

    return runtime_for(loop).deadlines
