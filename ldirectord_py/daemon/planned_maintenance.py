"""Planned maintenance of this site (`ldirectordctl maintenance on|off [VIP...]`)
and the wait on a planned stop: routes away first, then watch ip_vs until traffic
to those VIPs has stopped, and only then may backends (or pools) go.

Not to be confused with `maintenancedir` (daemon/maintenance.py), which takes
single real servers out of their pools.

- `on`: the VIPs (default: every anycast VIP of the config) go into maintenance
  (engine/planned_maintenance.py decides their routes), which is saved next to
  the pid file at once, so that it survives reload and restart as drains do;
  then the route writers are given the new state and the command waits for
  them, and watches the connection table (ipvs/quiescence.py) until no new
  connection and no packet reached those VIPs for `QUIET` seconds, at most
  `timeout` seconds: "drained: safe to stop the backends", or what is still
  active (not drained: exit 1 at the command line; the VIPs stay in maintenance).
- `off`: out of maintenance; routes back after `anycastholddown` if set.
- stop, with `anycaststop = withdraw`: after the routes are withdrawn, the same
  watch for at most `anycaststopwait` seconds (default 5; a quiet site costs
  `STOP_QUIET` seconds), then the pools are removed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ldirectord_py.config import Config
from ldirectord_py.daemon.anycast import AnycastCoordinator
from ldirectord_py.daemon.runfiles import store_json
from ldirectord_py.engine.planned_maintenance import vip_settings
from ldirectord_py.ipvs.connections import Connection, read_connections
from ldirectord_py.ipvs.quiescence import Activity, QuiescenceWatch
from ldirectord_py.observe.log import Log
from ldirectord_py.routing.model import HostPrefix, address_order, host_prefix

QUIET = 2.0
"""Seconds without a new connection or a packet to the VIPs: traffic has moved."""
STOP_QUIET = 1.5
"""The same on a stop, shorter: a stop must not wait long on an idle site (it must
stay above ipvs/quiescence.py's TIMER_SLACK plus a sample interval)."""
STOP_RESERVE = 2.0
"""Seconds of the daemon's bounded stop (STOP_BOUND) kept for what follows the wait:
the checks, the pools, the commands."""
SAMPLE_INTERVAL = 0.2
DEFAULT_TIMEOUT = 30.0

ConnectionReader = Callable[[], Awaitable[tuple[Connection, ...]]]


async def read_connection_table() -> tuple[Connection, ...]:
    """/proc/net/ip_vs_conn, off the event loop (it can hold a million entries)."""
    return await asyncio.to_thread(read_connections)


class MaintenanceRefused(ValueError):
    """A maintenance request that names no anycast VIP of this config; says why."""


def resolve_vips(config: Config, texts: Iterable[str]) -> list[HostPrefix]:
    """The anycast VIPs `texts` name (all of them when empty), or MaintenanceRefused."""
    where = config.path
    prefixes = config.settings.anycast.prefixes
    if not prefixes:
        raise MaintenanceRefused(
            f"no anycast configured in {where} (no anycastprefix): maintenance moves "
            "this site's anycast routes away, and there are none"
        )
    vips = vip_settings(config)
    if not vips:
        raise MaintenanceRefused(
            f"no anycast VIP in {where}: no virtual service lies inside the anycastprefix "
            f"list ({', '.join(map(str, prefixes))})"
        )
    known = ", ".join(str(v.network_address) for v in sorted(vips, key=address_order))
    texts = [t.strip() for t in texts if t.strip()]
    if not texts:
        return sorted(vips, key=address_order)
    out: list[HostPrefix] = []
    for text in texts:
        bare = text.strip("[]")
        bare = bare.split("/", 1)[0] if bare.endswith(("/32", "/128")) else bare
        try:
            address = ipaddress.ip_address(bare)
        except ValueError:
            raise MaintenanceRefused(
                f"{text!r} is not an IP address (anycast VIPs of {where}: {known})"
            ) from None
        if config.settings.anycast.prefix_for(str(address)) is None:
            raise MaintenanceRefused(
                f"{address} is outside every anycastprefix of {where} "
                f"({', '.join(map(str, prefixes))}): not an anycast VIP, refusing"
            )
        prefix = host_prefix(str(address))
        if prefix not in vips:
            raise MaintenanceRefused(
                f"{address} is no virtual service's address in {where}: unknown VIP "
                f"(anycast VIPs: {known})"
            )
        if prefix not in out:
            out.append(prefix)
    return out


class MaintenanceStore:
    """The VIPs in maintenance and since when (wall clock), in a file next to the
    pid file, so that they survive reload and restart."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.vips: dict[str, float] = {}
        self.load_error: str | None = None
        if path is not None:
            self._load(path)

    def _load(self, path: str) -> None:
        try:
            with open(path) as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            vips = {str(host_prefix(str(k).split("/")[0])): float(v) for k, v in data.items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError) as exc:
            # A damaged file must not stop the daemon: say so in status, move nothing.
            self.load_error = f"{path}: ignored: {exc}"
            return
        self.vips = vips

    def save(self, vips: dict[str, float]) -> None:
        """Write `vips` (raises OSError: then nothing changed, on disk or here)."""
        if self.path is not None:
            store_json(self.path, vips)
        self.vips = dict(vips)


@dataclass(frozen=True)
class QuietOutcome:
    stopped: bool
    waited: float
    activity: Activity | None
    error: str | None = None


async def wait_until_quiet(
    read: ConnectionReader,
    vips: Iterable[HostPrefix],
    *,
    quiet: float,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    interval: float = SAMPLE_INTERVAL,
    cancelled: Callable[[], bool] = lambda: False,
) -> QuietOutcome:
    """Sample the connection table until traffic to `vips` stopped, or `timeout`."""
    start = clock()
    watch = QuiescenceWatch((v.network_address for v in vips), quiet, start)
    while True:
        now = clock()
        try:
            watch.sample(await read(), now)
        except OSError as exc:
            return QuietOutcome(False, now - start, None, f"cannot read ip_vs connections: {exc}")
        if watch.stopped(now):
            return QuietOutcome(True, now - start, watch.activity(now))
        if now - start >= timeout or cancelled():
            return QuietOutcome(False, now - start, watch.activity(now))
        await asyncio.sleep(min(interval, max(0.0, start + timeout - now)))


class MaintenanceControl:
    """The `maintenance` command, the stored state and the wait on stop."""

    def __init__(
        self,
        log: Log,
        anycast: AnycastCoordinator,
        *,
        clock: Callable[[], float] = time.monotonic,
        read: ConnectionReader = read_connection_table,
    ) -> None:
        self.log = log
        self.anycast = anycast
        self.clock = clock
        self.read = read
        self.store = MaintenanceStore(None)
        self.last_outcome: dict[str, Any] | None = None
        self.quiet = QUIET
        self.stop_quiet = STOP_QUIET

    def use_file(self, path: str) -> None:
        """Where the VIPs in maintenance are kept (before start); restores them."""
        self.store = MaintenanceStore(path)
        if self.store.load_error:
            self.log.info(f"Planned maintenance: {self.store.load_error}")
        offset = time.time() - self.clock()
        for text, since in sorted(self.store.vips.items()):
            self.anycast.maintenance.begin(host_prefix(text.split("/")[0]), since - offset)
            self.log.info(f"Planned maintenance of {text} continues (since {_when(since)})")

    async def command(self, config: Config | None, args: dict[str, Any]) -> dict[str, Any]:
        action = args.get("action")
        raw = args.get("vips") or []
        if action not in ("on", "off"):
            return {"ok": False, "error": f"maintenance: expected on or off, not {action!r}"}
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            return {"ok": False, "error": "maintenance: vips must be a list of addresses"}
        if config is None:
            return {"ok": False, "error": "maintenance: the daemon has not started yet"}
        try:
            timeout = float(args.get("timeout", DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            return {"ok": False, "error": "maintenance: timeout must be a number of seconds"}
        if not 0 <= timeout <= 3600:
            return {"ok": False, "error": "maintenance: timeout must be 0 to 3600 seconds"}
        try:
            vips = resolve_vips(config, raw)
        except MaintenanceRefused as exc:
            return {"ok": False, "error": f"maintenance {action}: {exc}"}
        if action == "on":
            return await self._on(vips, timeout)
        return self._off(vips)

    def _change(self, vips: list[HostPrefix], on: bool) -> list[HostPrefix]:
        """Save, then apply; the VIPs whose state changed (raises OSError: nothing did)."""
        stored = dict(self.store.vips)
        now_wall = time.time()
        changed = [v for v in vips if (str(v) in stored) != on]
        for vip in changed:
            if on:
                stored[str(vip)] = now_wall
            else:
                stored.pop(str(vip), None)
        self.store.save(stored)
        now = self.clock()
        for vip in changed:
            if on:
                self.anycast.maintenance.begin(vip, now)
            else:
                self.anycast.maintenance.end(vip, now, self._holddown(vip))
        return changed

    def _holddown(self, vip: HostPrefix) -> int:
        setting = self.anycast.vip_setting(vip)
        return setting.holddown if setting is not None else 0

    async def _on(self, vips: list[HostPrefix], timeout: float) -> dict[str, Any]:
        names = ", ".join(map(str, vips))
        try:
            changed = self._change(vips, on=True)
        except OSError as exc:
            return {"ok": False, "error": f"maintenance on {names}: cannot save it: {exc}"}
        for vip in changed:
            self.log.info(f"Planned maintenance of {vip}: on, moving its route away")
        self.anycast.refresh()
        lines = [f"{names}: in maintenance ({self._route_words(vips)})"]
        started = self.clock()
        # Drained means the route change is out (GoBGP or the interface carries it)
        # and the traffic has stopped since; both within the one timeout.
        confirmed = await self._routes_confirmed(timeout)
        if confirmed is not None:
            lines.append(confirmed)
        outcome = await wait_until_quiet(
            self.read,
            vips,
            quiet=self.quiet,
            timeout=max(0.0, timeout - (self.clock() - started)),
            clock=self.clock,
            cancelled=lambda: self.anycast.stopped,
        )
        waited = self.clock() - started
        self.last_outcome = {
            "vips": [str(v) for v in vips],
            "drained": outcome.stopped and confirmed is None,
            "waited": round(waited, 2),
            "at": time.time(),
            "detail": outcome.error or (outcome.activity.describe() if outcome.activity else ""),
        }
        if outcome.error is not None:
            lines.append(f"not drained: {outcome.error}")
            return {"ok": False, "message": "\n".join(lines), "error": "not drained"}
        assert outcome.activity is not None
        if outcome.stopped and confirmed is None:
            lines.append(
                f"drained: safe to stop the backends (no new connection and no packet "
                f"for {self.quiet:g} s, after {waited:.1f} s; "
                f"{outcome.activity.entries} idle or closing entries left)"
            )
            self.log.info(f"Planned maintenance of {names}: drained after {waited:.1f} s")
            return {"ok": True, "message": "\n".join(lines), "drained": True}
        why = "the daemon is stopping" if self.anycast.stopped else f"after {timeout:g} s"
        lines.append(f"not drained {why}: {outcome.activity.describe()}")
        self.log.info(f"Planned maintenance of {names}: not drained {why}")
        return {"ok": False, "message": "\n".join(lines), "error": "not drained", "drained": False}

    def _off(self, vips: list[HostPrefix]) -> dict[str, Any]:
        names = ", ".join(map(str, vips))
        try:
            changed = self._change(vips, on=False)
        except OSError as exc:
            return {"ok": False, "error": f"maintenance off {names}: cannot save it: {exc}"}
        for vip in changed:
            self.log.info(f"Planned maintenance of {vip}: off")
        self.anycast.refresh()
        unchanged = [str(v) for v in vips if v not in changed]
        lines = []
        for vip in changed:
            holddown = self._holddown(vip)
            then = f"announced after {holddown} s (anycastholddown)" if holddown else "announced"
            lines.append(f"{vip}: out of maintenance: {then} while its health allows")
        if unchanged:
            lines.append(f"{', '.join(unchanged)}: was not in maintenance")
        return {"ok": True, "message": "\n".join(lines)}

    def _route_words(self, vips: list[HostPrefix]) -> str:
        """What maintenance does to these VIPs' routes, as anycastdown says."""
        words = set()
        for vip in vips:
            setting = self.anycast.vip_setting(vip)
            if setting is None or setting.down.action == "withdraw":
                words.add("route withdrawn")
            else:
                words.add(f"route de-preferred: anycastdown {setting.down}")
        return "; ".join(sorted(words))

    async def _routes_confirmed(self, timeout: float) -> str | None:
        """None when GoBGP (or the interface) carries the new state; else why not."""
        writer = self.anycast.routes or self.anycast.interfaces
        if writer is None:
            return None
        try:
            ok = await writer.converge_now(timeout)
        except Exception as exc:
            return f"not confirmed: {exc}"
        if ok:
            return None
        error = writer.snapshot().last_error
        return (
            f"the route change is not confirmed after {timeout:g} s "
            f"({error or 'no answer'}): not drained"
        )

    async def wait_on_stop(self, config: Config | None, budget: float) -> None:
        """After the routes were withdrawn on stop: until traffic to the anycast VIPs
        stops, at most `anycaststopwait` seconds, and never more than `budget` (what
        the daemon's bounded stop leaves, the pools' removal still to come)."""
        if config is None:
            return
        settings = config.settings.anycast
        vips = list(vip_settings(config))
        if not vips or settings.stop != "withdraw" or settings.stopwait <= 0:
            return
        limit = min(float(settings.stopwait), budget)
        if limit <= 0:
            # The withdrawal used up the bounded stop: say so rather than skip silently.
            self.log.info(
                "Stop: routes withdrawn, but the bounded stop leaves no time to wait for "
                f"traffic to move (anycaststopwait {settings.stopwait} s): removing the pools"
            )
            return
        if budget < settings.stopwait:
            self.log.info(
                f"Stop: waiting at most {budget:.1f} s for traffic to move (anycaststopwait "
                f"{settings.stopwait} s, but the stop is bounded)"
            )
        outcome = await wait_until_quiet(
            self.read, vips, quiet=self.stop_quiet, timeout=limit, clock=self.clock
        )
        if outcome.error is not None:
            self.log.info(f"Stop: not waiting for traffic to move: {outcome.error}")
        elif outcome.stopped:
            self.log.info(
                f"Stop: routes withdrawn, no new connection for {self.stop_quiet:g} s "
                f"(after {outcome.waited:.1f} s): removing the pools"
            )
        elif outcome.activity is not None:
            self.log.info(
                f"Stop: routes withdrawn {limit:g} s ago (anycaststopwait) and traffic still "
                f"arrives ({outcome.activity.describe()}): removing the pools anyway"
            )


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
