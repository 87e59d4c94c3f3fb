"""The scheduler: every check identity runs once per checkinterval, on one asyncio loop.

- **Dedup and fan-out.** Specs with the same identity (the original's real-identity
  string: the same check of the same real) are one entry. It runs once per
  interval and its result is delivered once, as `on_result(identity, result)`;
  the engine applies it to every virtual that holds a real with that identity
  (spec 5.1, `service_set`). The first spec given for an identity supplies the
  check's parameters (as the original checks a shared real with the first
  virtual's settings); the interval is the shortest among them.
- **No drift.** Identity i runs at `epoch + phase_i + k * interval_i`: slots are
  computed on a monotonic grid (a heap of pending slots with one `loop.call_at`
  timer for the earliest), never as "sleep after the check".
  A slot that comes while the previous check of the same identity is still
  running (a check can last up to its timeout, longer than the interval) is
  skipped: at most one check per identity is in flight.
- **Splay.** `phase_i` is a stable hash of the identity spread over [0, interval),
  so thousands of checks are spread evenly over the interval instead of firing
  in one burst, and an identity keeps its phase across reloads.
- **Limits.** A check starts only when both a concurrency cap and a budget of file
  descriptors allow it (FIFO). The fd budget defaults to the checks' share of
  RLIMIT_NOFILE's soft limit (fds.py: the daemon's own descriptors and its
  clients' are set aside); each check is charged what it can hold open at once
  (ftp 2, ping 0 as it shares one socket, ...).
  The check's own deadline starts when it is admitted.
- **Reload.** `update(specs)` keeps the timers, phase and combined-check state
  of identities that are still there (new parameters apply from their next run),
  starts new identities at their next slot, and cancels removed ones (a check of
  a removed identity in flight is cancelled and its result never delivered).
- `check_now()` runs every check (or the given ones) at once and waits for them;
  the grid goes on as before. `stop()` cancels everything and waits for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import heapq
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from ldirectord_py.checks import registry
from ldirectord_py.checks.fds import plan_fds
from ldirectord_py.checks.result import CheckResult, FailureKind
from ldirectord_py.checks.runner import CombinedState, run_check
from ldirectord_py.checks.runtime import CheckRuntime, open_runtime
from ldirectord_py.checks.spec import CheckSpec

log = logging.getLogger("ldirectord_py.checks")

OnResult = Callable[[str, CheckResult], None]
# Runs one check in the scheduler's runtime: run_check itself, or a runner that
# does more around it (the daemon's CheckRunner.run) and hands the runtime on.
Runner = Callable[[CheckSpec, CombinedState | None, CheckRuntime], Awaitable[CheckResult]]

MIN_INTERVAL = 0.001


def default_fd_budget() -> int:
    """File descriptors checks may use: their share of the soft limit (fds.py:
    what the daemon and its clients may hold is set aside)."""
    return plan_fds().checks


def fd_cost(spec: CheckSpec) -> int:
    """The most descriptors one check of this spec holds at once (its check
    module's descriptor says)."""
    return registry.fd_cost(spec.checktype, spec.service, spec.protocol)


def splay_fraction(identity: str) -> float:
    """A stable position in [0, 1) for an identity."""
    digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class Budget:
    """Admission by count and by file descriptors, first come first served."""

    def __init__(self, max_checks: int, max_fds: int) -> None:
        self.max_checks = max(1, max_checks)
        self.max_fds = max(1, max_fds)
        self.checks = 0
        self.fds = 0
        self.peak_checks = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _fits(self, cost: int) -> bool:
        cost = min(cost, self.max_fds)
        return self.checks < self.max_checks and self.fds + cost <= self.max_fds

    def _take(self, cost: int) -> None:
        self.checks += 1
        self.fds += min(cost, self.max_fds)
        if self.checks > self.peak_checks:
            self.peak_checks = self.checks

    def try_acquire(self, cost: int) -> bool:
        """Take a slot at once if one is free and nobody waits (no coroutine needed)."""
        if not self._waiters and self._fits(cost):
            self._take(cost)
            return True
        return False

    async def acquire(self, cost: int) -> None:
        if self.try_acquire(cost):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cost, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(cost)  # admitted just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                self._wake()
            raise

    def release(self, cost: int) -> None:
        self.checks -= 1
        self.fds -= min(cost, self.max_fds)
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            cost, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if not self._fits(cost):
                return
            self._waiters.popleft()
            self._take(cost)
            fut.set_result(None)

    @property
    def queued(self) -> int:
        return sum(1 for _, f in self._waiters if not f.done())


# A pending slot: (due, sequence, entry). Tuples compare in C on (due, sequence).
_Slot = tuple[float, int, "_Entry"]


@dataclass(eq=False, slots=True)
class _Entry:
    identity: str
    spec: CheckSpec
    interval: float
    fraction: float
    cost: int = 1  # fd_cost(spec), kept with the spec
    combined: CombinedState = field(default_factory=CombinedState)
    timer: _Slot | None = None  # the entry's pending slot in the scheduler's heap
    task: asyncio.Task[None] | None = None
    due: float = 0.0
    runs: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class SchedulerStats:
    identities: int
    in_flight: int
    queued: int
    peak_in_flight: int
    runs: int
    skipped: int
    fds_in_use: int
    fd_budget: int
    max_concurrency: int


class Scheduler:
    """Runs each check identity once per interval and reports through `on_result`.

    Usage (inside a running loop)::

        sched = Scheduler(engine.on_check_result)
        sched.update(CheckSpec.for_real(v, r) for v in cfg.virtuals for r in v.reals)
        sched.start()
        await sched.check_now()      # first round at once, if wanted
        ...
        new = sched.update(new_specs)  # on reload
        await sched.check_now(new)     # new identities at once, if wanted
        ...
        await sched.stop()

    `checktype=off` specs are ignored (never checked). The scheduler never touches
    ip_vs; `on_result` must not block (it is called on the loop).
    """

    def __init__(
        self,
        on_result: OnResult,
        *,
        runner: Runner | None = None,
        max_concurrency: int | None = None,
        fd_budget: int | None = None,
        splay: bool = True,
    ) -> None:
        self.on_result = on_result
        self.runner: Runner = runner if runner is not None else run_check
        self.runtime: CheckRuntime | None = None
        fds = fd_budget if fd_budget is not None else default_fd_budget()
        self.budget = Budget(max_concurrency if max_concurrency is not None else fds, fds)
        self.splay = splay
        self._entries: dict[str, _Entry] = {}
        # Pending slots in one heap of tuples and ONE loop timer for the earliest:
        # cheaper than a loop timer per check (TimerHandle objects compared in
        # Python in the loop's heap), and each slot still starts exactly at its due
        # time. A slot is cancelled by unsetting entry.timer (dropped when popped).
        self._heap: list[_Slot] = []
        self._seq = 0
        self._wakeup: asyncio.TimerHandle | None = None
        self._wake_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoch = 0.0
        self._stopped = False

    # -- configuration -------------------------------------------------------

    def update(self, specs: Iterable[CheckSpec]) -> frozenset[str]:
        """Swap in a new set of checks; returns the identities that are new."""
        groups: dict[str, list[CheckSpec]] = {}
        for spec in specs:
            if spec.checktype == registry.OFF:
                continue
            groups.setdefault(spec.identity, []).append(spec)
        new: set[str] = set()
        for identity in list(self._entries):
            if identity not in groups:
                self._remove(self._entries.pop(identity))
        for identity, group in groups.items():
            interval = max(MIN_INTERVAL, min(s.checkinterval for s in group))
            entry = self._entries.get(identity)
            if entry is None:
                entry = _Entry(
                    identity, group[0], interval, splay_fraction(identity), fd_cost(group[0])
                )
                self._entries[identity] = entry
                new.add(identity)
                if self._loop is not None:
                    self._schedule(entry, self._loop.time())
            else:
                entry.spec = group[0]
                entry.cost = fd_cost(group[0])
                if interval != entry.interval:
                    entry.interval = interval
                    if self._loop is not None:
                        self._schedule(entry, self._loop.time())
        return frozenset(new)

    def _remove(self, entry: _Entry) -> None:
        entry.timer = None
        if entry.task is not None:
            entry.task.cancel()

    # -- timing --------------------------------------------------------------

    def _phase(self, entry: _Entry) -> float:
        return entry.fraction * entry.interval if self.splay else 0.0

    def _slot_at_or_after(self, entry: _Entry, t: float) -> float:
        base = self._epoch + self._phase(entry)
        k = math.ceil((t - base) / entry.interval - 1e-9)
        return base + max(0, k) * entry.interval

    def _schedule(self, entry: _Entry, not_before: float) -> None:
        self._push(entry, self._slot_at_or_after(entry, not_before))

    def _push(self, entry: _Entry, due: float) -> None:
        self._seq += 1
        slot = (due, self._seq, entry)
        entry.due = due
        entry.timer = slot
        heapq.heappush(self._heap, slot)
        if due < self._wake_at:
            self._arm(due)

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._wakeup is not None:
            self._wakeup.cancel()
        self._wake_at = when
        self._wakeup = self._loop.call_at(when, self._on_wakeup)

    def _on_wakeup(self) -> None:
        assert self._loop is not None
        self._wakeup = None
        self._wake_at = -math.inf  # no arming while the due slots are taken
        heap = self._heap
        now = self._loop.time()
        try:
            while heap and heap[0][0] <= now:
                slot = heapq.heappop(heap)
                entry = slot[2]
                if entry.timer is slot:
                    self._fire(entry, now)
        finally:
            self._wake_at = math.inf
            if heap:
                self._arm(heap[0][0])

    def _fire(self, entry: _Entry, now: float) -> None:
        entry.timer = None
        if self._entries.get(entry.identity) is not entry:
            return
        # the next slot on the grid: exactly one interval on, unless the loop was
        # held up for longer than that (then the missed slots are skipped)
        due = entry.due + entry.interval
        if due < now:
            due = self._slot_at_or_after(entry, now)
        self._push(entry, due)
        if entry.task is None:
            self._launch(entry)
        else:
            entry.skipped += 1

    def _launch(self, entry: _Entry) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._run(entry))
        entry.task = task
        return task

    async def _run(self, entry: _Entry) -> None:
        spec = entry.spec
        cost = entry.cost
        budget = self.budget
        try:
            # admission: inline fast path of Budget.try_acquire (room, nobody waits)
            if (
                not budget._waiters
                and budget.checks < budget.max_checks
                and budget.fds + min(cost, budget.max_fds) <= budget.max_fds
            ):
                budget._take(cost)
            else:
                await budget.acquire(cost)
            try:
                combined = entry.combined if spec.checktype == registry.COMBINED else None
                try:
                    runtime = self.runtime or self._open_runtime(asyncio.get_running_loop())
                    result = await self.runner(spec, combined, runtime)
                except Exception as e:  # a bug in a check must not stop its timer
                    log.exception("check %s raised", entry.identity)
                    result = CheckResult(
                        False, f"internal error: {type(e).__name__}", 0.0, FailureKind.INTERNAL
                    )
            finally:
                budget.release(cost)
        finally:
            # only _launch makes tasks for an entry, and only while it has none in
            # flight: the task ending here is entry.task
            entry.task = None
        entry.runs += 1
        if self._entries.get(entry.identity) is not entry or self._stopped:
            return
        try:
            self.on_result(entry.identity, result)
        except Exception:
            log.exception("on_result raised for %s", entry.identity)

    # -- control -------------------------------------------------------------

    def start(self) -> None:
        """Start the timers (call from inside the running loop)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._open_runtime(self._loop)
        self._epoch = self._loop.time()
        self._stopped = False
        now = self._epoch
        for entry in self._entries.values():
            self._schedule(entry, now)

    def _open_runtime(self, loop: asyncio.AbstractEventLoop) -> CheckRuntime:
        """The checks' runtime of this scheduler (runtime.py), from its first check
        to stop(); every check runs in it."""
        runtime = self.runtime
        if runtime is None or runtime.loop is not loop:
            runtime = self.runtime = open_runtime(loop)
        return runtime

    async def check_now(self, identities: Iterable[str] | None = None) -> None:
        """Run the given checks (default: all) at once; return when they are done.

        A check already in flight is waited for, not started twice. Cancelling
        this call does not cancel the checks."""
        self._open_runtime(asyncio.get_running_loop())
        wanted = self._entries.keys() if identities is None else identities
        tasks: list[asyncio.Task[None]] = []
        for identity in list(wanted):
            entry = self._entries.get(identity)
            if entry is None:
                continue
            tasks.append(entry.task if entry.task is not None else self._launch(entry))
        if tasks:
            await asyncio.wait(tasks)

    async def stop(self) -> None:
        """Cancel every timer and check and wait for them (and for external checks'
        children being terminated)."""
        self._stopped = True
        tasks = []
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        self._wake_at = math.inf
        self._heap.clear()
        for entry in self._entries.values():
            entry.timer = None
            if entry.task is not None:
                entry.task.cancel()
                tasks.append(entry.task)
        if tasks:
            await asyncio.wait(tasks)
        if self.runtime is not None:
            await self.runtime.close()  # waits for external checks' children
            self.runtime = None
        self._loop = None

    # -- inspection ----------------------------------------------------------

    @property
    def identities(self) -> frozenset[str]:
        return frozenset(self._entries)

    def next_due(self, identity: str) -> float | None:
        entry = self._entries.get(identity)
        return entry.due if entry and entry.timer else None

    def stats(self) -> SchedulerStats:
        return SchedulerStats(
            identities=len(self._entries),
            in_flight=self.budget.checks,
            queued=self.budget.queued,
            peak_in_flight=self.budget.peak_checks,
            runs=sum(e.runs for e in self._entries.values()),
            skipped=sum(e.skipped for e in self._entries.values()),
            fds_in_use=self.budget.fds,
            fd_budget=self.budget.max_fds,
            max_concurrency=self.budget.max_checks,
        )
