"""The anycast policy: per anycast VIP, announce, de-prefer or withdraw its route.

Pure, like the rest of the engine: configuration, per-virtual health and time in;
decisions, the desired routes and addresses, and log lines out. It reads no clock
(every call takes `now`) and does no I/O; the route writers (routing/) converge the
world to `desired()`.

Inputs, per update, keyed by `Virtual.identity` (`tcp:198.51.100.10:80`, stable
across reloads for the same service):

- `serving`: True when the virtual has at least one *real* server up, False when
  it has none, None while its first check round is not over. A fallback server
  does not count: a sorry page here is worse than the real service at the next
  site. Virtuals missing from the mapping count as None; None never erases what
  an earlier update said (a virtual re-created by a reload keeps its last answer
  until the engine has a new one).
- `dataplane_ok`: False while the ip_vs table is not programmed: the site must
  not attract traffic it cannot forward, so every VIP is withdrawn.
- `real_counts` (optional): (reals up, reals configured) per virtual, only for
  the reasons shown to operators ("198.51.100.10:80 tcp: 0 of 2 reals up").

Per VIP (an address in an anycastprefix; every virtual service on it):

- *healthy* with `anycastwhen = all` while any of its virtuals has a real up;
  with `any`, while every one of them has. Until that answer is certain (all
  virtuals decided, or the decided ones already settle it) the VIP is `unknown`
  and nothing is announced: no flap at start.
- unhealthy: `anycastdown = withdraw` removes the route (`withdrawn`); `med N`,
  `prepend N`, `community A:B` keep it with that attribute (`depreferred`).
- healthy again after being down (also after starting down): `held` until it
  has been healthy for `anycastholddown` seconds without interruption; a failure
  inside the hold-down restarts it. Routed as down meanwhile. The first announce
  of a VIP that is healthy from its first decision is not held.
- `anycastmaxwithdraw`: at most that many VIPs withdrawn at once (N, or N% of
  this config's anycast VIPs rounded down; 0 means health never withdraws any).
  The withdrawn ones are those really down before those only held, then those
  that went down first, then address order; the others stay announced with
  `guarded=True`, and a loud log line says when the guard engages and releases.
  The guard counts withdrawals only: de-preferred routes are still routes.
- `services` (per virtual, a ServiceDataplane): whether the kernel holds *its*
  ip_vs service. A VIP's route follows its own dataplane, never a global flag:
  a service the kernel refuses elsewhere in the config withdraws nothing else
  (one typo pushed to every site must not be a global outage). Per VIP, the
  services' answers combine by `anycastwhen` as health does (`all`: usable while
  any of its services is programmed; `any`: while every one is). A service not
  attempted yet is undecided (nothing is announced on its account); one the
  kernel refused, or that was programmed and no longer is, counts as down. A
  VIP down by its dataplane is withdrawn whatever `anycastdown` says, but under
  the same `anycastmaxwithdraw` guard as health: the guard holds on every
  withdrawal path (a VIP never announced is not kept by it). Its return re-announces at once (no
  hold-down: the backends' health did not change).
- `dataplane_ok` False (ip_vs itself unavailable): every service counts as not
  programmed, with the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from ldirectord_py.config import Config, Virtual
from ldirectord_py.config.model import VirtualAnycast
from ldirectord_py.engine.events import (
    AnycastDataplaneChanged,
    AnycastEvent,
    VipDecided,
    WithdrawGuardChanged,
)
from ldirectord_py.routing.model import (
    AnycastDesired,
    HostPrefix,
    Route,
    VipDecision,
    VipState,
    address_order,
    host_prefix,
)

Health = Literal["unknown", "up", "down", "held"]


@dataclass(frozen=True)
class _Vip:
    """One anycast VIP of a config: its address and the virtual services on it."""

    prefix: HostPrefix
    virtuals: tuple[Virtual, ...]
    settings: VirtualAnycast

    @property
    def order(self) -> tuple[int, int]:
        return address_order(self.prefix)


@dataclass(frozen=True)
class ServiceDataplane:
    """Whether the kernel holds one virtual's ip_vs service, and why not."""

    programmed: bool
    error: str | None = None


