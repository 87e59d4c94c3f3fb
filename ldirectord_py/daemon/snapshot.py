"""The per-real part of the status snapshot, kept current as results arrive.

Building the snapshot from the engine for every request costs time in
proportion to the configuration (tens of thousands of reals), all of it on the
event loop. Instead each real's entry is rebuilt only after something about it
changed: a check result marks the reals sharing its identity, a drain marks
every real, a change of what the kernel holds marks that service's reals, a
reload builds a new book (off the loop, with the next engine). Entries are
frozen (observe/schema.py) and replaced, never changed, so a snapshot handed
out earlier (or read by the metrics exporter's thread) stays consistent.

`refresh_sliced` and `encode` do their work in slices of about `SLICE_REALS`
reals with a yield to the loop between slices, so even the document of a very
large configuration never holds up a health check for long (bench/README.md,
"Isolation under load": the status rows).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from ldirectord_py.config import Real, Virtual
from ldirectord_py.engine import Engine, RealStatus
from ldirectord_py.engine.drain import DrainKey
from ldirectord_py.engine.table import destination_for, fallback_destination
from ldirectord_py.ipvs.model import (
    Destination,
    DestinationKey,
    Forwarding,
    ServiceKey,
)
from ldirectord_py.observe.schema import RealSnapshot, RealState, StatusSnapshot, VirtualSnapshot

SLICE_REALS = 500
"""Reals rebuilt or encoded between two yields to the event loop."""

FORWARD_WORDS = {f: f.label for f in Forwarding}
"""ipvsadm's Forward column (`Forwarding.label`), looked up per real."""


@dataclass(frozen=True)
class KernelHolds:
    """What the ip_vs writer reports the kernel holds after its last attempt."""

    services: frozenset[ServiceKey] = frozenset()
    weights: Mapping[ServiceKey, Mapping[DestinationKey, int]] = field(default_factory=dict)


class _Row:
    """What never changes for one configured real: where it sits in the document
    and how the kernel stores it."""

    __slots__ = ("dkey", "forward", "hostport", "identity", "kernel", "status", "stored")

    def __init__(
        self, real: Real, stored: Destination | None, identity: str, status: RealStatus
    ) -> None:
        self.hostport = real.hostport
        """The real as the document names it (not the Real: a row outlives the
        configuration it was made from when a reload keeps its virtual)."""
        self.identity = identity
        self.stored = stored
        self.status = status
        """The engine's status object for this real (the engine updates it in place)."""
        self.dkey = stored.key if stored else None
        self.kernel = str(stored.key) if stored else None
        self.forward = FORWARD_WORDS.get(stored.forwarding) if stored else None


