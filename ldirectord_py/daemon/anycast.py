"""Anycast: the policy's decisions handed to the route writers, in the right order.

The engine's AnycastPolicy decides per VIP; this module only feeds it (which
virtuals have a real up, whether *each one's* ip_vs service is programmed) and passes its
desired state to the one writer of each external system: GoBGP (RouteWriter)
and the VIP addresses (InterfaceWriter). On stop, routes go first, before the
pools, so that no router keeps sending traffic to a site that has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from ldirectord_py.config import Config
from ldirectord_py.config.model import GoBGPVersion, VirtualAnycast
from ldirectord_py.daemon.actuators.log import log_event
from ldirectord_py.engine import Engine
from ldirectord_py.engine.anycast import AnycastPolicy, ServiceDataplane
from ldirectord_py.engine.planned_maintenance import PlannedMaintenance, vip_settings
from ldirectord_py.ipvs.writer import DataplaneView
from ldirectord_py.networks import Network, inside
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.schema import (
    AnycastSnapshot,
    GoBGPSnapshot,
    InterfacesSnapshot,
    VipSnapshot,
    VipState,
)
from ldirectord_py.routing.model import AnycastDesired, HostPrefix, Route, VipDecision

STOP_TIMEOUT = 5.0
"""How long a reload lets the old route writer drop what is no longer desired."""
ADDRESS_WAIT = 5.0
"""How long one wait for the VIP addresses lasts before the routes are looked at again."""
ADDRESS_RETRY = 0.2


class RouteWriterLike(Protocol):
    @property
    def task(self) -> asyncio.Task[None] | None: ...
    def start(self) -> None: ...
    def submit(
        self, routes: Mapping[HostPrefix, Route], *, undecided: Collection[HostPrefix] = ...
    ) -> None: ...
    async def converge_now(self, timeout: float) -> bool: ...
    async def stop(self, *, withdraw: bool) -> None: ...
    def snapshot(self) -> GoBGPSnapshot: ...


class InterfaceWriterLike(Protocol):
    @property
    def task(self) -> asyncio.Task[None] | None: ...
    def start(self) -> None: ...
    def submit(self, addresses: Mapping[str, frozenset[HostPrefix]]) -> None: ...
    async def converge_now(self, timeout: float) -> bool: ...
    async def stop(self, *, remove: bool) -> None: ...
    def snapshot(self) -> InterfacesSnapshot: ...
    def present(self) -> frozenset[HostPrefix]: ...
    def read_interfaces(self) -> frozenset[str]: ...
    def errors(self) -> Mapping[str, str]: ...

    prefixes: tuple[Network, ...]


RouteWriterFactory = Callable[
    [str, Sequence[Network], Callable[[str], None], GoBGPVersion], RouteWriterLike
]
InterfaceWriterFactory = Callable[[Callable[[str], None], Sequence[Network]], InterfaceWriterLike]


def default_route_writer(
    target: str, prefixes: Sequence[Network], log: Callable[[str], None], version: GoBGPVersion
) -> RouteWriterLike:
    from ldirectord_py.routing.writer import RouteWriter

    return RouteWriter(target=target, prefixes=prefixes, log=log, api_version=version)


def default_interface_writer(
    log: Callable[[str], None], prefixes: Sequence[Network]
) -> InterfaceWriterLike:
    from ldirectord_py.routing.interface import InterfaceWriter

    return InterfaceWriter(log, prefixes=prefixes)


RouteSettings = tuple[str, str, tuple[Network, ...], bool, GoBGPVersion]


def _route_settings(config: Config) -> RouteSettings:
    """(method, gobgpapi, prefixes, withdraw-on-stop, gobgpversion) of a config."""
    a = config.settings.anycast
    return (a.method, a.gobgpapi, tuple(a.prefixes), a.stop == "withdraw", a.gobgpversion)


class AnycastCoordinator:
    """Feeds the policy from the engine and the dataplane, and drives the writers."""

    def __init__(
        self,
        log: Log,
        *,
        clock: Callable[[], float] = time.monotonic,
        route_writer_factory: RouteWriterFactory = default_route_writer,
        interface_writer_factory: InterfaceWriterFactory = default_interface_writer,
    ) -> None:
        self.log = log
        self.clock = clock
        self._route_factory = route_writer_factory
        self._interface_factory = interface_writer_factory
        self.policy: AnycastPolicy | None = None
        self.routes: RouteWriterLike | None = None
        self.interfaces: InterfaceWriterLike | None = None
        self._settings: RouteSettings | None = None
        self._wakeup: asyncio.TimerHandle | None = None
        self._address_wait: asyncio.Task[None] | None = None
        self._last: tuple[int, int, int] | None = None
        self._stopped = False
        self.maintenance = PlannedMaintenance()
        """VIPs an operator moved away (daemon/planned_maintenance.py drives it)."""
        self._vip_settings: dict[HostPrefix, VirtualAnycast] = {}
        self._facts: tuple[Engine, DataplaneView] | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped

    def vip_setting(self, vip: HostPrefix) -> VirtualAnycast | None:
        """The per-VIP anycast settings of the running config."""
        return self._vip_settings.get(vip)

    @property
    def enabled(self) -> bool:
        return self.policy is not None and self.policy.enabled

    async def start(self, config: Config) -> None:
        policy = AnycastPolicy(config, self.clock())
        self.policy = policy
        self._vip_settings = vip_settings(config)
        if policy.enabled:
            self._start_writers(config)

    async def reload(self, config: Config) -> None:
        """A new policy keeping the state of VIPs that remain; writers are replaced
        only when where or how routes are announced changed."""
        now = self.clock()
        if self._address_wait is not None:
            self._address_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._address_wait
            self._address_wait = None
        self.policy = self.policy.reload(config, now) if self.policy else AnycastPolicy(config, now)
        # the new policy is given the facts at the next update(), also when the
        # engine and the dataplane are those it last saw (a reload that changed no
        # virtual keeps the engine: Engine.use_positions)
        self._last = None
        self._vip_settings = vip_settings(config)
        settings = _route_settings(config) if self.policy.enabled else None
        if settings == self._settings:
            return
        old_routes, old_settings = self.routes, self._settings
        self.routes = None
        if old_routes is not None and old_settings is not None:
            if settings is not None and settings[:2] == old_settings[:2]:
                # Same GoBGP, other prefixes: the new writer adopts our routes
                # inside its prefixes; the old one only drops what is undesired.
                old_routes.submit(
                    self._desired_routes(old_settings[2]),
                    undecided=self._undecided(self._effective()[0]),
                )
                with contextlib.suppress(Exception):
                    await old_routes.converge_now(STOP_TIMEOUT)
                await old_routes.stop(withdraw=False)
            else:
                await old_routes.stop(withdraw=True)
        if self.interfaces is not None and settings is None:
            await self.interfaces.stop(remove=True)
            self.interfaces = None
        self._settings = None
        if settings is not None:
            self._start_writers(config)
        self._last = None

    def _start_writers(self, config: Config) -> None:
        method, target, prefixes, _, version = self._settings = _route_settings(config)
        if method == "gobgp":
            self.routes = self._route_factory(target, prefixes, self.log.info, version)
            self.routes.start()
        if self.interfaces is None:
            self.interfaces = self._interface_factory(self.log.info, prefixes)
            self.interfaces.start()
        else:
            self.interfaces.prefixes = tuple(prefixes)  # the new anycastprefix list

    def update(self, engine: Engine, dataplane: DataplaneView, *, force: bool = False) -> None:
        """Give the policy the current facts; cheap when nothing changed."""
        if self.policy is None or not self.policy.enabled or self._stopped:
            return
        self._facts = (engine, dataplane)
        key = (id(engine), engine.version, dataplane.version)
        if not force and self._last == key:
            return
        self._last = key
        identities = self.policy.virtual_identities()
        serving, counts = _serving(engine, identities)
        services = _services(engine, identities, dataplane)
        lines = self.policy.update(
            self.clock(),
            serving,
            dataplane.unavailable is None,
            real_counts=counts,
            services=services,
        )
        for event in lines:
            log_event(self.log, event)
        self._push(*self._effective())
        self._schedule(engine, dataplane)

    def refresh(self) -> None:
        """Decide again with the last facts (after a maintenance change)."""
        if self._facts is not None:
            self.update(*self._facts, force=True)

    def _effective(self) -> tuple[tuple[VipDecision, ...], AnycastDesired]:
        """The policy's decisions and desired state, with planned maintenance applied."""
        assert self.policy is not None
        method = self._settings[0] if self._settings else "gobgp"
        return self.maintenance.apply(
            self.policy.decisions(), self.policy.desired(), self._vip_settings, method, self.clock()
        )

    def _undecided(self, decisions: Sequence[VipDecision]) -> frozenset[HostPrefix]:
        """The VIPs the policy has not decided yet, unless planned maintenance
        decided them (see AnycastPolicy.undecided)."""
        assert self.policy is not None
        undecided = self.policy.undecided()
        return frozenset(
            d.vip for d in decisions if d.vip in undecided and d.state != "maintenance"
        )

    def _desired_routes(self, within: Sequence[Network]) -> dict[HostPrefix, Route]:
        assert self.policy is not None
        routes = self.policy.desired().routes
        return {p: r for p, r in routes.items() if inside(p, within)}

    def _push(self, decisions: Sequence[VipDecision], desired: AnycastDesired) -> None:
        if self.interfaces is not None:
            self.interfaces.submit(desired.addresses)
        if self._submit_routes(decisions, desired):
            self._await_addresses()

    def _submit_routes(self, decisions: Sequence[VipDecision], desired: AnycastDesired) -> bool:
        """Hand the route writer its routes; True when some wait for their address.

        A route only for a VIP whose address is already on its interface: the
        director must accept the packets a router starts sending at once. Kept as
        they are (undecided): the VIPs the policy has not decided, and those whose
        interface the interface writer has not read yet (just started: a route a
        previous run left in GoBGP is adopted, not withdrawn and announced again)."""
        if self.routes is None:
            return False
        present = self._addresses_present()
        routes = {p: r for p, r in desired.routes.items() if p in present}
        unread = self._addresses_unread(desired)
        waiting = {p for p in desired.routes if p not in present and p in unread}
        self.routes.submit(routes, undecided=self._undecided(decisions) | waiting)
        return len(routes) < len(desired.routes)

    def _addresses_present(self) -> frozenset[HostPrefix]:
        if self.interfaces is None:
            return frozenset()
        return self.interfaces.present()

    def _addresses_unread(self, desired: AnycastDesired) -> frozenset[HostPrefix]:
        """The VIPs on an interface the interface writer has not read yet (nor
        failed on): whether their address is in place is not known yet."""
        if self.interfaces is None:
            return frozenset()
        errors = self.interfaces.errors()
        if "*" in errors:  # netlink itself failing: nothing will be read soon
            return frozenset()
        read = self.interfaces.read_interfaces()
        return frozenset(
            vip
            for ifname, vips in desired.addresses.items()
            if ifname not in read and ifname not in errors
            for vip in vips
        )

    def _await_addresses(self) -> None:
        """Push again once the interface writer has put the addresses in place."""
        if self._address_wait is not None and not self._address_wait.done():
            return

        async def wait() -> None:
            assert self.interfaces is not None
            while not self._stopped:
                await self.interfaces.converge_now(ADDRESS_WAIT)
                if self._stopped or self.policy is None:
                    return
                decisions, desired = self._effective()
                present = self._addresses_present()
                if all(p in present for p in desired.routes):
                    self._address_wait = None
                    self._push(decisions, desired)
                    return
                # The interface writer may have read the interface meanwhile:
                # a route no longer kept as it is while its address is missing.
                self._submit_routes(decisions, desired)
                await asyncio.sleep(ADDRESS_RETRY)

        self._address_wait = asyncio.get_running_loop().create_task(wait())

    def _schedule(self, engine: Engine, dataplane: DataplaneView) -> None:
        """Wake up when a hold-down expires, without waiting for a check result."""
        assert self.policy is not None
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        times = [
            t for t in (self.policy.next_wakeup(), self.maintenance.next_wakeup()) if t is not None
        ]
        if not times:
            return
        when = min(times)
        delay = max(0.0, when - self.clock())
        loop = asyncio.get_running_loop()
        self._wakeup = loop.call_later(delay, lambda: self.update(engine, dataplane, force=True))

    async def stop(self, *, withdraw: bool | None = None) -> None:
        """Withdraw first (unless anycaststop = keep), then the caller removes pools."""
        self._stopped = True
        if self._wakeup is not None:
            self._wakeup.cancel()
        if self._address_wait is not None:
            self._address_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._address_wait
        if withdraw is None:
            withdraw = self._settings[3] if self._settings is not None else True
        if self.routes is not None:
            await self.routes.stop(withdraw=withdraw)
        if self.interfaces is not None:
            await self.interfaces.stop(remove=withdraw)

    def snapshot(self) -> AnycastSnapshot:
        """Each VIP's decision, why and since when, and what the writers report."""
        if self.policy is None or not self.policy.enabled:
            return AnycastSnapshot(enabled=False)
        wall_offset = time.time() - self.clock()
        method = self._settings[0] if self._settings else None
        in_maintenance = self.maintenance.vips
        return AnycastSnapshot(
            enabled=True,
            method=method,
            vips=tuple(
                VipSnapshot(
                    vip=str(d.vip),
                    state=VipState(d.state),
                    reason=d.reason,
                    since=d.since + wall_offset,
                    virtuals=tuple(d.virtuals),
                    guarded=d.guarded,
                    maintenance=d.vip in in_maintenance,
                )
                for d in self._effective()[0]
            ),
            gobgp=self.routes.snapshot() if self.routes is not None else None,
            interfaces=self.interfaces.snapshot() if self.interfaces is not None else None,
        )


