"""What a reload did, as the log, the status, metrics and systemd report it.

Every reload -- HUP, autoreload, `ldirectordctl reload` -- ends in one
`ReloadResult`: when, what asked for it, applied or refused (with the file and
line of the first error), and what the new file changes (`ConfigChange`: the
virtuals and reals added, removed and changed). The main loop keeps the last
one; the status document (as `last_reload`, typed in observe/schema.py), the
metrics and the systemd STATUS= line read it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Collection, Generator, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ldirectord_py.config import Config, Real, Virtual
from ldirectord_py.observe.schema import ConfigChange, ReloadSnapshot, to_json

__all__ = [
    "ConfigChange",
    "ReloadResult",
    "ReloadTrigger",
    "config_change",
    "config_change_sliced",
]

_VIRTUAL_FIELDS = tuple(
    f.name for f in dataclasses.fields(Virtual) if f.compare and f.name != "reals"
)
"""What a virtual is, its reals aside (they are compared one by one). The config
dataclasses leave where a value was written out of `==` (config/model.py):
moving a line changes nothing."""


class ReloadTrigger(StrEnum):
    SIGNAL = "signal"
    AUTORELOAD = "autoreload"
    CONTROL = "control socket"


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of one reload."""

    at: float
    """Wall-clock time (time.time()) the reload ended."""
    trigger: ReloadTrigger
    ok: bool
    config: str
    """The config path, as given on the command line."""
    error: str | None = None
    error_path: str | None = None
    error_line: int | None = None
    change: ConfigChange | None = None
    """None when the reload was refused."""
    last_success_at: float | None = None
    """When a reload last applied: `at` when this one did, else the previous
    success's (None: none since the start; the metrics then take the start time)."""

    @property
    def where(self) -> str | None:
        """`FILE:LINE` of the error, when it has one."""
        if self.error_path is None:
            return None
        return f"{self.error_path}:{self.error_line}" if self.error_line else self.error_path

    def summary(self) -> str:
        """One line for systemd's STATUS= and for people."""
        if self.ok:
            change = self.change.counts() if self.change is not None else "no change"
            return f"last reload ({self.trigger}) applied: {change}"
        return f"last reload ({self.trigger}) refused: {self.error}"

    def snapshot(self) -> ReloadSnapshot:
        """The status document's `last_reload` (observe/schema.py)."""
        return ReloadSnapshot(
            at=self.at,
            trigger=str(self.trigger),
            ok=self.ok,
            config=self.config,
            error=self.error,
            where=self.where,
            change=self.change,
            last_success_at=self.last_success_at,
        )

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = to_json(self.snapshot())
        return result


def _keyed_reals(reals: Iterable[Real]) -> dict[str, Real]:
    """Reals by `ADDR:PORT` (a second entry for the same one gets `#2`)."""
    out: dict[str, Real] = {}
    for real in reals:
        key, n = real.hostport, 1
        while key in out:
            n += 1
            key = f"{real.hostport}#{n}"
        out[key] = real
    return out


COMPARE_STEP = 50
"""Virtuals compared between two looks at the clock (`config_change_sliced`)."""
COMPARE_SLICE = 0.002
"""Seconds of comparing between two yields to the loop."""


def config_change(old: Config, new: Config, same: Collection[str] = ()) -> ConfigChange:
    """What switching from `old` to `new` changes (positions in the file aside).
    `same`: identities of virtuals already known to be equal in both, reals
    included (the reload compared them, config/compare.py): not compared again."""
    change = _advance(_comparison(old, new, same), until=None)
    assert change is not None
    return change


async def config_change_sliced(
    old: Config, new: Config, same: Collection[str] = ()
) -> ConfigChange:
    """`config_change` on the loop, COMPARE_SLICE seconds at a time: at 10,000
    virtuals the comparison is a tenth of a second of Python, which a thread would
    spend holding the interpreter lock against the loop (daemon/config_read.py)."""
    steps = _comparison(old, new, same)
    while (change := _advance(steps, until=time.perf_counter() + COMPARE_SLICE)) is None:
        await asyncio.sleep(0)
    return change


def _advance(
    steps: Generator[None, None, ConfigChange], until: float | None
) -> ConfigChange | None:
    """Run the comparison to its end (its result), or until the clock passes
    `until` (None: not finished yet)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            change: ConfigChange = done.value
            return change
        if until is not None and time.perf_counter() > until:
            return None


def _comparison(
    old: Config, new: Config, same: Collection[str]
) -> Generator[None, None, ConfigChange]:
    """The comparison, pausing (a bare `yield`) every COMPARE_STEP virtuals."""
    before: dict[str, Virtual] = {}
    after: dict[str, Virtual] = {}
    for into, virtuals in ((before, old.virtuals), (after, new.virtuals)):
        for n, v in enumerate(virtuals, 1):
            into[v.identity] = v
            if n % COMPARE_STEP == 0:
                yield
    changed: list[str] = []
    reals_added: list[str] = []
    reals_removed: list[str] = []
    reals_changed: list[str] = []
    for n, (identity, virtual) in enumerate(after.items(), 1):
        if identity in same:
            continue
        previous = before.get(identity)
        old_reals = _keyed_reals(previous.reals) if previous is not None else {}
        new_reals = _keyed_reals(virtual.reals)
        if previous is not None and any(
            getattr(previous, name) != getattr(virtual, name) for name in _VIRTUAL_FIELDS
        ):
            changed.append(identity)
        reals_added += [f"{identity} {k}" for k in new_reals if k not in old_reals]
        reals_changed += [
            f"{identity} {k}" for k, r in new_reals.items() if k in old_reals and old_reals[k] != r
        ]
        reals_removed += [f"{identity} {k}" for k in old_reals if k not in new_reals]
        if n % COMPARE_STEP == 0:
            yield
    for n, (identity, previous) in enumerate(before.items(), 1):
        if identity not in after:
            reals_removed += [f"{identity} {k}" for k in _keyed_reals(previous.reals)]
        if n % COMPARE_STEP == 0:
            yield
    globals_changed = tuple(
        f.name
        for f in dataclasses.fields(new.settings)
        if f.compare and getattr(old.settings, f.name) != getattr(new.settings, f.name)
    )
    return ConfigChange(
        virtuals_added=tuple(i for i in after if i not in before),
        virtuals_removed=tuple(i for i in before if i not in after),
        virtuals_changed=tuple(changed),
        reals_added=tuple(reals_added),
        reals_removed=tuple(reals_removed),
        reals_changed=tuple(reals_changed),
        globals_changed=globals_changed,
    )
