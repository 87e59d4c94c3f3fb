"""The pure heart of the daemon: check results and time in, desired ip_vs state out.

Semantics are the original's (spec 5.2-5.5), with its start-up flap removed
(quirk 2, fixed): a real that is not yet known to be up counts as down -- absent,
or at weight 0 with quiescent=yes, exactly where the original ends after its
forced up/down pairs -- and each virtual's fallback server and fallbackcommand
are decided once, when every real of the virtual has had its first result.

- `failurecount` consecutive failures take an up real down; one success brings
  it back (a real that is down does not count failures).
- quiescent=yes sets weight 0 instead of deleting; fallback servers are always
  deleted, never quiesced.
- The fallback server is in the table exactly while no real of the virtual is up
  (after the first round); `fallbackcommand start|stop VIP:PORT PROTO` runs once
  per transition and never twice in a row with the same word.
- A real in maintenance is down at once, whatever its failure count.
- Reals that share a check identity (the original's rule) share one check; each
  virtual keeps its own up/down state and failure count for them.

The engine never reads a clock: every call takes `now`.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.config import Config, Real, Virtual
from ldirectord_py.config.compare import VirtualsCompared, compare_virtuals
from ldirectord_py.engine.events import (
    Alert,
    CommandRequested,
    DesiredTableChanged,
    Event,
    FailureCountReset,
    FallbackChanged,
    MonitorRecord,
    RealChanged,
    RealState,
    ServiceRefusedByConfig,
    SoftFailure,
)
from ldirectord_py.engine.table import (
    ServiceSpecError,
    destination_for,
    fallback_destination,
    service_for,
)
from ldirectord_py.engine.wording import inaccessible_text, original_text
from ldirectord_py.ipvs.model import Destination, DestinationKey, ServiceKey, VirtualService

UNCHECKED_TYPES = ("on", "off")


@dataclass
class RealStatus:
    """One real as one virtual sees it."""

    up: bool = False
    decided: bool = False
    failures: int = 0
    since: float = 0.0
    last_ok: bool | None = None
    last_reason: str = ""
    last_kind: FailureKind = FailureKind.NONE
    """The class of the last result's failure (NONE after a success)."""
    last_latency: float | None = None
    last_at: float | None = None

    @property
    def state(self) -> str:
        if not self.decided:
            return "unknown"
        return "up" if self.up else "down"


@dataclass
class VirtualStatus:
    settled: bool = False
    fallback_active: bool = False
    command_sent: str | None = None
    since: float = 0.0


@dataclass(frozen=True)
class CheckTarget:
    """A check to schedule: one per check identity, with the virtual and real it
    was first configured on and the shortest interval of the virtuals sharing it."""

    identity: str
    virtual: Virtual
    real: Real
    interval: int


_DesiredRow = tuple[
    str,
    Virtual,
    VirtualService,
    list[tuple[RealStatus, Destination, Destination]],
    tuple[RealStatus, ...],
]
"""A virtual's identity, itself, its service, per real its status, destination
up and destination quiesced, and the statuses alone (see Engine._desired_rows)."""
_UP = operator.attrgetter("up")


def _real_key(virtual: Virtual, real: Real) -> tuple[str, str]:
    return (virtual.identity, virtual.check_identity(real))


def _monitor_identity(identity: str) -> str:
    """The original's `tr/:/ /s` and `s/\\//g` on the real's identity."""
    return re.sub(":+", " ", identity).replace("\\", "")


_MONITOR_ESCAPE = re.compile(r"[%|\r\n]")


@functools.lru_cache(maxsize=4096)
def _monitor_message(reason: str) -> str:
    """The original's escaping of `%`, `|`, CR and LF as `%xx` (an empty reason: `-`)."""
    return _MONITOR_ESCAPE.sub(lambda m: f"%{ord(m.group()):02x}", reason or "-")


def _where(virtual: Virtual) -> str:
    """The original's `get_virtual`: `ip:port`, or the fwmark."""
    return virtual.hostport


