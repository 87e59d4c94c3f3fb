"""The next engine for a reload, prepared in a thread while the checks go on.

Building the engine for a new configuration, its first desired table, its check
specs and its status book costs time in proportion to the configuration (for a
large one, see the reload rows of bench/README.md, "Isolation under load"): on
the event loop it would stop every health check that long, and even in a thread
it slows the loop, which shares the interpreter with it. `plan_reload` does it
from the running engine without changing it, and only for what changed: the
virtuals are compared first (config/compare.py); a reload that changes none
plans nothing (the running engine, book and checks go on), and one that changes
some builds only those, taking every other virtual's state objects, status
entries and check specs as they are. The director holds the check results that
arrive meanwhile (so the running engine is only read) and replays them into the
new engine when it switches, on the loop, in one short step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Container
from dataclasses import dataclass

from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.config import Config
from ldirectord_py.config.compare import VirtualsCompared, compare_virtuals
from ldirectord_py.daemon.snapshot import StatusBook
from ldirectord_py.engine import Engine, Event
from ldirectord_py.ipvs.model import ServiceKey
from ldirectord_py.ipvs.writer import DataplaneView

REFUSED_SLICE = 0.002
"""Seconds of looking through the virtuals between two yields to the loop."""


@dataclass(frozen=True)
class ReloadPlan:
    compared: VirtualsCompared
    """Which virtuals the new configuration keeps as they were."""
    engine: Engine | None
    """The next engine; None when no virtual changed: the running one goes on
    (`Engine.use_positions`), with its status book and checks."""
    effects: list[Event]
    """What settling the new engine produced (log lines, commands, alerts)."""
    old_keys: list[ServiceKey]
    """The services the running engine wanted: still ours to delete."""
    specs: tuple[CheckSpec, ...]
    book: StatusBook | None
    same_desired: bool
    """The new engine wants exactly the table the running one wants: nothing to
    hand to the ip_vs writer (whose hand-over costs time on the loop)."""
    checks_changed: tuple[CheckSpec, ...] = ()
    """Checks that are new or whose parameters changed."""
    checks_removed: tuple[str, ...] = ()
    """Identities of checks no longer configured."""
    specs_replaced: tuple[CheckSpec, ...] = ()
    """The running specs of the checks changed or removed: what to release (the
    others are in `specs` too)."""

    @property
    def same_checks(self) -> bool:
        """The checks are exactly those running: the scheduler needs no update."""
        return not self.checks_changed and not self.checks_removed


def plan_reload(
    running: Engine,
    config: Config,
    now: float,
    wall_offset: Callable[[], float],
    running_specs: tuple[CheckSpec, ...],
    running_book: StatusBook | None = None,
) -> ReloadPlan:
    """Everything the switch needs, computed from `running` (which is only read)."""
    compared = compare_virtuals(running.config, config, running.identities)
    if compared.unchanged:
        return ReloadPlan(
            compared, None, running.refusals(), [], running_specs, None, same_desired=True
        )
    old_desired = running.desired()
    engine = running.reload(config, now, compared)
    effects = engine.take_effects()
    desired = engine.desired()  # built here, not on the loop at the first submit
    specs, changed, removed, replaced = _specs(engine, running, compared, running_specs)
    book = StatusBook(engine, frozenset(), wall_offset, previous=running_book, same=compared.same)
    return ReloadPlan(
        compared,
        engine,
        effects,
        [s.key for s in old_desired],
        specs,
        book,
        same_desired=desired == old_desired,
        checks_changed=changed,
        checks_removed=removed,
        specs_replaced=replaced,
    )


def _specs(
    engine: Engine,
    running: Engine,
    compared: VirtualsCompared,
    running_specs: tuple[CheckSpec, ...],
) -> tuple[tuple[CheckSpec, ...], tuple[CheckSpec, ...], tuple[str, ...], tuple[CheckSpec, ...]]:
    """The new engine's check specs, the running spec object kept for every check
    that only kept virtuals share (before and after); with the checks that are new
    or changed, the identities of those removed, and the running specs replaced
    or removed."""
    before = {s.identity: s for s in running_specs}
    touched: Container[str] = before
    if compared.in_order:
        touched = engine.checks_outside(compared.same) | running.checks_outside(compared.same)
    specs = []
    changed = []
    for target in engine.checks():
        old = before.get(target.identity)
        if old is not None and target.identity not in touched:
            specs.append(old)
            continue
        spec = CheckSpec.for_real(target.virtual, target.real)
        if old is not None and spec == old:
            spec = old
        else:
            changed.append(spec)
        specs.append(spec)
    now = {s.identity for s in specs}
    removed = tuple(i for i in before if i not in now)
    replaced = [before[s.identity] for s in changed if s.identity in before]
    replaced += [before[i] for i in removed]
    return tuple(specs), tuple(changed), removed, tuple(replaced)


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
