"""The per-real part of the status document, kept current as results arrive.

Building the document from the engine for every request costs time in
proportion to the configuration (tens of thousands of reals), all of it on the
event loop. Instead each real's entry is rebuilt only after something about it
changed: a check result marks the reals sharing its identity, a drain marks
every real, a reload builds a new book (off the loop, with the next engine).
Entries are replaced, never changed in place, so a document handed out earlier
(or read by the metrics exporter's thread) stays consistent.

`refresh_sliced` and `encode` do their work in slices of about `SLICE_REALS`
reals with a yield to the loop between slices, so even the document of a very
large configuration never holds up a health check for long (bench/README.md,
"Isolation under load": the status rows).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

from ldirectord_py.config import Real, Virtual
from ldirectord_py.engine import Engine
from ldirectord_py.engine.drain import DrainKey
from ldirectord_py.engine.table import destination_for
from ldirectord_py.ipvs.model import Destination

SLICE_REALS = 500
"""Reals rebuilt or encoded between two yields to the event loop."""

Entry = dict[str, Any]


class _Row:
    """What never changes for one configured real: where it sits in the document
    and how the kernel stores it."""

    __slots__ = ("kernel", "real", "stored")

    def __init__(self, real: Real, stored: Destination | None) -> None:
        self.real = real
        self.stored = stored
        self.kernel = str(stored.key) if stored else None


class StatusBook:
    """Every virtual's status entry for one engine."""

    def __init__(
        self,
        engine: Engine,
        drains: frozenset[DrainKey],
        wall_offset: Callable[[], float],
    ) -> None:
        self.engine = engine
        self._drains = drains
        self._wall_offset = wall_offset
        self._virtuals: tuple[Virtual, ...] = tuple(engine.config.virtuals)
        self._rows: list[list[_Row]] = []
        self._services: list[str | None] = []
        self._by_identity: dict[str, list[tuple[int, int]]] = {}
        for vi, virtual in enumerate(self._virtuals):
            service = engine.service(virtual)
            self._services.append(str(service.key) if service else None)
            rows = []
            for ri, real in enumerate(virtual.reals):
                stored = service.stored_destination(destination_for(real)) if service else None
                rows.append(_Row(real, stored))
                identity = virtual.check_identity(real)
                self._by_identity.setdefault(identity, []).append((vi, ri))
            self._rows.append(rows)
        offset = wall_offset()
        self.entries: list[Entry] = [
            self._virtual_entry(vi, [self._real_entry(vi, ri, offset) for ri in range(len(rows))])
            for vi, rows in enumerate(self._rows)
        ]
        self._dirty: dict[int, set[int]] = {}

    # ------------------------------------------------------------------ changes

    def mark(self, identity: str) -> None:
        """A result for `identity` arrived: its reals' entries are out of date."""
        for vi, ri in self._by_identity.get(identity, ()):
            self._dirty.setdefault(vi, set()).add(ri)

    def set_drains(self, drains: frozenset[DrainKey]) -> None:
        """Drained reals show weight 0: a change touches every entry."""
        if drains == self._drains:
            return
        self._drains = drains
        for vi, rows in enumerate(self._rows):
            self._dirty.setdefault(vi, set()).update(range(len(rows)))

    @property
    def dirty(self) -> int:
        return sum(len(v) for v in self._dirty.values())

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """Bring every entry up to date now (for callers that cannot wait)."""
        dirty, self._dirty = self._dirty, {}
        self._rebuild(dirty.items())

    async def refresh_sliced(self) -> None:
        """Bring every entry marked so far up to date, yielding between slices;
        results that arrive meanwhile are for the next refresh."""
        dirty, self._dirty = self._dirty, {}
        batch: list[tuple[int, set[int]]] = []
        size = 0
        for item in dirty.items():
            batch.append(item)
            size += len(item[1])
            if size >= SLICE_REALS:
                self._rebuild(batch)
                batch, size = [], 0
                await asyncio.sleep(0)
        self._rebuild(batch)

    def _rebuild(self, dirty: Iterable[tuple[int, set[int]]]) -> None:
        offset = self._wall_offset()
        for vi, positions in dirty:
            reals = list(self.entries[vi]["reals"])
            for ri in positions:
                reals[ri] = self._real_entry(vi, ri, offset)
            self.entries[vi] = self._virtual_entry(vi, reals)

    def _virtual_entry(self, vi: int, reals: list[Entry]) -> Entry:
        virtual = self._virtuals[vi]
        return {
            "virtual": virtual.identity,
            "service": self._services[vi],
            "fallback_active": self.engine.virtual_status(virtual).fallback_active,
            "reals": reals,
        }

    def _real_entry(self, vi: int, ri: int, wall_offset: float) -> Entry:
        row = self._rows[vi][ri]
        st = self.engine.real_status(self._virtuals[vi], row.real)
        stored = row.stored
        drained = stored is not None and any(k.matches(stored) for k in self._drains)
        return {
            "real": row.real.hostport,
            "kernel": row.kernel,
            "weight": None if stored is None else 0 if drained else stored.weight,
            "drained": drained,
            "state": st.state,
            "since": st.since + wall_offset,
            "failures": st.failures,
            "last_ok": st.last_ok,
            "last_reason": st.last_reason,
            "last_latency": st.last_latency,
        }


async def encode(header: dict[str, Any], entries: list[Entry]) -> bytes:
    """`header` with `"virtuals": entries` as one line of JSON, encoded in slices
    (the same text `json.dumps(..., default=str)` gives for the whole)."""
    encoder = json.JSONEncoder(default=str)
    head = encoder.encode(header)
    parts = [head[:-1] + ', "virtuals": [']
    size = 0
    first = True
    for entry in entries:
        reals = entry["reals"]
        rest = {k: v for k, v in entry.items() if k != "reals"}
        text = encoder.encode(rest)[:-1] + ', "reals": ['
        chunks = []
        for start in range(0, len(reals), SLICE_REALS):
            chunks.append(encoder.encode(reals[start : start + SLICE_REALS])[1:-1])
            size += min(SLICE_REALS, len(reals) - start)
            if size >= SLICE_REALS:
                size = 0
                await asyncio.sleep(0)
        parts.append(("" if first else ", ") + text + ", ".join(c for c in chunks if c) + "]}")
        first = False
        size += 1
    parts.append("]}\n")
    return "".join(parts).encode()