class StatusBook:
    """Every virtual's status entry for one engine."""

    def __init__(
        self,
        engine: Engine,
        drains: frozenset[DrainKey],
        wall_offset: Callable[[], float],
        *,
        previous: StatusBook | None = None,
        same: Collection[str] = frozenset(),
    ) -> None:
        """`previous`, `same`: the book of the engine before a reload and the
        virtuals it kept (config/compare.py): their rows and entries are taken as
        they are (their state objects are the same), with what the kernel held
        and the drains as `previous` last saw them; only the others are built."""
        self.engine = engine
        self._drains = drains
        self._wall_offset = wall_offset
        self._virtuals: tuple[Virtual, ...] = tuple(engine.config.virtuals)
        self._rows: list[list[_Row]] = []
        self._services: list[str | None] = []
        self._keys: list[ServiceKey | None] = []
        self._fallbacks: list[Destination | None] = []
        """Per virtual: its fallback as the kernel stores it (None: none, or no service)."""
        self._failures: dict[str, int] = {}
        """Per check identity: consecutive failed results, from the first failure."""
        self._kernel = KernelHolds()
        self._seen: list[tuple[bool, Mapping[DestinationKey, int] | None] | None] = []
        """Per virtual: what the kernel held when its entry was built (None: never)."""
        self._by_identity: dict[str, list[tuple[int, int]]] = {}
        self._desired_for = -1
        """The engine version `_desired_weights` were read at."""
        self._desired_weights: dict[int, dict[DestinationKey, int]] = {}
        self._dirty: dict[int, set[int]] = {}
        kept: dict[str, int] = {}
        if previous is not None and same:
            self._drains, self._kernel = previous._drains, previous._kernel
            kept = {vid: vi for vi, vid in enumerate(previous.engine.identities) if vid in same}
        entries: list[VirtualSnapshot | None] = []
        self._json: list[tuple[VirtualSnapshot, dict[str, object]] | None] = []
        for vi, (vid, virtual) in enumerate(zip(engine.identities, self._virtuals, strict=True)):
            old = kept.get(vid)
            if old is not None:
                assert previous is not None
                # `previous` is still refreshed on the loop meanwhile: its marks
                # are read before what the kernel held, that before the entry, so
                # an entry refreshed in between is only rebuilt once more
                dirty = previous._dirty.get(old)
                if dirty:
                    self._dirty[vi] = set(dirty)
                self._seen.append(previous._seen[old])
                entries.append(previous.entries[old])
                self._json.append(previous._json[old])
                rows = previous._rows[old]
                self._services.append(previous._services[old])
                self._keys.append(previous._keys[old])
                self._fallbacks.append(previous._fallbacks[old])
                for ri, row in enumerate(rows):
                    self._by_identity.setdefault(row.identity, []).append((vi, ri))
                self._rows.append(rows)
                continue
            service = engine.service(virtual)
            self._services.append(str(service.key) if service else None)
            self._keys.append(service.key if service else None)
            self._fallbacks.append(
                service.stored_destination(fallback_destination(virtual.fallback))
                if service and virtual.fallback
                else None
            )
            self._seen.append(None)
            rows = []
            for ri, real in enumerate(virtual.reals):
                stored = service.stored_destination(destination_for(real)) if service else None
                identity = virtual.check_identity(real)
                rows.append(_Row(real, stored, identity, engine.real_status(virtual, real)))
                self._by_identity.setdefault(identity, []).append((vi, ri))
            self._rows.append(rows)
            entries.append(None)
            self._json.append(None)
        offset = wall_offset()
        self.entries: list[VirtualSnapshot] = [
            entry
            if entry is not None
            else self._virtual_entry(
                vi, [self._real_entry(vi, ri, offset) for ri in range(len(self._rows[vi]))]
            )
            for vi, entry in enumerate(entries)
        ]
        self._desired_weights.clear()

    def entries_json(self) -> list[dict[str, object]]:
        """The entries as JSON data; an entry's is made once (entries are replaced,
        never changed), so a caller polling status() pays for what changed only."""
        out = []
        for vi, entry in enumerate(self.entries):
            cached = self._json[vi]
            if cached is None or cached[0] is not entry:
                cached = self._json[vi] = (entry, entry.to_json())
            out.append(cached[1])
        return out

    # ------------------------------------------------------------------ changes

    def mark(self, identity: str, ok: bool | None = None) -> None:
        """A result for `identity` arrived (`ok`: whether it passed): its reals'
        entries are out of date."""
        if ok is not None:
            if ok:
                self._failures.pop(identity, None)
            else:
                self._failures[identity] = self._failures.get(identity, 0) + 1
        for vi, ri in self._by_identity.get(identity, ()):
            self._dirty.setdefault(vi, set()).add(ri)

    def carry_failures(self, previous: StatusBook | None) -> None:
        """Keep the failure counts of the checks a reload keeps."""
        if previous is not None:
            for identity, count in previous._failures.items():
                if identity in self._by_identity:
                    self._failures[identity] = count
                    self.mark(identity)

    def set_kernel(self, kernel: KernelHolds) -> None:
        """What the kernel holds now: the services whose part of it changed since
        their entry was built are out of date."""
        if kernel == self._kernel:
            return
        self._kernel = kernel
        for vi, key in enumerate(self._keys):
            seen = (key in kernel.services, kernel.weights.get(key)) if key else (False, None)
            if seen != self._seen[vi]:
                self._dirty.setdefault(vi, set()).update(range(len(self._rows[vi])))

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
        self._rebuild(self._dirty.items())
        self._dirty = {}  # only now: see _rebuilt

    async def refresh_sliced(self) -> None:
        """Bring every entry marked so far up to date, yielding between slices;
        results that arrive meanwhile for virtuals not yet rebuilt are taken too,
        the others are for the next refresh."""
        batch: list[tuple[int, set[int]]] = []
        size = 0
        for item in list(self._dirty.items()):
            batch.append(item)
            size += len(item[1])
            if size >= SLICE_REALS:
                self._rebuilt(batch)
                batch, size = [], 0
                await asyncio.sleep(0)
        self._rebuilt(batch)

    def _rebuilt(self, batch: list[tuple[int, set[int]]]) -> None:
        """Rebuild `batch`, then drop its marks: a mark goes only with its entry
        rebuilt, as a reload's next book, made from this one in a thread
        meanwhile, reads them (marks first, then the entry it copies)."""
        self._rebuild(batch)
        dirty = self._dirty
        for vi, positions in batch:
            if dirty.get(vi) is positions:  # not already taken by a refresh() meanwhile
                del dirty[vi]

    def _rebuild(self, dirty: Iterable[tuple[int, set[int]]]) -> None:
        offset = self._wall_offset()
        for vi, positions in dirty:
            reals = list(self.entries[vi].reals)
            for ri in positions:
                reals[ri] = self._real_entry(vi, ri, offset)
            self.entries[vi] = self._virtual_entry(vi, reals)

    def _virtual_entry(self, vi: int, reals: list[RealSnapshot]) -> VirtualSnapshot:
        virtual = self._virtuals[vi]
        key = self._keys[vi]
        programmed = key is not None and key in self._kernel.services
        self._seen[vi] = (programmed, self._kernel.weights.get(key) if key else None)
        service = self.engine.service(virtual)
        fallback = self._fallbacks[vi]
        return VirtualSnapshot(
            virtual=virtual.identity,
            service=self._services[vi],
            checktype=virtual.checktype,
            fallback=virtual.fallback.hostport if virtual.fallback else None,
            scheduler=service.scheduler if service else None,
            persistence=service.persistence if service else None,
            programmed=programmed,
            fallback_active=self.engine.virtual_status(virtual).fallback_active,
            fallback_kernel=str(fallback.key) if fallback else None,
            fallback_forward=FORWARD_WORDS.get(fallback.forwarding) if fallback else None,
            reals=tuple(reals),
        )

    def _desired(self, vi: int) -> dict[DestinationKey, int]:
        """The weights the engine wants now in this virtual's service."""
        if self._desired_for != self.engine.version:
            self._desired_for = self.engine.version
            self._desired_weights = {}
        weights = self._desired_weights.get(vi)
        if weights is None:
            # the engine's own entry: no dict of the whole table (10,000 services)
            service = (
                self.engine.desired_service(self._virtuals[vi])
                if self._keys[vi] is not None
                else None
            )
            weights = {d.key: d.weight for d in service.destinations} if service else {}
            self._desired_weights[vi] = weights
        return weights

    def _real_entry(self, vi: int, ri: int, wall_offset: float) -> RealSnapshot:
        row = self._rows[vi][ri]
        st = row.status
        stored = row.stored
        drained = False
        weight = programmed = None
        dkey = row.dkey
        if stored is not None and dkey is not None:
            drained = bool(self._drains) and any(k.matches(stored) for k in self._drains)
            weight = self._desired(vi).get(dkey)
            if weight is not None and drained:
                weight = 0
            held = self._held(vi)
            programmed = held.get(dkey) if held is not None else None
        return RealSnapshot(
            real=row.hostport,
            kernel=row.kernel,
            weight=weight,
            programmed_weight=programmed,
            forward=row.forward,
            drained=drained,
            state=_STATES[st.state],
            since=st.since + wall_offset,
            failures=self._failures.get(row.identity, 0),
            last_ok=st.last_ok,
            last_reason=st.last_reason,
            last_latency=st.last_latency,
            last_kind=st.last_kind.value,
        )

    def _held(self, vi: int) -> Mapping[DestinationKey, int] | None:
        key = self._keys[vi]
        return self._kernel.weights.get(key) if key is not None else None


_STATES = {state.value: state for state in RealState}


async def encode(snapshot: StatusSnapshot) -> bytes:
    """The snapshot as one line of JSON, encoded in slices (the same text
    `json.dumps(snapshot.to_json(), default=str)` gives for the whole)."""
    encoder = json.JSONEncoder(default=str)
    head = encoder.encode(snapshot.header_json())
    parts = [head[:-1] + ', "virtuals": [']
    size = 0
    first = True
    for entry in snapshot.virtuals:
        reals = entry.reals
        text = encoder.encode(entry.header_json())[:-1] + ', "reals": ['
        chunks = []
        for start in range(0, len(reals), SLICE_REALS):
            chunk = reals[start : start + SLICE_REALS]
            chunks.append(encoder.encode([r.to_json() for r in chunk])[1:-1])
            size += len(chunk)
            if size >= SLICE_REALS:
                size = 0
                await asyncio.sleep(0)
        parts.append(("" if first else ", ") + text + ", ".join(c for c in chunks if c) + "]}")
        first = False
        size += 1
    parts.append("]}\n")
    return "".join(parts).encode()
