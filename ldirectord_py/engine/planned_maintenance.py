"""Planned maintenance of this site: anycast VIPs an operator moves away on purpose.

`ldirectordctl maintenance on VIP` takes the VIP's route away before anything
is stopped, so that routers send new users to the next site while this one
still serves the connections it has; `off` brings it back. Pure, like the
AnycastPolicy it sits on: the policy still decides from health, and this layer
overrides its decisions for the VIPs in maintenance, without a clock of its own.

- In maintenance, a VIP's route is what `anycastdown` makes of a down VIP:
  withdrawn (`withdraw`), or kept de-preferred (`med`, `prepend`, `community`).
  Its decision is `maintenance`, whatever its health; the max-withdraw guard
  does not apply (it protects against a failing checker, not an operator). A
  route the policy has already taken away (dataplane down, VIP down and
  withdrawn) stays away.
- With the gobgp method the VIP address stays on its interface (the director
  must keep accepting the packets of the connections it still serves); with the
  interface method the address *is* the route, and goes.
- After `off`, a VIP the policy would announce is `held` for `anycastholddown`
  seconds (routed as down meanwhile), as after any recovery; then the policy's
  decision applies again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ldirectord_py.config import Config
from ldirectord_py.config.model import AnycastDown, VirtualAnycast
from ldirectord_py.routing.model import (
    AnycastDesired,
    HostPrefix,
    Route,
    VipDecision,
    host_prefix,
)


def vip_settings(config: Config) -> dict[HostPrefix, VirtualAnycast]:
    """Each anycast VIP of `config` and its per-VIP settings (shared by its virtuals)."""
    out: dict[HostPrefix, VirtualAnycast] = {}
    for virtual in config.virtuals:
        if virtual.anycast is not None:
            out.setdefault(host_prefix(virtual.anycast.address), virtual.anycast)
    return out


def down_route(full: Route, down: AnycastDown) -> Route | None:
    """What `anycastdown` makes of a VIP's full route: None (withdraw) or the route
    with the MED set, the local AS prepended or the community added."""
    if down.action == "withdraw":
        return None
    if down.action == "med":
        return replace(full, med=down.number)
    if down.action == "prepend":
        return replace(full, prepend=down.number)
    if down.community in full.communities:
        return full
    return replace(full, communities=(*full.communities, down.community))


@dataclass(frozen=True)
class _Released:
    """A VIP whose maintenance ended at `at` and that is held down until `until`."""

    at: float
    until: float


class PlannedMaintenance:
    """Which VIPs are in maintenance (since when) and which are held after it."""

    def __init__(self) -> None:
        self._on: dict[HostPrefix, float] = {}
        self._released: dict[HostPrefix, _Released] = {}

    @property
    def vips(self) -> dict[HostPrefix, float]:
        """VIP -> when its maintenance started (the caller's clock)."""
        return dict(self._on)

    def begin(self, vip: HostPrefix, now: float) -> bool:
        """Put `vip` in maintenance; False when it already was."""
        self._released.pop(vip, None)
        if vip in self._on:
            return False
        self._on[vip] = now
        return True

    def end(self, vip: HostPrefix, now: float, holddown: float) -> bool:
        """End `vip`'s maintenance, held down for `holddown` s; False if it was not on."""
        if self._on.pop(vip, None) is None:
            return False
        if holddown > 0:
            self._released[vip] = _Released(at=now, until=now + holddown)
        return True

    def next_wakeup(self) -> float | None:
        """When the earliest hold-down after a maintenance ends, or None."""
        return min((r.until for r in self._released.values()), default=None)

    def apply(
        self,
        decisions: tuple[VipDecision, ...],
        desired: AnycastDesired,
        settings: Mapping[HostPrefix, VirtualAnycast],
        method: str,
        now: float,
    ) -> tuple[tuple[VipDecision, ...], AnycastDesired]:
        """The policy's decisions and desired state with maintenance applied."""
        for vip in [v for v, r in self._released.items() if r.until <= now]:
            del self._released[vip]
        if not self._on and not self._released:
            return decisions, desired
        routes = dict(desired.routes)
        addresses = {name: set(vips) for name, vips in desired.addresses.items()}
        out = []
        for decision in decisions:
            vip = decision.vip
            vip_settings_ = settings.get(vip)
            if vip_settings_ is None:
                out.append(decision)
                continue
            route = routes.get(vip)
            if vip in self._on:
                new_route = None
                if route is not None and decision.state in ("announced", "depreferred"):
                    new_route = (
                        route
                        if decision.state == "depreferred"
                        else down_route(route, vip_settings_.down)
                    )
                how = (
                    "route withdrawn"
                    if new_route is None
                    else f"route de-preferred (anycastdown {vip_settings_.down})"
                )
                decision = replace(
                    decision,
                    state="maintenance",
                    guarded=False,
                    since=self._on[vip],
                    reason=f"planned maintenance (ldirectordctl maintenance on): {how}; "
                    f"health: {decision.state}, {decision.reason}",
                )
            elif vip in self._released and decision.state == "announced" and route is not None:
                released = self._released[vip]
                new_route = down_route(route, vip_settings_.down)
                decision = replace(
                    decision,
                    state="held",
                    guarded=False,
                    since=released.at,
                    reason=f"maintenance ended, held down for {vip_settings_.holddown} s "
                    f"(anycastholddown), then announced; {decision.reason}",
                )
            else:
                out.append(decision)
                continue
            if new_route is None:
                routes.pop(vip, None)
                if method == "interface":
                    addresses.get(vip_settings_.interface, set()).discard(vip)
            else:
                routes[vip] = new_route
            out.append(decision)
        return tuple(out), AnycastDesired(
            routes=routes,
            addresses={name: frozenset(vips) for name, vips in addresses.items()},
        )
