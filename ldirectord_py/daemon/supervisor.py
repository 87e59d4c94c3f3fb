"""One rule for every writer (ip_vs, routes, VIP addresses): none dies silently.

Each writer is an asyncio task that converges one external system. If that task
ends on an unexpected exception -- a bug, a kernel reply that does not decode --
the supervisor logs the traceback, counts it (status `writers`, metrics
`ldirectord_writer_crashes_total`) and starts the writer again after a backoff
(1 s, doubling to 30 s). A writer that makes no progress past WRITER_STALL_BOUND
-- one attempt running that long, or crashing again and again for that long --
is reported `stalled`, and the main loop then stops feeding the systemd watchdog
(as it does for stalled health checks), so that systemd restarts the daemon.

The writers are looked up on every round (`writers()`), because a reload may
replace the route and interface writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

SUPERVISE_INTERVAL = 0.5
RESTART_BACKOFF_FIRST = 1.0
RESTART_BACKOFF_MAX = 30.0
WRITER_STALL_BOUND = 120.0
"""Seconds without progress after which a writer counts as stalled (documented in
docs/reliability.md): well above the ip_vs writer's slowest legitimate attempt
(tens of thousands of reals) and GoBGP's reconnect backoff."""


class SupervisedWriter(Protocol):
    @property
    def task(self) -> asyncio.Task[None] | None: ...

    def start(self) -> None: ...


@dataclass
class WriterHealth:
    """What status and metrics say about one writer."""

    crashes: int = 0
    last_crash: str | None = None
    last_crash_at: float | None = None
    restart_at: float | None = None
    """Monotonic time of the pending restart (None: running)."""
    failing_since: float | None = None
    """Monotonic time of the first crash since the writer last ran a round cleanly."""
    backoff: float = RESTART_BACKOFF_FIRST
    stalled: bool = False


class WriterSupervisor:
    def __init__(
        self,
        log: Callable[[str], None],
        writers: Callable[[], Mapping[str, SupervisedWriter | None]],
        *,
        clock: Callable[[], float] = time.monotonic,
        stall_bound: float = WRITER_STALL_BOUND,
        problem: Callable[[str], None] | None = None,
    ) -> None:
        self._log = log
        self._problem = problem if problem is not None else log
        """Where crashes and stalls go (a higher log priority than `log`)."""
        self._writers = writers
        self._clock = clock
        self.stall_bound = stall_bound
        self.health: dict[str, WriterHealth] = {}
        self._seen: dict[str, int] = {}
        """Per writer, the id of the ended task already accounted for."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="supervisor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(SUPERVISE_INTERVAL)

    def check(self) -> None:
        """One round: account for ended tasks, restart the due ones, judge stalls."""
        now = self._clock()
        for name, writer in self._writers().items():
            if writer is None:
                continue
            health = self.health.setdefault(name, WriterHealth())
            task = getattr(writer, "task", None)  # a test double may have none
            if task is not None and task.done() and not task.cancelled():
                error = task.exception()
                if error is not None and self._seen.get(name) != id(task):
                    self._seen[name] = id(task)
                    self._crashed(name, health, error, now)
            if health.restart_at is not None and now >= health.restart_at:
                health.restart_at = None
                self._log(f"{name} writer: restarting after its failure")
                writer.start()
            elif health.restart_at is None and task is not None and not task.done():
                busy = getattr(writer, "busy_since", None)
                if health.failing_since is not None and busy is None:
                    # running, and not stuck in an attempt: it got going again
                    health.failing_since = None
                    health.backoff = RESTART_BACKOFF_FIRST
            self._judge(name, health, writer, now)

    def _crashed(self, name: str, health: WriterHealth, error: BaseException, now: float) -> None:
        health.crashes += 1
        health.last_crash = f"{type(error).__name__}: {error}"
        health.last_crash_at = time.time()
        if health.failing_since is None:
            health.failing_since = now
        health.restart_at = now + health.backoff
        self._problem(
            f"{name} writer failed ({health.last_crash}); restarting in {health.backoff:g} s "
            f"(failure {health.crashes} since start)"
        )
        for line in traceback.format_exception(error):
            for part in line.rstrip("\n").split("\n"):
                self._problem(f"{name} writer: {part}")
        health.backoff = min(health.backoff * 2, RESTART_BACKOFF_MAX)

    def _judge(self, name: str, health: WriterHealth, writer: SupervisedWriter, now: float) -> None:
        busy = getattr(writer, "busy_since", None)
        stuck = isinstance(busy, float) and now - busy > self.stall_bound
        failing = health.failing_since is not None and now - health.failing_since > self.stall_bound
        stalled = stuck or failing
        if stalled and not health.stalled:
            why = "one attempt has been running" if stuck else "it has been failing"
            self._problem(
                f"{name} writer stalled: {why} for over {self.stall_bound:g} seconds "
                "(the systemd watchdog is no longer fed)"
            )
        elif health.stalled and not stalled:
            self._log(f"{name} writer is making progress again")
        health.stalled = stalled

    def stalled(self) -> list[str]:
        return [name for name, health in self.health.items() if health.stalled]

    def status(self) -> dict[str, Any]:
        return {
            name: {
                "crashes": h.crashes,
                "last_crash": h.last_crash,
                "last_crash_at": h.last_crash_at,
                "restarting": h.restart_at is not None,
                "stalled": h.stalled,
            }
            for name, h in sorted(self.health.items())
        }
