"""The scheduler on virtual time (tests/checks/vclock.py): no drift, splay,
dedup with one callback per identity, the concurrency and fd caps, reload
keeping timing and combined state, check_now, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import statistics
from typing import Any

import pytest

from ldirectord_py.checks import CheckResult, CheckSpec, CombinedState, Scheduler
from ldirectord_py.checks.runtime import CheckRuntime
from ldirectord_py.checks.scheduler import Budget, fd_cost, splay_fraction
from tests.checks.conftest import make_spec, run
from tests.checks.vclock import run_virtual


class FakeRunner:
    """Stands in for run_check: takes `duration` of (virtual) time and records
    when each identity started, and how many ran at once."""

    def __init__(self, duration: float = 0.01, ok: bool = True) -> None:
        self.duration = duration
        self.ok = ok
        self.starts: dict[str, list[float]] = {}
        self.running = 0
        self.peak = 0
        self.states: dict[str, CombinedState | None] = {}
        self.specs: list[CheckSpec] = []

    async def __call__(
        self, spec: CheckSpec, state: CombinedState | None, runtime: CheckRuntime | None = None
    ) -> CheckResult:
        loop = asyncio.get_running_loop()
        self.starts.setdefault(spec.identity, []).append(loop.time())
        self.states[spec.identity] = state
        self.specs.append(spec)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.duration)
        finally:
            self.running -= 1
        return CheckResult(self.ok, "fake", self.duration)


def spec(identity: str, interval: float = 1.0, **kw: Any) -> CheckSpec:
    kw.setdefault("checktype", "connect")
    return make_spec(identity=identity, checkinterval=interval, **kw)


def test_no_drift_over_many_intervals() -> None:
    runner = FakeRunner(duration=0.37)  # checks take a good part of the interval

    async def body() -> list[float]:
        results: list[str] = []
        s = Scheduler(lambda i, r: results.append(i), runner=runner)
        s.update([spec("a", 1.0)])
        s.start()
        await asyncio.sleep(1000.5)
        await s.stop()
        assert len(results) == 1000
        return runner.starts["a"]

    starts = run_virtual(body())
    assert len(starts) == 1001
    first = starts[0]
    # every start is exactly on the grid: first + k * interval
    assert max(abs(t - (first + k)) for k, t in enumerate(starts)) < 1e-6


def test_slow_check_skips_slots_and_stays_on_grid() -> None:
    runner = FakeRunner(duration=2.5)  # longer than the interval: at most one in flight

    async def body() -> Scheduler:
        s = Scheduler(lambda i, r: None, runner=runner)
        s.update([spec("slow", 1.0)])
        s.start()
        await asyncio.sleep(30)
        await s.stop()
        return s

    run_virtual(body())
    starts = runner.starts["slow"]
    assert runner.peak == 1
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(starts)}
    assert gaps == {3.0}  # 2.5 s of check, then the next slot of the 1 s grid


def test_splay_spreads_starts_over_the_interval() -> None:
    runner = FakeRunner(duration=0.001)
    n = 2000

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner)
        s.update([spec(f"real-{i}", 10.0) for i in range(n)])
        s.start()
        await asyncio.sleep(10.0)
        await s.stop()

    run_virtual(body())
    firsts = sorted(v[0] for v in runner.starts.values())
    assert len(firsts) == n
    offsets = [t - firsts[0] for t in firsts]
    assert offsets[-1] > 9.9  # the whole interval is used
    buckets = [0] * 20  # 0.5 s buckets: 100 each on average
    for o in offsets:
        buckets[min(19, int(o / 0.5))] += 1
    assert max(buckets) < 160 and min(buckets) > 50, buckets
    assert runner.peak < 20  # never a burst


def test_splay_is_stable_per_identity() -> None:
    assert splay_fraction("x") == splay_fraction("x")
    assert 0 <= splay_fraction("anything") < 1
    values = [splay_fraction(f"id{i}") for i in range(1000)]
    assert 0.45 < statistics.mean(values) < 0.55


def test_without_splay_all_start_together() -> None:
    runner = FakeRunner()

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner, splay=False)
        s.update([spec(f"r{i}", 5.0) for i in range(10)])
        s.start()
        await asyncio.sleep(0.5)
        await s.stop()

    run_virtual(body())
    assert len({v[0] for v in runner.starts.values()}) == 1


def test_dedup_three_virtuals_one_run_one_callback() -> None:
    """Three virtuals holding the same real with the same check share one identity:
    one check per interval, one on_result per run, with that identity."""
    runner = FakeRunner()
    delivered: list[tuple[str, CheckResult]] = []
    shared = [
        spec("negotiate:http:tcp:127.0.0.11:80", 2.0, virtual_address=f"127.0.0.{100 + i}")
        for i in range(3)
    ]

    async def body() -> Scheduler:
        s = Scheduler(lambda i, r: delivered.append((i, r)), runner=runner)
        s.update([*shared, spec("other", 2.0)])
        s.start()
        await asyncio.sleep(20.0)
        await s.stop()
        return s

    s = run_virtual(body())
    assert s.identities == frozenset({"negotiate:http:tcp:127.0.0.11:80", "other"})
    assert len(runner.starts["negotiate:http:tcp:127.0.0.11:80"]) == 10
    mine = [i for i, _ in delivered if i == "negotiate:http:tcp:127.0.0.11:80"]
    assert len(mine) == 10
    # the first spec given supplies the parameters
    used = {sp.virtual_address for sp in runner.specs if sp.identity.startswith("negotiate")}
    assert used == {"127.0.0.100"}


def test_shared_identity_uses_shortest_interval() -> None:
    runner = FakeRunner()

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner)
        s.update([spec("x", 5.0), spec("x", 2.0)])
        s.start()
        await asyncio.sleep(10.0)
        await s.stop()

    run_virtual(body())
    assert len(runner.starts["x"]) == 5


def test_concurrency_cap() -> None:
    runner = FakeRunner(duration=1.0)

    async def body() -> Scheduler:
        s = Scheduler(lambda i, r: None, runner=runner, max_concurrency=7, splay=False)
        s.update([spec(f"r{i}", 100.0) for i in range(50)])
        s.start()
        await asyncio.sleep(20)
        await s.stop()
        return s

    s = run_virtual(body())
    assert runner.peak == 7
    assert s.stats().peak_in_flight == 7
    assert sum(len(v) for v in runner.starts.values()) == 50  # all ran, 7 at a time


def test_fd_budget() -> None:
    runner = FakeRunner(duration=1.0)
    ftp = [spec(f"ftp{i}", 100.0, checktype="negotiate", service="ftp") for i in range(10)]
    pings = [spec(f"ping{i}", 100.0, checktype="ping") for i in range(10)]
    assert fd_cost(ftp[0]) == 2 and fd_cost(pings[0]) == 0

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner, fd_budget=6, splay=False)
        s.update(ftp)
        s.start()
        await asyncio.sleep(0.5)
        assert s.stats().in_flight == 3 and s.stats().fds_in_use == 6
        assert s.stats().queued == 7
        s.update(ftp + pings)  # pings cost no descriptor, but wait their turn (FIFO)
        await asyncio.sleep(20)
        await s.stop()

    run_virtual(body())
    assert runner.peak <= 13


def test_budget_fifo_and_cancel() -> None:
    async def body() -> None:
        b = Budget(max_checks=1, max_fds=10)
        await b.acquire(1)
        order: list[int] = []

        async def waiter(n: int) -> None:
            await b.acquire(1)
            order.append(n)
            b.release(1)

        tasks = [asyncio.ensure_future(waiter(n)) for n in range(3)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        b.release(1)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert order == [0, 2]
        assert b.checks == 0 and b.fds == 0

    run_virtual(body())


def test_reload_keeps_timing_and_combined_state_of_unchanged_identities() -> None:
    runner = FakeRunner()

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner)
        keep = spec("keep", 1.0, checktype="combined", num_connects=3)
        s.update([keep, spec("gone", 1.0)])
        s.start()
        await asyncio.sleep(5.05)
        state_before = runner.states["keep"]
        due_before = s.next_due("keep")
        new = s.update([dataclasses.replace(keep, checktimeout=9.0), spec("added", 1.0)])
        assert new == frozenset({"added"})
        assert s.next_due("keep") == due_before  # same timer
        await asyncio.sleep(5.0)
        assert runner.states["keep"] is state_before  # same combined state
        assert runner.specs[-1].checktimeout == 9.0 or any(
            sp.checktimeout == 9.0 for sp in runner.specs if sp.identity == "keep"
        )
        assert s.identities == frozenset({"keep", "added"})
        await s.stop()

    run_virtual(body())
    keep = runner.starts["keep"]
    first = keep[0]
    assert max(abs(t - (first + k)) for k, t in enumerate(keep)) < 1e-6  # no hiccup
    assert len(runner.starts["gone"]) == 5


def test_reload_with_new_interval_moves_to_new_grid() -> None:
    runner = FakeRunner()

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner)
        s.update([spec("x", 1.0)])
        s.start()
        await asyncio.sleep(3.0)
        s.update([spec("x", 4.0)])
        await asyncio.sleep(20.0)
        await s.stop()

    run_virtual(body())
    starts = runner.starts["x"]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts[3:])]
    assert set(gaps) == {4.0}


def test_removed_identity_in_flight_is_cancelled_and_not_delivered() -> None:
    runner = FakeRunner(duration=5.0)
    delivered: list[str] = []

    async def body() -> None:
        s = Scheduler(lambda i, r: delivered.append(i), runner=runner, splay=False)
        s.update([spec("a", 10.0), spec("b", 10.0)])
        s.start()
        await asyncio.sleep(1.0)
        s.update([spec("b", 10.0)])
        await asyncio.sleep(10.0)
        await s.stop()

    run_virtual(body())
    assert delivered == ["b"]


def test_check_now_runs_everything_at_once_and_waits() -> None:
    runner = FakeRunner(duration=0.2)
    delivered: list[str] = []

    async def body() -> float:
        loop = asyncio.get_running_loop()
        s = Scheduler(lambda i, r: delivered.append(i), runner=runner)
        s.update([spec(f"r{i}", 60.0) for i in range(100)] + [spec("off", 60.0, checktype="off")])
        s.start()
        t0 = loop.time()
        await s.check_now()
        took = loop.time() - t0
        assert "off" not in s.identities
        assert len(delivered) == 100
        await s.check_now(["r1", "r2", "unknown"])
        assert delivered.count("r1") == 2
        await s.stop()
        return took

    took = run_virtual(body())
    assert took == pytest.approx(0.2)


def test_callback_errors_do_not_stop_the_scheduler() -> None:
    runner = FakeRunner()
    calls = 0

    def bad(identity: str, result: CheckResult) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("engine bug")

    async def body() -> None:
        s = Scheduler(bad, runner=runner)
        s.update([spec("a", 1.0)])
        s.start()
        await asyncio.sleep(5.0)
        await s.stop()

    run_virtual(body())
    assert calls == 5


def test_stop_cancels_in_flight_checks() -> None:
    runner = FakeRunner(duration=100.0)
    delivered: list[str] = []

    async def body() -> float:
        loop = asyncio.get_running_loop()
        s = Scheduler(lambda i, r: delivered.append(i), runner=runner, splay=False)
        s.update([spec("a", 1.0)])
        s.start()
        await asyncio.sleep(1.0)
        t0 = loop.time()
        await s.stop()
        return loop.time() - t0

    assert run_virtual(body()) == 0
    assert delivered == []


def test_real_checks_through_the_scheduler() -> None:
    """On a real loop, with real connect checks to a listening and a dead port."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    results: dict[str, list[bool]] = {}

    async def body() -> None:
        s = Scheduler(lambda i, r: results.setdefault(i, []).append(r.ok))
        s.update(
            [
                make_spec(identity="up", checktype="connect", checkport=port, checkinterval=0.1),
                make_spec(
                    identity="down", checktype="connect", checkport=dead_port, checkinterval=0.1
                ),
            ]
        )
        s.start()
        await asyncio.sleep(0.55)
        await s.stop()

    try:
        run(body())
    finally:
        listener.close()
    assert 3 <= len(results["up"]) <= 7 and all(results["up"])
    assert 3 <= len(results["down"]) <= 7 and not any(results["down"])


def test_a_runner_that_raises_gives_a_down_result() -> None:
    delivered: list[CheckResult] = []

    async def broken(
        spec: CheckSpec, state: CombinedState | None, runtime: CheckRuntime | None = None
    ) -> CheckResult:
        raise KeyError("bug")

    async def body() -> None:
        s = Scheduler(lambda i, r: delivered.append(r), runner=broken)
        s.update([spec("a", 1.0)])
        s.start()
        await asyncio.sleep(3.0)
        await s.stop()

    run_virtual(body())
    assert len(delivered) == 3
    assert all(not r.ok and r.reason == "internal error: KeyError" for r in delivered)


def test_check_now_before_start_then_timers() -> None:
    runner = FakeRunner()

    async def body() -> None:
        s = Scheduler(lambda i, r: None, runner=runner)
        s.update([spec("a", 1.0)])
        await s.check_now()  # a first round before the timers start
        assert len(runner.starts["a"]) == 1
        s.start()
        await asyncio.sleep(3.0)
        await s.stop()

    run_virtual(body())
    assert len(runner.starts["a"]) == 4
