"""The next engine for a reload, prepared in a thread while the checks go on.

Building the engine for a new configuration, its first desired table, its check
specs and its status book costs time in proportion to the configuration (for a
large one, see the reload rows of bench/README.md, "Isolation under load"): on
the event loop it would stop every health check that long. `plan_reload` does it
all from the running engine without changing it; the director holds the check
results that arrive meanwhile (so the running engine is only read) and replays
them into the new engine when it switches, on the loop, in one short step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.config import Config
from ldirectord_py.daemon.snapshot import StatusBook
from ldirectord_py.engine import Effect, Engine
from ldirectord_py.ipvs.model import ServiceKey
from ldirectord_py.ipvs.writer import DataplaneView

REFUSED_SLICE = 0.002
"""Seconds of looking through the virtuals between two yields to the loop."""


@dataclass(frozen=True)
class ReloadPlan:
    engine: Engine
    effects: list[Effect]
    """What settling the new engine produced (log lines, commands, alerts)."""
    old_keys: list[ServiceKey]
    """The services the running engine wanted: still ours to delete."""
    specs: tuple[CheckSpec, ...]
    book: StatusBook
    same_desired: bool
    """The new engine wants exactly the table the running one wants: nothing to
    hand to the ip_vs writer (whose hand-over costs time on the loop)."""
    same_checks: bool
    """The checks are exactly those running: the scheduler needs no update."""


def plan_reload(
    running: Engine,
    config: Config,
    now: float,
    wall_offset: Callable[[], float],
    running_specs: tuple[CheckSpec, ...],
) -> ReloadPlan:
    """Everything the switch needs, computed from `running` (which is only read)."""
    old_desired = running.desired()
    engine = running.reload(config, now)
    effects = engine.take_effects()
    desired = engine.desired()  # built here, not on the loop at the first submit
    specs = tuple(CheckSpec.for_real(target.virtual, target.real) for target in engine.checks())
    book = StatusBook(engine, frozenset(), wall_offset)
    return ReloadPlan(
        engine,
        effects,
        [s.key for s in old_desired],
        specs,
        book,
        same_desired=desired == old_desired,
        same_checks=specs == running_specs,
    )


async def refused_services(engine: Engine, view: DataplaneView) -> list[str]:
    """The services of `engine` the kernel refused, as `ldirectordctl reload` names
    them: one line per virtual, looked up in slices (tens of thousands of
    virtuals would otherwise hold the loop for as long)."""
    refused = dict(view.refused)
    out: list[str] = []
    slice_end = time.perf_counter() + REFUSED_SLICE
    for index, virtual in enumerate(engine.config.virtuals):
        service = engine.service(virtual)
        why = None if service is None else refused.get(service.key)
        if why is not None:
            out.append(
                f"virtual={virtual.hostport} ({virtual.protocol}, line {virtual.line}): {why}"
            )
        if index & 255 == 255 and time.perf_counter() > slice_end:
            await asyncio.sleep(0)
            slice_end = time.perf_counter() + REFUSED_SLICE
    return out