def _services(
    engine: Engine, identities: Sequence[str], dataplane: DataplaneView
) -> dict[str, ServiceDataplane]:
    """Per anycast virtual: whether the kernel holds its own ip_vs service."""
    wanted = set(identities)
    out: dict[str, ServiceDataplane] = {}
    for virtual in engine.config.virtuals:
        if virtual.identity not in wanted:
            continue
        service = engine.service(virtual)
        if service is None:
            out[virtual.identity] = ServiceDataplane(False, "no ip_vs service for it")
            continue
        key = service.key
        error = dataplane.refusal(key) or dataplane.unavailable
        out[virtual.identity] = ServiceDataplane(key in dataplane.programmed, error)
    return out


def _serving(
    engine: Engine, identities: Sequence[str]
) -> tuple[dict[str, bool | None], dict[str, tuple[int, int]]]:
    """Per anycast virtual: a real up (True), none (False), undecided (None); and
    (reals up, reals) for the reasons the policy writes."""
    serving: dict[str, bool | None] = {}
    counts: dict[str, tuple[int, int]] = {}
    wanted = set(identities)
    for virtual in engine.config.virtuals:
        if virtual.identity not in wanted:
            continue
        up = decided = 0
        for real in virtual.reals:
            st = engine.real_status(virtual, real)
            decided += st.decided
            up += st.up and st.decided
        total = len(virtual.reals)
        counts[virtual.identity] = (up, total)
        if up:
            serving[virtual.identity] = True
        elif decided == total:
            serving[virtual.identity] = False
        else:
            serving[virtual.identity] = None
    return serving, counts