@dataclass
class _VipState:
    """What the policy remembers about one VIP between updates (and reloads)."""

    healthy: bool | None = None
    """The last certain answer (None: never decided)."""
    healthy_since: float = 0.0
    """When `healthy` last changed (the hold-down counts from here)."""
    health: Health = "unknown"
    down_at: float | None = None
    """When it last went down from up or unknown (the guard keeps the earliest)."""
    decision: VipDecision | None = None
    route: Route | None = None
    """The route it should have now (None: no route)."""
    dataplane: bool | None = None
    """The last certain answer about its services being programmed (None: never)."""
    dataplane_down_at: float | None = None
    announced_once: bool = False
    """Whether it has had a route in this process (only then can the guard keep one)."""


class AnycastPolicy:
    """Decides each anycast VIP's route from its virtuals' health (see the module)."""

    def __init__(self, config: Config, now: float) -> None:
        self._config = config
        settings = config.settings.anycast
        self._method = settings.method
        grouped: dict[str, list[Virtual]] = {}
        for virtual in config.virtuals:
            anycast = virtual.anycast
            if anycast is None:
                continue
            if settings.prefix_for(anycast.address) is None:  # the parser's guard, again
                raise ValueError(f"{virtual.label} is outside every anycastprefix")
            grouped.setdefault(anycast.address, []).append(virtual)
        vips = []
        for address, virtuals in grouped.items():
            assert virtuals[0].anycast is not None
            vips.append(_Vip(host_prefix(address), tuple(virtuals), virtuals[0].anycast))
        vips.sort(key=lambda vip: vip.order)
        self._vips: tuple[_Vip, ...] = tuple(vips)
        self._limit: int | None = (
            None if settings.maxwithdraw is None else settings.maxwithdraw.limit(len(vips))
        )
        self._serving: dict[str, bool] = {}
        self._counts: dict[str, tuple[int, int]] = {}
        self._programmed: dict[str, bool] = {}
        self._ever_programmed: set[str] = set()
        self._dataplane_errors: dict[str, str] = {}
        self._dataplane_ok = True
        self._dataplane_known = False
        """False until the first update: the dataplane is not programmed yet at
        start, which is not news (the ip_vs writer says so if it cannot be)."""
        self._guard_engaged = False
        self._pending: list[AnycastEvent] = []
        self._states: dict[HostPrefix, _VipState] = {}
        for vip in self._vips:
            state = _VipState()
            state.decision = VipDecision(
                vip=vip.prefix,
                state="unknown",
                reason=f"waiting for the first check round: {self._reasons(vip)}",
                since=now,
                virtuals=tuple(v.label for v in vip.virtuals),
            )
            self._states[vip.prefix] = state

    # -- queries ------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True when the config has at least one anycast VIP."""
        return bool(self._vips)

    def virtual_identities(self) -> tuple[str, ...]:
        """The `Virtual.identity` of every anycast virtual: the keys update() reads."""
        return tuple(v.identity for vip in self._vips for v in vip.virtuals)

    def decisions(self) -> tuple[VipDecision, ...]:
        """One decision per VIP, in address order (IPv4 first)."""
        out = []
        for vip in self._vips:
            decision = self._states[vip.prefix].decision
            assert decision is not None
            out.append(decision)
        return tuple(out)

    def desired(self) -> AnycastDesired:
        """Routes (gobgp method only) and the VIP addresses per interface.

        interface method: each anycast interface with the VIPs whose route would be
        announced (the address *is* the route). gobgp method: every anycast VIP on
        its interface, whatever its route, so that the director accepts its packets
        while it serves the VIP."""
        addresses: dict[str, set[HostPrefix]] = {}
        routes: dict[HostPrefix, Route] = {}
        for vip in self._vips:
            state = self._states[vip.prefix]
            on_interface = addresses.setdefault(vip.settings.interface, set())
            if self._method == "gobgp":
                on_interface.add(vip.prefix)
                if state.route is not None:
                    routes[vip.prefix] = state.route
            elif state.route is not None:
                on_interface.add(vip.prefix)
        return AnycastDesired(
            routes=routes,
            addresses={name: frozenset(prefixes) for name, prefixes in addresses.items()},
        )

    def undecided(self) -> frozenset[HostPrefix]:
        """The VIPs whose route is not decided yet: their health is not certain
        (first check round not over), or none of their ip_vs services has been
        attempted yet. A route writer keeps a route it finds for one as it is: a
        restarted daemon adopts its previous run's route instead of withdrawing
        it until the first decision announces it again (a flap at every router)."""
        return frozenset(
            vip.prefix
            for vip in self._vips
            if self._states[vip.prefix].health == "unknown"
            or self._states[vip.prefix].dataplane is None
        )

    def next_wakeup(self) -> float | None:
        """When the earliest hold-down ends (update() must run then), or None."""
        times = [
            self._states[vip.prefix].healthy_since + vip.settings.holddown
            for vip in self._vips
            if self._states[vip.prefix].health == "held"
        ]
        return min(times) if times else None

    # -- inputs -------------------------------------------------------------------

    def update(
        self,
        now: float,
        serving: Mapping[str, bool | None],
        dataplane_ok: bool,
        real_counts: Mapping[str, tuple[int, int]] | None = None,
        services: Mapping[str, ServiceDataplane] | None = None,
    ) -> list[AnycastEvent]:
        """Take the virtuals' health at `now`; return the log lines for what changed.

        `real_counts`: optional (reals up, reals configured) per Virtual.identity,
        used only in reasons; without it a reason says "a real up" / "no real up".
        `services`: per Virtual.identity, whether its ip_vs service is programmed;
        without it every service is as `dataplane_ok` says."""
        for vip in self._vips:
            for virtual in vip.virtuals:
                key = virtual.identity
                value = serving.get(key)
                if value is not None:
                    self._serving[key] = value
                if real_counts is not None and key in real_counts:
                    self._counts[key] = real_counts[key]
                self._note_dataplane(key, dataplane_ok, services)
        logs = self._pending
        self._pending = []
        if dataplane_ok != self._dataplane_ok and self._vips and self._dataplane_known:
            logs.append(AnycastDataplaneChanged(dataplane_ok))
        self._dataplane_ok = dataplane_ok
        self._dataplane_known = self._dataplane_known or dataplane_ok
        logs += self._evaluate(now)
        return logs

    def reload(self, config: Config, now: float) -> AnycastPolicy:
        """A policy for `config` that keeps the state of the VIPs that remain (same
        address): health, hold-down, down time for the guard, the last answers of
        the virtuals that remain. New VIPs start unknown. The log lines for what the
        new config changes come with the next update()."""
        new = AnycastPolicy(config, now)
        identities = {v.identity for vip in new._vips for v in vip.virtuals}
        new._serving = {k: v for k, v in self._serving.items() if k in identities}
        new._counts = {k: v for k, v in self._counts.items() if k in identities}
        new._dataplane_ok = self._dataplane_ok
        new._dataplane_known = self._dataplane_known
        new._programmed = {k: v for k, v in self._programmed.items() if k in identities}
        new._ever_programmed = self._ever_programmed & identities
        new._dataplane_errors = {k: v for k, v in self._dataplane_errors.items() if k in identities}
        new._guard_engaged = self._guard_engaged
        for prefix in new._states:
            if prefix in self._states:
                new._states[prefix] = replace(self._states[prefix])
        new._pending = self._pending + new._evaluate(now)
        return new

    # -- the decision -------------------------------------------------------------

    def _note_dataplane(
        self, key: str, dataplane_ok: bool, services: Mapping[str, ServiceDataplane] | None
    ) -> None:
        if services is None:
            programmed, error = dataplane_ok, None
        else:
            entry = services.get(key)
            programmed = dataplane_ok and entry is not None and entry.programmed
            error = None if entry is None else entry.error
        self._programmed[key] = programmed
        if programmed:
            self._ever_programmed.add(key)
            self._dataplane_errors.pop(key, None)
        elif error is not None:
            self._dataplane_errors[key] = error
        else:
            self._dataplane_errors.pop(key, None)  # not attempted yet

    def _programmed_answer(self, key: str) -> bool | None:
        """True: programmed; False: was and no longer is, or refused; None: not
        attempted yet."""
        if key not in self._programmed:
            return None
        if self._programmed[key]:
            return True
        if key in self._ever_programmed or key in self._dataplane_errors:
            return False
        return None

    def _step_dataplane(self, vip: _Vip, state: _VipState, now: float) -> None:
        answers = [self._programmed_answer(v.identity) for v in vip.virtuals]
        if vip.settings.when == "all":
            usable = True if True in answers else (False if False in answers else None)
        else:
            usable = False if False in answers else (None if None in answers else True)
        if usable is None:
            return  # keep the last certain answer
        if usable is False and state.dataplane is not False:
            state.dataplane_down_at = now
        state.dataplane = usable

    def _dataplane_reasons(self, vip: _Vip) -> str:
        parts = [
            f"{v.label}: {self._dataplane_errors[v.identity]}"
            for v in vip.virtuals
            if v.identity in self._dataplane_errors
        ]
        return "; ".join(parts) or "ip_vs not programmed"

    def _healthy(self, vip: _Vip) -> bool | None:
        """The certain answer for the VIP, or None while it is not certain yet."""
        answers = [self._serving.get(v.identity) for v in vip.virtuals]
        if vip.settings.when == "all":
            if True in answers:
                return True
            return False if None not in answers else None
        if False in answers:
            return False
        return True if None not in answers else None

    def _step_health(self, vip: _Vip, state: _VipState, now: float) -> None:
        healthy = self._healthy(vip)
        if healthy is None:
            healthy = state.healthy  # keep the last certain answer
        if healthy is None:
            state.health = "unknown"
            return
        if healthy != state.healthy:
            state.healthy = healthy
            state.healthy_since = now
        if not healthy:
            if state.health in ("up", "unknown"):
                state.down_at = now
            state.health = "down"
        elif state.health in ("up", "unknown"):
            state.health = "up"
        elif now >= state.healthy_since + vip.settings.holddown:  # as next_wakeup() computes it
            state.health = "up"
            state.down_at = None
        else:
            state.health = "held"

    def _evaluate(self, now: float) -> list[AnycastEvent]:
        for vip in self._vips:
            self._step_health(vip, self._states[vip.prefix], now)
            self._step_dataplane(vip, self._states[vip.prefix], now)
        to_withdraw = [vip for vip in self._vips if self._withdrawing(vip)]
        guarded: set[HostPrefix] = set()
        # The guard holds on every withdrawal path: health and dataplane alike.
        if self._limit is not None and len(to_withdraw) > self._limit:
            to_withdraw.sort(key=self._withdraw_order)
            guarded = {vip.prefix for vip in to_withdraw[self._limit :]}
        logs: list[AnycastEvent] = []
        for vip in self._vips:
            state = self._states[vip.prefix]
            decision, route = self._decide(vip, state, vip.prefix in guarded, now)
            previous = state.decision
            if previous is not None and (previous.state, previous.guarded) == (
                decision.state,
                decision.guarded,
            ):
                decision = replace(decision, since=previous.since)
            else:
                logs.append(VipDecided(decision))
            state.decision = decision
            state.route = route
            state.announced_once = state.announced_once or route is not None
        logs += self._guard_logs(len(to_withdraw), guarded)
        return logs

    def _withdrawing(self, vip: _Vip) -> bool:
        """Whether the VIP's route goes (before the guard): down by its own health
        under `anycastdown withdraw`, or by its own dataplane whatever anycastdown."""
        state = self._states[vip.prefix]
        if state.health == "unknown" or state.dataplane is None:
            return False  # never programmed: nothing to withdraw, nothing to guard
        by_health = state.health in ("down", "held") and vip.settings.down.action == "withdraw"
        if state.dataplane is False:
            # a route never announced is not withdrawn by its dataplane (nor kept)
            return state.announced_once or by_health
        return by_health

    def _withdraw_order(self, vip: _Vip) -> tuple[bool, float, tuple[int, int]]:
        """Really down first (a lost dataplane counts as down), then the earliest
        down, then address order."""
        state = self._states[vip.prefix]
        times = [t for t in (state.down_at, state.dataplane_down_at) if t is not None]
        if state.dataplane is False:
            times = [t for t in (state.dataplane_down_at, state.down_at) if t is not None]
            return (False, min(times) if times else 0.0, vip.order)
        return (state.health == "held", min(times) if times else 0.0, vip.order)

    def _decide(
        self, vip: _Vip, state: _VipState, guarded: bool, now: float
    ) -> tuple[VipDecision, Route | None]:
        settings = vip.settings
        reasons = self._reasons(vip)
        if settings.when == "any" and state.health in ("down", "held"):
            reasons = f"anycastwhen any: {reasons}"
        full = Route(
            prefix=vip.prefix,
            next_hop=settings.nexthop,
            origin="igp",
            med=settings.med,
            communities=settings.communities,
        )
        verdict: VipState
        route: Route | None
        if state.health == "unknown":
            # nothing is announced either way; "withdrawn" here would only be noise
            verdict, route = "unknown", None
            reason = f"waiting for the first check round: {reasons}"
            if state.dataplane is not True:
                reason += "; dataplane not programmed yet"
        elif state.dataplane is None or (state.dataplane is False and not guarded):
            verdict, route = "withdrawn", None
            reason = (
                f"dataplane unavailable (ip_vs not programmed): "
                f"{self._dataplane_reasons(vip)}; {reasons}"
            )
        elif state.dataplane is False:
            verdict, route = "announced", full
            reason = (
                f"dataplane unavailable (ip_vs not programmed) but kept announced: "
                f"anycastmaxwithdraw allows {self._limit} withdrawn VIPs and more are down; "
                f"{self._dataplane_reasons(vip)}; {reasons}"
            )
        elif state.health == "up":
            verdict, route, reason = "announced", full, reasons
        elif guarded:
            verdict, route = "announced", full
            reason = (
                f"down but kept announced: anycastmaxwithdraw allows {self._limit} "
                f"withdrawn VIPs and more are down; {reasons}"
            )
        else:
            down = settings.down
            if down.action == "withdraw":
                route = None
            elif down.action == "med":
                route = replace(full, med=down.number)
            elif down.action == "prepend":
                route = replace(full, prepend=down.number)
            else:
                communities = full.communities
                if down.community not in communities:
                    communities += (down.community,)
                route = replace(full, communities=communities)
            if state.health == "held":
                verdict = "held"
                reason = (
                    f"healthy again, held down until healthy for {settings.holddown} s "
                    f"(anycastholddown), then announced; {reasons}"
                )
            else:
                verdict = "withdrawn" if route is None else "depreferred"
                reason = reasons
            if route is not None:
                reason += f"; anycastdown {down}"
        decision = VipDecision(
            vip=vip.prefix,
            state=verdict,
            reason=reason,
            since=now,
            virtuals=tuple(v.label for v in vip.virtuals),
            guarded=guarded,
        )
        return decision, route

    def _reasons(self, vip: _Vip) -> str:
        parts = []
        for virtual in vip.virtuals:
            key = virtual.identity
            serving = self._serving.get(key)
            if serving is None:
                parts.append(f"{virtual.label}: not checked yet")
            elif key in self._counts:
                up, total = self._counts[key]
                parts.append(f"{virtual.label}: {up} of {total} reals up")
            else:
                parts.append(f"{virtual.label}: {'a real' if serving else 'no real'} up")
        return "; ".join(parts)

    def _guard_logs(self, down: int, guarded: set[HostPrefix]) -> list[AnycastEvent]:
        if guarded and not self._guard_engaged:
            self._guard_engaged = True
            kept = tuple(sorted(guarded, key=address_order))
            return [WithdrawGuardChanged(True, down, len(self._vips), self._limit, kept)]
        if not guarded and self._guard_engaged:
            self._guard_engaged = False
            return [WithdrawGuardChanged(False, down, len(self._vips), self._limit)]
        return []
