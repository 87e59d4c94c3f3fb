"""Stall detection and readiness, on their own (numbers in, decisions out)."""

from __future__ import annotations

import asyncio

from ldirectord_py.daemon.readiness import Readiness
from ldirectord_py.daemon.stall import StallWatch, WatchdogRule
from ldirectord_py.ipvs.writer import WriterState

from .config.conftest import parse

CONFIG = parse("checkinterval=2\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n")


def test_a_stall_is_reported_once_and_so_is_the_recovery() -> None:
    watch = StallWatch(since=100.0)
    assert watch.check(CONFIG, True, 101.0) is None
    change = watch.check(CONFIG, True, 200.0)
    assert change is not None and change.stalled and watch.stalled
    assert change.text.startswith("Health checks stalled: no check has completed for 100 seconds")
    assert watch.check(CONFIG, True, 201.0) is None  # said once
    watch.result(202.0)
    recovered = watch.check(CONFIG, True, 203.0)
    assert recovered is not None and not recovered.stalled
    assert recovered.text == "Health checks are completing again"
    assert watch.limit == WatchdogRule.for_config(CONFIG, 0.0).limit


def test_nothing_to_check_is_no_stall() -> None:
    watch = StallWatch(since=0.0)
    assert watch.check(CONFIG, False, 10_000.0) is None and not watch.stalled
    assert watch.check(None, True, 10_000.0) is None


def test_ready_after_the_first_round_and_the_dataplanes_answer() -> None:
    state = WriterState()
    done: list[bool] = []

    async def scenario() -> None:
        ready = Readiness()
        waiting = asyncio.create_task(ready.wait(lambda: state, 5.0))

        async def first_round() -> None:
            await asyncio.sleep(0)

        await asyncio.sleep(0.01)
        assert not waiting.done()  # the first round is not over
        await ready.first_round(first_round(), lambda: done.append(True))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # nor is the table programmed
        state.converged = True
        await asyncio.wait_for(waiting, 1.0)

    asyncio.run(scenario())
    assert done == [True]