class Engine:
    """State for one configuration; `reload` builds the next one, carrying state."""

    def __init__(
        self,
        config: Config,
        now: float,
        *,
        live: Mapping[ServiceKey, VirtualService]
        | Callable[[], Mapping[ServiceKey, VirtualService]]
        | None = None,
        previous: Engine | None = None,
        same: Collection[str] = frozenset(),
        identities: Sequence[str] | None = None,
    ) -> None:
        """`same`: identities of virtuals equal to `previous`'s (config/compare.py):
        their state objects, service, rows and desired service are `previous`'s,
        taken as they are, not rebuilt. `live` may be given as a function, called
        only if a real is new. `identities`: those of `config.virtuals`, if known."""
        self.config = config
        self._ids: tuple[str, ...] = (
            tuple(identities)
            if identities is not None
            else tuple(v.identity for v in config.virtuals)
        )
        """Each virtual's identity, in the configuration's order (computed once)."""
        if previous is None:
            same = frozenset()
        self._services: dict[str, VirtualService] = {}
        self._refused: dict[str, str] = {}
        """Virtuals whose service the configuration cannot express, and why."""
        self._reals: dict[tuple[str, str], RealStatus] = {}
        self._real_keys: dict[str, tuple[tuple[str, str], ...]] = {}
        """Per virtual, each real's key in `_reals`, in the order of its reals."""
        self._virtuals: dict[str, VirtualStatus] = {}
        self._sharing: dict[str, list[tuple[Virtual, Real, str]]] = {}
        """Per check identity, the virtuals and reals that share it (with the
        virtual's identity), in the configuration's order."""
        self._events: list[Event] = []
        # Per-result fast paths (record() runs once per check result): the sharers
        # of an identity with their status objects and monitorfile identities, and
        # per virtual the number of distinct reals that are up / not yet decided.
        self._targets: dict[str, list[tuple[Virtual, Real, RealStatus, str]]] = {}
        self._up_count: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._checks: list[CheckTarget] | None = None
        # desired() is rebuilt only when something it depends on changed
        self._version = 0
        self._desired: tuple[int, tuple[VirtualService, ...]] | None = None
        self._rows: list[_DesiredRow] | None = None
        self._carried_rows: dict[str, _DesiredRow] = {}
        """The rows of the virtuals a reload kept, until this engine's are made."""
        self._row_index: dict[str, int] = {}
        """Each programmable virtual's position in the rows and in desired()."""
        self._changed_at: dict[str, int] = dict.fromkeys(self._ids, 0)
        """Per virtual, the version its desired service last changed at (every key
        made here: the dict never changes size, so it can be read in a thread)."""
        self._built: dict[str, tuple[tuple[tuple[bool, ...], bool], VirtualService]] = {}
        """Each virtual's service as last built, by the up-states of its reals and
        its fallback: a state change rebuilds its own virtual only (rebuilding
        10,000 held the loop over 100 ms)."""
        # per virtual: each real's status and its stored destination when up and
        # when quiesced (made on the first desired(); reals and destinations are
        # immutable, statuses are never replaced)
        self._inaccessible: dict[str, tuple[Virtual, float]] = {}
        pairs = list(zip(self._ids, config.virtuals, strict=True))
        if previous is not None:
            by_id = dict(pairs)
            for key, (old_virtual, since) in previous._inaccessible.items():
                kept = by_id.get(old_virtual.identity)
                if kept is not None:
                    self._inaccessible[key] = (kept, since)
            if same:
                self._built = {vid: b for vid, b in previous._built.items() if vid in same}
                self._carried_rows = {r[0]: r for r in previous._rows or () if r[0] in same}
        for vid, virtual in pairs:
            if vid in same:
                assert previous is not None
                service = previous._services.get(vid)
                if service is not None:
                    self._services[vid] = service
                    continue
                why = previous._refused[vid]
            else:
                try:
                    self._services[vid] = service_for(virtual)
                    continue
                except ServiceSpecError as exc:
                    why = str(exc)
            self._refused[vid] = why
            self._events.append(ServiceRefusedByConfig(vid, why))
        live_map: Mapping[ServiceKey, VirtualService] | None = None

        def live_now() -> Mapping[ServiceKey, VirtualService]:
            nonlocal live_map
            if live_map is None:
                live_map = (live() if callable(live) else live) or {}
            return live_map

        for vid, virtual in pairs:
            if vid in same:
                assert previous is not None
                self._adopt_virtual(vid, virtual, previous)
            else:
                self._init_virtual(vid, virtual, now, live_now, previous)
        self._index(previous, same)
        for vid, virtual in pairs:
            if vid not in same:
                # a running virtual is settled as soon as its reals are decided
                # (record() settles it): one taken as it is needs nothing
                self._events += self._settle(virtual, now)

    # ------------------------------------------------------------------ setup

    def _adopt_virtual(self, vid: str, virtual: Virtual, previous: Engine) -> None:
        """A virtual equal to `previous`'s: its state objects, taken as they are
        (the same objects: the running engine is only read meanwhile, and retired
        once this one runs)."""
        self._virtuals[vid] = previous._virtuals[vid]
        keys = self._real_keys[vid] = previous._real_keys[vid]
        checked = virtual.checktype not in UNCHECKED_TYPES
        reals = self._reals
        for real, key in zip(virtual.reals, keys, strict=True):
            if checked:
                self._share(key[1], virtual, real, vid)
            if key not in reals:
                reals[key] = previous._reals[key]

    def _share(self, identity: str, virtual: Virtual, real: Real, vid: str) -> None:
        sharers = self._sharing.setdefault(identity, [])
        if (virtual, real, vid) not in sharers:
            sharers.append((virtual, real, vid))

    def _init_virtual(
        self,
        vid: str,
        virtual: Virtual,
        now: float,
        live: Callable[[], Mapping[ServiceKey, VirtualService]],
        previous: Engine | None,
    ) -> None:
        carried = previous._virtuals.get(vid) if previous else None
        live_dests: dict[DestinationKey, Destination] | None = None
        if carried:
            self._virtuals[vid] = dataclasses.replace(carried)
        else:
            live_dests, fallback_live = self._live(virtual, vid, live())
            self._virtuals[vid] = VirtualStatus(fallback_active=fallback_live, since=now)
        keys = []
        for real in virtual.reals:
            key = (vid, virtual.check_identity(real))
            keys.append(key)
            if virtual.checktype not in UNCHECKED_TYPES:
                self._share(key[1], virtual, real, vid)
            if key in self._reals:
                continue
            old = previous._reals.get(key) if previous else None
            if old is not None:
                self._reals[key] = dataclasses.replace(old)
                continue
            status = RealStatus(since=now)
            stored = self._stored(virtual, destination_for(real))
            if live_dests is None:
                live_dests = self._live(virtual, vid, live())[0]
            live_dest = live_dests.get(stored.key) if stored else None
            if virtual.checktype == "on":
                status.up = status.decided = True
                if live_dest is None:
                    # never checked, so no result will announce it: say it here, as
                    # the original does when it adds the real
                    self._events.append(
                        RealChanged(
                            vid,
                            _where(virtual),
                            real.hostport,
                            RealState.UNKNOWN,
                            RealState.UP,
                            real.weight,
                            virtual.quiescent,
                            "",
                            FailureKind.NONE,
                            checked=False,
                        )
                    )
            elif live_dest is not None and live_dest.weight > 0:
                # Already serving: the original forces such a real up at start.
                status.up = status.decided = True
            elif virtual.checktype == "off":
                status.decided = True
            self._reals[key] = status
        self._real_keys[vid] = tuple(keys)

    def _live(
        self, virtual: Virtual, vid: str, live: Mapping[ServiceKey, VirtualService]
    ) -> tuple[dict[DestinationKey, Destination], bool]:
        """The virtual's destinations in the live table, its fallback aside, and
        whether the fallback is among them."""
        service = self._services.get(vid)
        live_service = live.get(service.key) if service else None
        live_dests = {d.key: d for d in live_service.destinations} if live_service else {}
        fallback_key = self._fallback_key(virtual)
        if fallback_key is None:
            return live_dests, False
        return live_dests, live_dests.pop(fallback_key, None) is not None

    def _index(self, previous: Engine | None, same: Collection[str]) -> None:
        reals = self._reals
        for vid in self._ids:
            if vid in same:
                assert previous is not None
                self._up_count[vid] = previous._up_count[vid]
                self._pending[vid] = previous._pending[vid]
                continue
            statuses = {id(st): st for st in map(reals.__getitem__, self._real_keys[vid])}
            self._up_count[vid] = sum(1 for st in statuses.values() if st.up)
            self._pending[vid] = sum(1 for st in statuses.values() if not st.decided)
        squeezed: dict[str, str] = {}
        if previous is not None and same:
            # the monitorfile form of an identity is a regular expression's work
            squeezed = {i: t[0][3] for i, t in previous._targets.items() if t}
        for identity, sharers in self._sharing.items():
            form = squeezed.get(identity) or _monitor_identity(identity)
            self._targets[identity] = [
                (virtual, real, reals[(vid, identity)], form) for virtual, real, vid in sharers
            ]

    def _mark(self, virtual: Virtual, status: RealStatus, up: bool) -> None:
        """Decide a real up or down, keeping the per-virtual counts."""
        vid = virtual.identity
        if not status.decided:
            status.decided = True
            self._pending[vid] -= 1
        if status.up != up:
            status.up = up
            self._up_count[vid] += 1 if up else -1
            self._changed_at[vid] = self._version + 1  # before the version: see desired()
            self._version += 1

    def _stored(self, virtual: Virtual, destination: Destination) -> Destination | None:
        service = self._services.get(virtual.identity)
        return service.stored_destination(destination) if service else None

    def _fallback_key(self, virtual: Virtual) -> DestinationKey | None:
        if virtual.fallback is None:
            return None
        stored = self._stored(virtual, fallback_destination(virtual.fallback))
        return stored.key if stored else None

    # ------------------------------------------------------------------ queries

    def take_effects(self) -> list[Event]:
        """Events produced while building this engine (settling at start/reload)."""
        events, self._events = self._events, []
        return events

    def checks(self) -> list[CheckTarget]:
        """What the scheduler runs: one entry per check identity."""
        if self._checks is None:
            targets = []
            for identity, sharers in self._sharing.items():
                virtual, real, _ = sharers[0]
                interval = min(v.checkinterval for v, _, _ in sharers)
                targets.append(CheckTarget(identity, virtual, real, interval))
            self._checks = targets
        return list(self._checks)

    def refusals(self) -> list[Event]:
        """The refusals this engine's configuration got, as building it again
        would announce them (a reload that changed no virtual builds nothing)."""
        return [ServiceRefusedByConfig(vid, why) for vid, why in self._refused.items()]

    def checks_outside(self, kept: Collection[str]) -> set[str]:
        """The check identities of the reals of every virtual not in `kept`: the
        checks whose sharers a reload may have changed."""
        return {key[1] for vid, keys in self._real_keys.items() if vid not in kept for key in keys}

    @property
    def identities(self) -> tuple[str, ...]:
        """The virtuals' identities, in the configuration's order."""
        return self._ids

    def service(self, virtual: Virtual) -> VirtualService | None:
        """The ip_vs service this virtual asks for (None if it cannot be programmed)."""
        return self._services.get(virtual.identity)

    def real_status(self, virtual: Virtual, real: Real) -> RealStatus:
        return self._reals[_real_key(virtual, real)]

    def virtual_status(self, virtual: Virtual) -> VirtualStatus:
        return self._virtuals[virtual.identity]

    @property
    def version(self) -> int:
        """Changes whenever desired() would return something different."""
        return self._version

    def desired(self) -> tuple[VirtualService, ...]:
        """Every virtual's service with the destinations it should have now."""
        cached = self._desired
        version = self._version
        if cached is not None and cached[0] == version:
            return cached[1]
        result = self._build_desired(cached)
        self._desired = (version, result)
        return result

    def _build_desired(
        self, cached: tuple[int, tuple[VirtualService, ...]] | None
    ) -> tuple[VirtualService, ...]:
        """The table, with only the virtuals changed since `cached` was built
        looked at again (a version stamp per virtual, written before the version
        moves: a build racing a change in another thread looks at it again next
        time, never misses it)."""
        rows = self._desired_rows()
        if cached is None:
            return tuple(self._desired_service(row) for row in rows)
        since = cached[0]
        out = list(cached[1])
        index = self._row_index
        for vid in [v for v, at in self._changed_at.items() if at > since]:
            i = index.get(vid)
            if i is not None:
                out[i] = self._desired_service(rows[i])
        return tuple(out)

    def _desired_service(self, row: _DesiredRow) -> VirtualService:
        vid, virtual, service, members, statuses = row
        fallback_active = self._virtuals[vid].fallback_active
        signature = (tuple(map(_UP, statuses)), fallback_active)
        built = self._built.get(vid)
        if built is not None and built[0] == signature:
            return built[1]  # unchanged since the last build: no new object
        dests: dict[DestinationKey, Destination] = {}
        quiescent = virtual.quiescent
        for status, up_dest, quiesced_dest in members:
            if status.up:
                stored = up_dest
            elif quiescent:
                stored = quiesced_dest
            else:
                continue
            # Two reals the kernel cannot tell apart: the first one up wins.
            key = stored.key
            held = dests.get(key)
            if held is None or (stored.weight and not held.weight):
                dests[key] = stored
        if virtual.fallback is not None and fallback_active:
            fallback = service.stored_destination(fallback_destination(virtual.fallback))
            dests[fallback.key] = fallback
        rebuilt = dataclasses.replace(service, destinations=tuple(dests.values()))
        self._built[vid] = (signature, rebuilt)
        return rebuilt

    def desired_service(self, virtual: Virtual) -> VirtualService | None:
        """`virtual`'s service in desired() (None if it cannot be programmed),
        without looking through the table."""
        self.desired()
        built = self._built.get(virtual.identity)
        return built[1] if built is not None else None

    def _desired_rows(self) -> list[_DesiredRow]:
        """Per programmable virtual, what desired() reads: computed once (a
        virtual's identity alone costs microseconds, times 10,000 virtuals); a
        virtual a reload kept takes its row's members from the engine before."""
        if self._rows is None:
            rows = []
            carried, self._carried_rows = self._carried_rows, {}
            reals = self._reals
            for vid, virtual in zip(self._ids, self.config.virtuals, strict=True):
                service = self._services.get(vid)
                if service is None:
                    continue
                row = carried.get(vid)
                if row is not None:
                    rows.append((vid, virtual, service, row[3], row[4]))
                    continue
                members = [
                    (
                        reals[key],
                        service.stored_destination(destination_for(real)),
                        service.stored_destination(destination_for(real, quiesced=True)),
                    )
                    for real, key in zip(virtual.reals, self._real_keys[vid], strict=True)
                ]
                rows.append((vid, virtual, service, members, tuple(m[0] for m in members)))
            self._rows = rows
            self._row_index = {row[0]: i for i, row in enumerate(rows)}
        return self._rows

    def cleanstop_keys(self) -> list[ServiceKey]:
        """Services to delete on stop: those of virtuals with cleanstop=yes."""
        return [
            self._services[v.identity].key
            for v in self.config.virtuals
            if v.cleanstop and v.identity in self._services
        ]

    # ------------------------------------------------------------------ events

    def record(
        self,
        identity: str,
        ok: bool,
        reason: str,
        now: float,
        latency: float | None = None,
        *,
        maintenance: bool = False,
        kind: FailureKind = FailureKind.NONE,
    ) -> list[Event]:
        """A check result for every real that shares `identity` (`kind`: the
        failure's class, carried on the events it causes)."""
        events: list[Event] = []
        message = ""
        version = self._version
        for virtual, real, status, squeezed in self._targets.get(identity, ()):
            status.last_ok, status.last_reason, status.last_kind = ok, reason, kind
            status.last_latency, status.last_at = latency, now
            if virtual.monitorfile:
                if not message:
                    message = _monitor_message(reason)
                state = "[up]" if ok else "[down]"
                events.append(MonitorRecord(virtual.monitorfile, f"{squeezed} {state} {message}"))
            if ok:
                if status.up and status.decided and not status.failures:
                    continue  # the steady state: nothing changes, nothing to settle
                events += self._up(virtual, real, status, now, reason)
            else:
                events += self._down(virtual, real, status, now, reason, kind, force=maintenance)
            if not self._virtuals[virtual.identity].settled:
                events += self._settle(virtual, now)
        if self._version != version:
            events.append(DesiredTableChanged(self._version))
        return events

    def reload(
        self, config: Config, now: float, compared: VirtualsCompared | None = None
    ) -> Engine:
        """The engine for a new configuration: unchanged virtuals and reals keep
        their state; new ones start as at start-up (live table from the old desired
        state, so reals that are serving stay up). A virtual equal to this
        engine's (`compared`, made here if not given) keeps its state objects,
        service and desired service as they are: only the others are built."""
        if compared is None:
            compared = compare_virtuals(self.config, config, self._ids)
        return Engine(
            config,
            now,
            live=lambda: {s.key: s for s in self.desired()},
            previous=self,
            same=compared.same,
            identities=compared.identities,
        )

    def use_positions(self, config: Config) -> None:
        """A reload that changed no virtual (config/compare.py, `unchanged`): this
        engine goes on as it is, with `config` as its configuration, where the
        lines the virtuals were written on (and the new file's other facts) are
        read. Its own tables keep the equal virtual objects they were built with."""
        self.config = config

    # ------------------------------------------------------------------ transitions

    def _alert(
        self,
        virtual: Virtual,
        about: RealChanged | FallbackChanged,
        *,
        real: Real | None = None,
        down_since: float | None = None,
    ) -> list[Event]:
        """An alert for this event, worded as the original's log line. A real
        going down (`down_since`) is remembered so that `tick` repeats
        "Inaccessible real server" every `emailalertfreq` seconds until it comes
        back, as the original does."""
        mail = virtual.emailalert
        if not mail.to:
            return []
        if real is not None:
            key = f"{real.hostport} ({_where(virtual)})"
            if down_since is not None and mail.frequency > 0:
                self._inaccessible[key] = (virtual, down_since)
            else:
                self._inaccessible.pop(key, None)
        return [self._mail(virtual, original_text(about) or "")]

    @staticmethod
    def _mail(virtual: Virtual, subject: str) -> Alert:
        mail = virtual.emailalert
        return Alert(
            virtual.identity,
            subject,
            mail.to,
            mail.statuses,
            mail.smtp,
            mail.sender,
            virtual.servicename,
            virtual.comment,
        )

    def tick(self, now: float) -> list[Event]:
        """Time passing: repeat the alerts of reals that are still down."""
        events: list[Event] = []
        for key, (virtual, since) in list(self._inaccessible.items()):
            if now - since >= virtual.emailalert.frequency:
                self._inaccessible[key] = (virtual, now)
                if virtual.emailalert.to:
                    events.append(self._mail(virtual, inaccessible_text(key)))
        return events

    def _up(
        self, virtual: Virtual, real: Real, status: RealStatus, now: float, reason: str
    ) -> list[Event]:
        events: list[Event] = []
        if status.failures > 0:
            events.append(FailureCountReset(virtual.identity, real.hostport))
            status.failures = 0
        if status.up and status.decided:
            return events
        old = RealState.UP if status.up else RealState.DOWN if status.decided else RealState.UNKNOWN
        self._mark(virtual, status, True)
        status.since = now
        change = RealChanged(
            virtual.identity,
            _where(virtual),
            real.hostport,
            old,
            RealState.UP,
            real.weight,
            virtual.quiescent,
            reason,
            FailureKind.NONE,
        )
        events += [change, *self._alert(virtual, change, real=real)]
        events += self._fallback(virtual, now)
        return events

    def _down(
        self,
        virtual: Virtual,
        real: Real,
        status: RealStatus,
        now: float,
        reason: str,
        kind: FailureKind,
        *,
        force: bool,
    ) -> list[Event]:
        if not status.decided:
            self._mark(virtual, status, False)
            status.since = now
            return []
        if not status.up:
            return []
        status.failures += 1
        if not force and status.failures < virtual.failurecount:
            return [
                SoftFailure(
                    virtual.identity,
                    real.hostport,
                    status.failures,
                    virtual.failurecount,
                    reason,
                    kind,
                )
            ]
        self._mark(virtual, status, False)
        status.since = now
        change = RealChanged(
            virtual.identity,
            _where(virtual),
            real.hostport,
            RealState.UP,
            RealState.DOWN,
            0,
            virtual.quiescent,
            reason,
            kind,
        )
        return [
            change,
            *self._alert(virtual, change, real=real, down_since=now),
            *self._fallback(virtual, now),
        ]

    def _any_up(self, virtual: Virtual) -> bool:
        return self._up_count[virtual.identity] > 0

    def _settle(self, virtual: Virtual, now: float) -> list[Event]:
        """Decide fallback and fallbackcommand once every real has a first result."""
        vstate = self._virtuals[virtual.identity]
        if vstate.settled:
            return []
        if self._pending[virtual.identity] > 0:
            return []
        vstate.settled = True
        return self._fallback(virtual, now)

    def _fallback(self, virtual: Virtual, now: float) -> list[Event]:
        vstate = self._virtuals[virtual.identity]
        if not vstate.settled:
            return []
        events: list[Event] = []
        want = not self._any_up(virtual)
        fallback = virtual.fallback
        if fallback is not None and want != vstate.fallback_active:
            vstate.fallback_active = want
            vstate.since = now
            self._changed_at[virtual.identity] = self._version + 1
            self._version += 1
            change = FallbackChanged(virtual.identity, _where(virtual), fallback.hostport, want)
            events += [change, *self._alert(virtual, change)]
        word = "start" if want else "stop"
        if virtual.fallbackcommand and vstate.command_sent != word:
            vstate.command_sent = word
            # A fwmark virtual has no address: the original passes `:0` (kept).
            target = ":0" if virtual.fwmark is not None else virtual.hostport
            events.append(
                CommandRequested(
                    f"{virtual.fallbackcommand} {word} {target} {virtual.protocol}",
                    virtual.identity,
                )
            )
        return events
