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
from collections.abc import Mapping
from dataclasses import dataclass

from ldirectord_py.config import Config, Real, Virtual
from ldirectord_py.engine.effects import Alert, Effect, LogLine, MonitorLine, RunCommand
from ldirectord_py.engine.table import (
    ServiceSpecError,
    destination_for,
    fallback_destination,
    service_for,
)
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
        live: Mapping[ServiceKey, VirtualService] | None = None,
        previous: Engine | None = None,
    ) -> None:
        self.config = config
        self._services: dict[str, VirtualService] = {}
        self._reals: dict[tuple[str, str], RealStatus] = {}
        self._virtuals: dict[str, VirtualStatus] = {}
        self._sharing: dict[str, list[tuple[Virtual, Real]]] = {}
        self._effects: list[Effect] = []
        # Per-result fast paths (record() runs once per check result): the sharers
        # of an identity with their status objects and monitorfile identities, and
        # per virtual the number of distinct reals that are up / not yet decided.
        self._targets: dict[str, list[tuple[Virtual, Real, RealStatus, str]]] = {}
        self._up_count: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        # desired() is rebuilt only when something it depends on changed
        self._version = 0
        self._desired: tuple[int, tuple[VirtualService, ...]] | None = None
        self._rows: list[_DesiredRow] | None = None
        self._built: dict[str, tuple[tuple[tuple[bool, ...], bool], VirtualService]] = {}
        """Each virtual's service as last built, by the up-states of its reals and
        its fallback: a state change rebuilds its own virtual only (rebuilding
        10,000 held the loop over 100 ms)."""
        # per virtual: each real's status and its stored destination when up and
        # when quiesced (made on the first desired(); reals and destinations are
        # immutable, statuses are never replaced)
        self._inaccessible: dict[str, tuple[Virtual, float]] = {}
        if previous is not None:
            kept = {v.identity: v for v in config.virtuals}
            for key, (old_virtual, since) in previous._inaccessible.items():
                if old_virtual.identity in kept:
                    self._inaccessible[key] = (kept[old_virtual.identity], since)
        for virtual in config.virtuals:
            try:
                self._services[virtual.identity] = service_for(virtual)
            except ServiceSpecError as exc:
                self._effects.append(LogLine(f"Error: virtual service not programmed: {exc}"))
        for virtual in config.virtuals:
            self._init_virtual(virtual, now, live or {}, previous)
        self._index()
        for virtual in config.virtuals:
            self._effects += self._settle(virtual, now)

    # ------------------------------------------------------------------ setup

    def _init_virtual(
        self,
        virtual: Virtual,
        now: float,
        live: Mapping[ServiceKey, VirtualService],
        previous: Engine | None,
    ) -> None:
        carried = previous._virtuals.get(virtual.identity) if previous else None
        service = self._services.get(virtual.identity)
        live_service = live.get(service.key) if service else None
        live_dests = {d.key: d for d in live_service.destinations} if live_service else {}
        fallback_key = self._fallback_key(virtual)
        if fallback_key is not None:
            fallback_live = live_dests.pop(fallback_key, None) is not None
        else:
            fallback_live = False
        self._virtuals[virtual.identity] = (
            dataclasses.replace(carried)
            if carried
            else VirtualStatus(fallback_active=fallback_live, since=now)
        )
        for real in virtual.reals:
            key = _real_key(virtual, real)
            identity = key[1]
            if virtual.checktype not in UNCHECKED_TYPES:
                sharers = self._sharing.setdefault(identity, [])
                if (virtual, real) not in sharers:
                    sharers.append((virtual, real))
            if key in self._reals:
                continue
            old = previous._reals.get(key) if previous else None
            if old is not None:
                self._reals[key] = dataclasses.replace(old)
                continue
            status = RealStatus(since=now)
            stored = self._stored(virtual, destination_for(real))
            live_dest = live_dests.get(stored.key) if stored else None
            if virtual.checktype == "on":
                status.up = status.decided = True
                if live_dest is None:
                    # never checked, so no result will announce it: say it here, as
                    # the original does when it adds the real
                    self._effects.append(
                        LogLine(
                            f"Added real server: {real.hostport} ({_where(virtual)}) "
                            f"(Weight set to {real.weight})"
                        )
                    )
            elif live_dest is not None and live_dest.weight > 0:
                # Already serving: the original forces such a real up at start.
                status.up = status.decided = True
            elif virtual.checktype == "off":
                status.decided = True
            self._reals[key] = status

    def _index(self) -> None:
        for vid, statuses in self._distinct().items():
            self._up_count[vid] = sum(1 for st in statuses if st.up)
            self._pending[vid] = sum(1 for st in statuses if not st.decided)
        for identity, sharers in self._sharing.items():
            self._targets[identity] = [
                (virtual, real, self._reals[_real_key(virtual, real)], _monitor_identity(identity))
                for virtual, real in sharers
            ]

    def _distinct(self) -> dict[str, list[RealStatus]]:
        """Every virtual's distinct real statuses (reals with equal identities in one
        virtual share one)."""
        out: dict[str, list[RealStatus]] = {}
        for virtual in self.config.virtuals:
            seen: dict[int, RealStatus] = {}
            for real in virtual.reals:
                status = self._reals[_real_key(virtual, real)]
                seen.setdefault(id(status), status)
            out[virtual.identity] = list(seen.values())
        return out

    def _mark(self, virtual: Virtual, status: RealStatus, up: bool) -> None:
        """Decide a real up or down, keeping the per-virtual counts."""
        vid = virtual.identity
        if not status.decided:
            status.decided = True
            self._pending[vid] -= 1
        if status.up != up:
            status.up = up
            self._up_count[vid] += 1 if up else -1
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

    def take_effects(self) -> list[Effect]:
        """Effects produced while building this engine (settling at start/reload)."""
        effects, self._effects = self._effects, []
        return effects

    def checks(self) -> list[CheckTarget]:
        """What the scheduler runs: one entry per check identity."""
        targets = []
        for identity, sharers in self._sharing.items():
            virtual, real = sharers[0]
            interval = min(v.checkinterval for v, _ in sharers)
            targets.append(CheckTarget(identity, virtual, real, interval))
        return targets

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
        if self._desired is not None and self._desired[0] == self._version:
            return self._desired[1]
        result = self._build_desired()
        self._desired = (self._version, result)
        return result

    def _build_desired(self) -> tuple[VirtualService, ...]:
        out = []
        for vid, virtual, service, members, statuses in self._desired_rows():
            fallback_active = self._virtuals[vid].fallback_active
            signature = (tuple(map(_UP, statuses)), fallback_active)
            built = self._built.get(vid)
            if built is not None and built[0] == signature:
                out.append(built[1])  # unchanged since the last build: no new object
                continue
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
            out.append(rebuilt)
        return tuple(out)

    def _desired_rows(self) -> list[_DesiredRow]:
        """Per programmable virtual, what desired() reads: computed once (a
        virtual's identity alone costs microseconds, times 10,000 virtuals)."""
        if self._rows is None:
            rows = []
            for virtual in self.config.virtuals:
                vid = virtual.identity
                service = self._services.get(vid)
                if service is None:
                    continue
                members = [
                    (
                        self._reals[_real_key(virtual, real)],
                        service.stored_destination(destination_for(real)),
                        service.stored_destination(destination_for(real, quiesced=True)),
                    )
                    for real in virtual.reals
                ]
                rows.append((vid, virtual, service, members, tuple(m[0] for m in members)))
            self._rows = rows
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
    ) -> list[Effect]:
        """A check result for every real that shares `identity`."""
        effects: list[Effect] = []
        message = ""
        for virtual, real, status, squeezed in self._targets.get(identity, ()):
            status.last_ok, status.last_reason = ok, reason
            status.last_latency, status.last_at = latency, now
            if virtual.monitorfile:
                if not message:
                    message = _monitor_message(reason)
                state = "[up]" if ok else "[down]"
                effects.append(MonitorLine(virtual.monitorfile, f"{squeezed} {state} {message}"))
            if ok:
                if status.up and status.decided and not status.failures:
                    continue  # the steady state: nothing changes, nothing to settle
                effects += self._up(virtual, real, status, now)
            else:
                effects += self._down(virtual, real, status, now, force=maintenance)
            if not self._virtuals[virtual.identity].settled:
                effects += self._settle(virtual, now)
        return effects

    def reload(self, config: Config, now: float) -> Engine:
        """The engine for a new configuration: unchanged virtuals and reals keep
        their state; new ones start as at start-up (live table from the old desired
        state, so reals that are serving stay up)."""
        live = {s.key: s for s in self.desired()}
        return Engine(config, now, live=live, previous=self)

    # ------------------------------------------------------------------ transitions

    def _alert(
        self,
        virtual: Virtual,
        subject: str,
        *,
        real: Real | None = None,
        down_since: float | None = None,
    ) -> list[Effect]:
        """An alert for this event. A real going down (`down_since`) is remembered so
        that `tick` repeats "Inaccessible real server" every `emailalertfreq`
        seconds until it comes back, as the original does."""
        mail = virtual.emailalert
        if not mail.to:
            return []
        if real is not None:
            key = f"{real.hostport} ({_where(virtual)})"
            if down_since is not None and mail.frequency > 0:
                self._inaccessible[key] = (virtual, down_since)
            else:
                self._inaccessible.pop(key, None)
        return [
            Alert(
                virtual.identity,
                subject,
                mail.to,
                mail.statuses,
                mail.smtp,
                mail.sender,
                virtual.servicename,
                virtual.comment,
            )
        ]

    def tick(self, now: float) -> list[Effect]:
        """Time passing: repeat the alerts of reals that are still down."""
        effects: list[Effect] = []
        for key, (virtual, since) in list(self._inaccessible.items()):
            if now - since >= virtual.emailalert.frequency:
                self._inaccessible[key] = (virtual, now)
                effects += self._alert(virtual, f"Inaccessible real server: {key}")
        return effects

    def _up(self, virtual: Virtual, real: Real, status: RealStatus, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if status.failures > 0:
            effects.append(
                LogLine(f"Resetting soft failure count: {real.hostport} ({virtual.identity})")
            )
            status.failures = 0
        if status.up and status.decided:
            return effects
        self._mark(virtual, status, True)
        status.since = now
        verb = "Restored" if virtual.quiescent else "Added"
        text = (
            f"{verb} real server: {real.hostport} ({_where(virtual)}) (Weight set to {real.weight})"
        )
        effects += [LogLine(text), *self._alert(virtual, text, real=real)]
        effects += self._fallback(virtual, now)
        return effects

    def _down(
        self, virtual: Virtual, real: Real, status: RealStatus, now: float, *, force: bool
    ) -> list[Effect]:
        if not status.decided:
            self._mark(virtual, status, False)
            status.since = now
            return []
        if not status.up:
            return []
        status.failures += 1
        if not force and status.failures < virtual.failurecount:
            return [
                LogLine(
                    f"Soft failure real server: {real.hostport} ({virtual.identity}) "
                    f"failure {status.failures}/{virtual.failurecount}"
                )
            ]
        self._mark(virtual, status, False)
        status.since = now
        if virtual.quiescent:
            text = f"Quiescent real server: {real.hostport} ({_where(virtual)}) (Weight set to 0)"
        else:
            text = f"Deleted real server: {real.hostport} ({_where(virtual)})"
        return [
            LogLine(text),
            *self._alert(virtual, text, real=real, down_since=now),
            *self._fallback(virtual, now),
        ]

    def _any_up(self, virtual: Virtual) -> bool:
        return self._up_count[virtual.identity] > 0

    def _settle(self, virtual: Virtual, now: float) -> list[Effect]:
        """Decide fallback and fallbackcommand once every real has a first result."""
        vstate = self._virtuals[virtual.identity]
        if vstate.settled:
            return []
        if self._pending[virtual.identity] > 0:
            return []
        vstate.settled = True
        return self._fallback(virtual, now)

    def _fallback(self, virtual: Virtual, now: float) -> list[Effect]:
        vstate = self._virtuals[virtual.identity]
        if not vstate.settled:
            return []
        effects: list[Effect] = []
        want = not self._any_up(virtual)
        fallback = virtual.fallback
        if fallback is not None and want != vstate.fallback_active:
            vstate.fallback_active = want
            vstate.since = now
            self._version += 1
            if want:
                text = (
                    f"Added fallback server: {fallback.hostport} ({_where(virtual)}) "
                    "(Weight set to 1)"
                )
            else:
                text = f"Deleted fallback server: {fallback.hostport} ({_where(virtual)})"
            effects += [LogLine(text), *self._alert(virtual, text)]
        word = "start" if want else "stop"
        if virtual.fallbackcommand and vstate.command_sent != word:
            vstate.command_sent = word
            # A fwmark virtual has no address: the original passes `:0` (kept).
            target = ":0" if virtual.fwmark is not None else virtual.hostport
            effects.append(
                RunCommand(
                    f"{virtual.fallbackcommand} {word} {target} {virtual.protocol}",
                    virtual.identity,
                )
            )
        return effects
