"""RouteWriter: the single owner of this director's announcements in GoBGP.

The engine submits the desired set of routes (latest wins); one asyncio task
converges GoBGP's global table to it over gRPC and keeps it there.

Ownership ("ours"). A path in GoBGP's global table is ours when all of these hold:
  * it is locally originated (added through the API or `gobgp global rib add`,
    not learned from a BGP peer);
  * it is a host route (/32 or /128);
  * it lies inside one of the writer's anycast `prefixes`.
Everything else is never touched: routes learned from peers, routes another tool
adds outside the anycast prefixes (any length), and shorter prefixes inside them
(an aggregate someone announces for the whole /24 stays). The anycast prefixes
are this director's by configuration, so a host route inside them that nobody
desires is a leftover of ours: of a previous run killed with SIGKILL, or of a
VIP removed from the configuration, and it is withdrawn. (GoBGP keeps no mark
of who added a path: ListPath returns no UUID, and any attribute we added as a
mark would reach the routers. The prefixes are the mark.)

Undecided VIPs. A restarted daemon finds its previous run's routes in GoBGP
before its first check round has decided anything. Withdrawing them then and
announcing them again a few seconds later would be a flap at every router, so
the writer withdraws nothing before the first submit, and each submit names the
prefixes the daemon has not decided yet (`undecided`): a path of ours held for
one of them is kept as it is, neither changed nor withdrawn, until a later
submit decides it. A leftover for a prefix that is not undecided (its VIP is
gone from the configuration, or decided down) is withdrawn as before.

Reconcile. The writer reads GoBGP's table with ListPath and issues only the
difference: AddPath for desired routes that are missing or carry other
attributes (AddPath replaces a path in place, no withdraw in between),
DeletePath for our paths that are not desired. Between reads it keeps its own
copy of what GoBGP holds, so the same desired set twice issues nothing. A
gobgpd may also hold a full Internet table (a million routes learned from
peers), so the writer never lists the whole table:
  * at connect, on a doubt and every `resync_interval` seconds it looks up the
    prefixes it knows (desired, or held at the last read) one by one: a map
    lookup each in gobgpd, whatever the table size;
  * at connect and every `scan_interval` seconds, a scan finds our paths it
    does not know (a previous run's, an operator's): every host route inside
    the anycast prefixes, looked up one by one for prefixes up to a /16 (an
    IPv4 /24 is 256 lookups), or with one LONGER lookup for bigger ones (an
    IPv6 /48), for which gobgpd walks its whole table of that family. The scan
    runs beside the writer's work with its own deadline (`scan_timeout`), and
    `converge_now()` waits for the first scan of a connection. DeletePath is always
sent with the path (without one gobgpd deletes every local route). Batches of
more than STREAM_ABOVE changes go in one AddPathStream call (the paths to
withdraw flagged is_withdraw) instead of a call per route, which a busy machine
could not keep within the propagation target (bench/README.md, "The routing half").

Prefix guard. A submitted route outside every anycast prefix is refused: logged
as an error naming the prefix, never announced (defence in depth behind the
configuration check).

Connection. One gRPC channel; a heartbeat (GetBgp) every `heartbeat` seconds
and GoBGP's peer event stream watch it. On failure the writer reconnects with a
backoff from 50 ms doubling to `backoff_cap` (1 s), and reconciles on success:
gobgpd forgets API routes when it restarts, and they are announced again at once.
Each connection finds out again which API the daemon speaks (GoBGP 3.x or 4.x,
gobgp.py), unless `api_version` pins it.

Errors. While GoBGP is unreachable, each distinct error text is logged once;
repeats are counted and summarised every `error_summary` seconds and when the
connection comes back, so a blackholed API does not write a line per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from ldirectord_py.observe.schema import GoBGPSnapshot, JsonObject, PeerSnapshot, to_json

from ..networks import Network
from . import messages
from .gobgp import GoBGPClient, GoBGPError, GoBGPVersionError, PeerView
from .messages import PathView
from .model import ApiVersion, HostPrefix, Route, address_order, host_prefix, inside

LOG_EACH_UP_TO = 20
"""Changes per batch logged one per line; bigger batches are summarised."""

STREAM_ABOVE = 16
"""Batches bigger than this go in one AddPathStream call instead of one call each."""

SCAN_EXACT_UP_TO = 65536
"""Anycast prefixes up to this many addresses are scanned address by address."""


def _addresses(net: Network) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address of `net`, network and broadcast included (a VIP may be either)."""
    return (net.network_address + i for i in range(net.num_addresses))


def describe_route(route: Route) -> str:
    parts = [str(route.prefix)]
    if route.next_hop:
        parts.append(f"next hop {route.next_hop}")
    if route.med is not None:
        parts.append(f"med {route.med}")
    if route.prepend:
        parts.append(f"prepend {route.prepend}")
    if route.communities:
        parts.append("community " + " ".join(route.communities))
    if route.origin != "igp":
        parts.append(f"origin {route.origin}")
    return ", ".join(parts)


class RouteWriter:
    def __init__(
        self,
        *,
        target: str,
        prefixes: Sequence[Network],
        log: Callable[[str], None],
        timeout: float = 2.0,
        heartbeat: float = 1.0,
        resync_interval: float = 30.0,
        backoff_cap: float = 1.0,
        concurrency: int = 64,
        stop_timeout: float = 5.0,
        api_version: ApiVersion = "auto",
        error_summary: float = 60.0,
        scan_interval: float = 600.0,
        scan_timeout: float = 60.0,
    ) -> None:
        self.target = target
        self.api_version: ApiVersion = api_version
        self._error_summary = error_summary
        self._scan_interval = scan_interval
        self._scan_timeout = scan_timeout
        self._scan_pending = True
        """The first scan of this connection has not finished yet."""
        self._scan_error: str | None = None
        self._failures = FailureLog()
        self.prefixes: tuple[Network, ...] = tuple(prefixes)
        self._log = log
        self._timeout = timeout
        self._heartbeat = heartbeat
        self._resync_interval = resync_interval
        self._backoff_cap = backoff_cap
        self._concurrency = concurrency
        self._stop_timeout = stop_timeout

        self._desired: dict[HostPrefix, Route] = {}
        self._undecided: frozenset[HostPrefix] = frozenset()
        self._submitted = False
        """False until the first submit: until then the writer withdraws nothing."""
        self._generation = 0
        self._applied_generation = -1
        self._refused: dict[HostPrefix, str] = {}
        self._failed: dict[HostPrefix, str] = {}
        self._held: dict[HostPrefix, PathView] | None = None
        self._client: GoBGPClient | None = None
        self._local_asn: int | None = None
        self._router_id = ""
        self._api = ""
        """The API the daemon answered with at the last connect ("4.x (api.GoBgpService)")."""
        self._connected = False
        self._no_api = False
        """True while the daemon answers neither API (or not the pinned one)."""
        self._since = time.time()
        self._last_error: str | None = None
        self._peers: dict[str, PeerView] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.busy_since: float | None = None
        """Monotonic start of the round in progress (None while waiting or
        reconnecting): the daemon's WriterSupervisor reports a round that never
        ends as a stall. Every gRPC call has its own deadline, so only a bug can
        keep a round going; GoBGP being down is not a stall (a restart of the
        daemon would not bring it back)."""
        self.calls_total = 0
        """AddPath + DeletePath calls issued so far (for tests and benchmarks)."""

    # ---- the API the daemon uses ---------------------------------------------

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The writer's task (the daemon's WriterSupervisor watches it)."""
        return self._task

    def start(self) -> None:
        """Spawn the writer's task on the running loop; returns at once (also to
        restart it after it ended on an error)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"route-writer {self.target}"
            )

    def submit(
        self,
        routes: Mapping[HostPrefix, Route],
        *,
        undecided: Collection[HostPrefix] = frozenset(),
    ) -> None:
        """The desired announcements (absent = withdrawn, except the `undecided`
        prefixes: a path of ours held for one of them is kept as it is). Latest
        wins; never blocks."""
        accepted: dict[HostPrefix, Route] = {}
        refused: dict[HostPrefix, str] = {}
        for key, route in routes.items():
            reason = self._refusal(key, route)
            if reason:
                refused[key] = reason
            else:
                accepted[key] = route
        for key, reason in refused.items():
            if self._refused.get(key) != reason:
                self._log(f"route writer: refusing to announce {key}: {reason}")
        self._refused = refused
        keep = frozenset(p for p in undecided if p not in accepted)
        if accepted != self._desired or keep != self._undecided or not self._submitted:
            self._desired = accepted
            self._undecided = keep
            self._submitted = True
            self._generation += 1
            self._wake.set()

    async def converge_now(self, timeout: float) -> bool:
        """Wait until GoBGP holds exactly the desired set (verified with ListPath).

        Returns False if that is not so within `timeout` seconds (GoBGP down, a
        route rejected, ...). Does not change what the writer does.
        """
        deadline = time.monotonic() + timeout
        resynced = False
        pause = 0.005
        while True:
            client = self._client
            if (
                client is not None
                and self._connected
                and self._applied_generation == self._generation
                and not self._failed
                and not self._scan_pending
            ):
                generation = self._generation
                remaining = deadline - time.monotonic()
                try:
                    held = await self._read_known(client, timeout=max(0.05, remaining))
                except GoBGPError:
                    held = None
                if held is not None and generation == self._generation:
                    if self._same(held, self._desired):
                        if self._applied_generation == generation:
                            self._held = held  # GoBGP's own view (best, ...) for status()
                        return True
                    if not resynced:
                        # GoBGP differs from what we believe it holds (someone
                        # deleted a route?): make the writer read it and fix it.
                        resynced = True
                        self._held = None
                        self._wake.set()
                    else:
                        # Still different after a fresh read and fix: GoBGP
                        # drops what we add (an import policy?). Do not hammer it.
                        self._note_discrepancy(held)
                        pause = 0.1
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(pause)

    def _note_discrepancy(self, held: Mapping[HostPrefix, PathView]) -> None:
        asn = self._local_asn
        missing = [
            p for p, r in self._desired.items() if p not in held or not held[p].matches(r, asn)
        ]
        extra = [p for p in held if p not in self._desired and not self._kept(p)]
        parts = []
        if missing:
            parts.append("does not hold " + ", ".join(str(p) for p in missing[:5]))
        if extra:
            parts.append("still holds " + ", ".join(str(p) for p in extra[:5]))
        error = f"GoBGP at {self.target} {' and '.join(parts)} after our changes"
        if missing:
            error += " (a global import policy rejecting local routes?)"
        if error != self._last_error:
            self._log(f"route writer: {error}")
            self._last_error = error

    async def stop(self, *, withdraw: bool) -> None:
        """Stop the writer. withdraw=True first withdraws all our routes (bounded time)."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        client = self._client or self._new_client()
        self._client = None
        try:
            if withdraw:
                try:
                    await asyncio.wait_for(self._withdraw_all(client), self._stop_timeout)
                except (GoBGPError, TimeoutError) as exc:
                    detail = str(exc) or f"no answer within {self._stop_timeout:g} s"
                    self._log(f"route writer: could not withdraw the routes on stop: {detail}")
        finally:
            await client.close()
            self._connected = False

    def snapshot(self) -> GoBGPSnapshot:
        """Connection, peers, our desired routes and GoBGP's view of them."""
        held = self._held or {}
        gobgp: dict[str, JsonObject | None] = {}
        for prefix in sorted({*self._desired, *held}, key=address_order):
            view = held.get(prefix)
            gobgp[str(prefix)] = view.attributes() if view is not None else None
        return GoBGPSnapshot(
            target=self.target,
            connected=self._connected,
            since=self._since,
            last_error=self._last_error,
            local_asn=self._local_asn,
            router_id=self._router_id,
            api=self._api or None,
            api_version=self.api_version,
            no_api=self._no_api,
            prefixes=tuple(str(p) for p in self.prefixes),
            converged=self._connected
            and self._applied_generation == self._generation
            and not self._failed,
            peers=tuple(_peer(self._peers[a]) for a in sorted(self._peers)),
            ours={
                str(p): _route_dict(self._desired[p])
                for p in sorted(self._desired, key=address_order)
            },
            gobgp=gobgp,
            refused={str(p): r for p, r in self._refused.items()},
            failed={str(p): r for p, r in self._failed.items()},
        )

    def status(self) -> dict[str, Any]:
        """The snapshot as JSON data."""
        return dict(to_json(self.snapshot()))

    # ---- ownership and guards ------------------------------------------------

    def inside(self, prefix: Network) -> bool:
        return inside(prefix, self.prefixes)

    def is_ours(self, view: PathView) -> bool:
        return view.local and view.is_host and self.inside(view.prefix)

    def _refusal(self, key: HostPrefix, route: Route) -> str | None:
        if key != route.prefix:
            return f"the route is for {route.prefix}, not {key}"
        if not self.inside(key):
            listed = ", ".join(str(p) for p in self.prefixes) or "none configured"
            return f"outside the anycast prefixes ({listed})"
        try:
            messages.check_route(route)
        except ValueError as exc:
            return str(exc)
        return None

    def _kept(self, prefix: HostPrefix) -> bool:
        """Whether a held path of ours for `prefix` stays as it is (not withdrawn)."""
        return not self._submitted or prefix in self._undecided

    def _same(
        self, held: Mapping[HostPrefix, PathView], desired: Mapping[HostPrefix, Route]
    ) -> bool:
        if {p for p in held if not self._kept(p)} != desired.keys():
            return False
        return all(held[p].matches(r, self._local_asn) for p, r in desired.items())

    # ---- the task ------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            client = self._new_client()
            peer_task: asyncio.Task[None] | None = None
            try:
                info = await client.get_bgp()
                self._local_asn, self._router_id = info.asn, info.router_id
                self._api = client.dialect.label if client.dialect else ""
                self._no_api = False
                self._client = client
                self._held = None
                self._scan_pending = True
                self._set_connected(
                    True, f"GoBGP {self._api}, AS {info.asn}, router id {info.router_id}"
                )
                backoff = 0.05
                peer_task = asyncio.create_task(self._watch_peers(client))
                await self._serve(client, peer_task)
            except GoBGPError as exc:
                self._no_api = isinstance(exc, GoBGPVersionError)
                self._set_error(str(exc))
            except Exception as exc:
                # A bug: the daemon's WriterSupervisor logs the traceback, counts it
                # and restarts the writer with backoff.
                self._set_error(f"unexpected error: {type(exc).__name__}: {exc}")
                raise
            finally:
                self.busy_since = None
                if peer_task is not None:
                    peer_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, GoBGPError):
                        await peer_task
                if self._client is client:
                    self._client = None
                await client.close()
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_cap)

    async def _serve(self, client: GoBGPClient, peer_task: asyncio.Task[None]) -> None:
        next_resync = 0.0
        next_scan = 0.0
        scan: asyncio.Task[dict[HostPrefix, PathView]] | None = None
        try:
            while True:
                self._wake.clear()
                now = time.monotonic()
                self.busy_since = now
                if self._held is None or now >= next_resync:
                    self._held = await self._read_known(client, timeout=self._timeout)
                    next_resync = now + self._resync_interval
                if scan is not None and scan.done():
                    task, scan = scan, None
                    ok = self._take_scan(task)
                    again = self._scan_interval if ok else min(self._scan_interval, 60.0)
                    next_scan = time.monotonic() + again
                elif scan is None and now >= next_scan:
                    scan = asyncio.create_task(self._scan(client))
                generation = self._generation
                await self._apply(client)
                self._applied_generation = generation
                self.busy_since = None
                waker = asyncio.ensure_future(self._wake.wait())
                watched: set[asyncio.Future[Any]] = {waker, peer_task}
                if scan is not None:
                    watched.add(scan)
                try:
                    done, _ = await asyncio.wait(
                        watched, timeout=self._heartbeat, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waker.cancel()
                if peer_task in done:
                    exc = peer_task.exception()
                    raise (
                        exc
                        if isinstance(exc, GoBGPError)
                        else GoBGPError(self.target, "WatchEvent (peers)", f"stream ended: {exc}")
                    )
                if not done:
                    info = await client.get_bgp()  # heartbeat
                    if info.asn != self._local_asn:
                        self._log(f"route writer: GoBGP's local AS changed to {info.asn}")
                        self._local_asn = info.asn
                        self._held = None
        finally:
            if scan is not None:
                scan.cancel()
                with contextlib.suppress(asyncio.CancelledError, GoBGPError):
                    await scan

    def _take_scan(self, task: asyncio.Task[dict[HostPrefix, PathView]]) -> bool:
        """Adopt what a finished scan found: our paths the writer did not know,
        which the next _apply withdraws unless desired or undecided. A scan that failed is
        reported once per text and retried sooner; the connection stays unless
        gobgpd is gone (a scan that overran its deadline says nothing about that)."""
        self._scan_pending = False
        try:
            found = task.result()
        except GoBGPError as exc:
            if exc.unavailable and not exc.timed_out:
                raise
            if str(exc) != self._scan_error:
                self._log(f"route writer: scan for unknown routes of ours: {exc}")
            self._scan_error = str(exc)
            return False
        self._scan_error = None
        held = self._held
        if held is not None:
            for prefix, view in found.items():
                if prefix not in held and prefix not in self._desired:
                    held[prefix] = view
        return True

    def _known(self) -> list[HostPrefix]:
        """The prefixes whose paths the writer follows: desired, undecided, held, failed."""
        known = {*self._desired, *self._undecided, *(self._held or {}), *self._failed}
        return sorted(known, key=address_order)

    async def _read_known(
        self, client: GoBGPClient, *, timeout: float
    ) -> dict[HostPrefix, PathView]:
        """Our paths among the known prefixes (exact lookups: cheap in any table)."""
        known = self._known()
        ours: dict[HostPrefix, PathView] = {}
        deadline = time.monotonic() + timeout
        for version in (4, 6):
            exact = [p for p in known if p.version == version]
            if not exact:
                continue
            remaining = max(0.05, deadline - time.monotonic())
            for view in await client.list_paths(version, exact=exact, timeout=remaining):
                if self.is_ours(view):
                    ours[view.prefix] = view
        return ours

    async def _scan(self, client: GoBGPClient) -> dict[HostPrefix, PathView]:
        """All our paths: every host route inside the anycast prefixes.

        An anycast prefix of up to SCAN_EXACT_UP_TO addresses (an IPv4 /24 or
        /16) is scanned with an exact lookup of each of its host routes, a map
        lookup each in gobgpd; a bigger one (an IPv6 /48) with one LONGER
        lookup, for which gobgpd walks its whole table of that family while
        every other API call waits (gobgpd serves them one at a time)."""
        ours: dict[HostPrefix, PathView] = {}
        deadline = time.monotonic() + self._scan_timeout
        for version in (4, 6):
            nets = [p for p in self.prefixes if p.version == version]
            small = [p for p in nets if p.num_addresses <= SCAN_EXACT_UP_TO]
            exact = [host_prefix(str(a)) for p in small for a in _addresses(p)]
            longer = [p for p in nets if p.num_addresses > SCAN_EXACT_UP_TO]
            if not exact and not longer:
                continue
            remaining = max(0.05, deadline - time.monotonic())
            paths = await client.list_paths(version, exact=exact, longer=longer, timeout=remaining)
            for view in paths:
                if self.is_ours(view):
                    ours[view.prefix] = view
        return ours

    async def _apply(self, client: GoBGPClient) -> None:
        held = self._held
        assert held is not None
        desired = dict(self._desired)
        asn = self._local_asn
        adds = [r for p, r in desired.items() if p not in held or not held[p].matches(r, asn)]
        deletes = [p for p in held if p not in desired and not self._kept(p)]
        for p in list(self._failed):
            if p not in desired:
                del self._failed[p]
        if not adds and not deletes:
            return
        if len(adds) + len(deletes) > STREAM_ABOVE:
            try:
                await client.update_paths(adds, deletes, local_asn=asn)
            except GoBGPError as exc:
                if exc.unavailable:
                    raise
                # Some path was refused: GoBGP may hold part of the batch. Go
                # route by route below, which names the culprit.
                self._log(f"route writer: {exc}; retrying route by route")
                self._held = held = await self._read_known(client, timeout=self._timeout)
                adds = [
                    r for p, r in desired.items() if p not in held or not held[p].matches(r, asn)
                ]
                deletes = [p for p in held if p not in desired and not self._kept(p)]
            else:
                for route in adds:
                    held[route.prefix] = messages.expected_view(route, asn)
                    self._failed.pop(route.prefix, None)
                for prefix in deletes:
                    held.pop(prefix, None)
                self.calls_total += len(adds) + len(deletes)
                self._log_changes(adds, deletes)
                return
        semaphore = asyncio.Semaphore(self._concurrency)
        announced: list[Route] = []
        withdrawn: list[HostPrefix] = []
        unavailable: list[GoBGPError] = []

        async def add(route: Route) -> None:
            async with semaphore:
                try:
                    await client.add_path(route, local_asn=asn)
                except GoBGPError as exc:
                    self._route_failed(route.prefix, exc, unavailable)
                    return
            held[route.prefix] = messages.expected_view(route, asn)
            self._failed.pop(route.prefix, None)
            announced.append(route)

        async def delete(prefix: HostPrefix) -> None:
            async with semaphore:
                try:
                    await client.delete_path(prefix)
                except GoBGPError as exc:
                    self._route_failed(prefix, exc, unavailable)
                    return
            held.pop(prefix, None)
            withdrawn.append(prefix)

        await asyncio.gather(*(add(r) for r in adds), *(delete(p) for p in deletes))
        self.calls_total += len(adds) + len(deletes)
        self._log_changes(announced, withdrawn)
        if unavailable:
            raise unavailable[0]

    def _log_changes(self, announced: Sequence[Route], withdrawn: Sequence[HostPrefix]) -> None:
        if len(announced) + len(withdrawn) <= LOG_EACH_UP_TO:
            for route in announced:
                self._log(f"route writer: announced {describe_route(route)}")
            for prefix in withdrawn:
                self._log(f"route writer: withdrew {prefix}")
        else:
            self._log(
                f"route writer: announced {len(announced)} and withdrew {len(withdrawn)} routes"
            )

    def _route_failed(
        self, prefix: HostPrefix, exc: GoBGPError, unavailable: list[GoBGPError]
    ) -> None:
        if exc.unavailable:
            unavailable.append(exc)
            return
        if self._failed.get(prefix) != str(exc):
            self._log(f"route writer: {exc}")
        self._failed[prefix] = str(exc)
        self._last_error = str(exc)

    async def _watch_peers(self, client: GoBGPClient) -> None:
        async for peer in client.watch_peers():
            old = self._peers.get(peer.address)
            if old is None or old.state != peer.state:
                self._log(
                    f"route writer: GoBGP peer {peer.address} (AS {peer.asn}) is {peer.state}"
                )
            if peer.uptime is None and peer.state == "established":
                with contextlib.suppress(GoBGPError):
                    for full in await client.list_peers():
                        if full.address == peer.address:
                            peer = full
            self._peers[peer.address] = peer

    async def _withdraw_all(self, client: GoBGPClient) -> None:
        """Withdraw our known paths (a leftover the scan did not find yet is found
        by the next start's scan)."""
        held = await self._read_known(client, timeout=self._timeout)
        prefixes = sorted(held, key=address_order)
        if len(prefixes) > STREAM_ABOVE:
            await client.update_paths([], prefixes)
        else:
            await asyncio.gather(*(client.delete_path(p) for p in prefixes))
        self.calls_total += len(prefixes)
        self._held = {}
        if prefixes:
            shown = ", ".join(str(p) for p in prefixes[:LOG_EACH_UP_TO])
            more = (
                f" and {len(prefixes) - LOG_EACH_UP_TO} more"
                if len(prefixes) > LOG_EACH_UP_TO
                else ""
            )
            self._log(f"route writer: withdrew {len(prefixes)} routes on stop: {shown}{more}")

    def _new_client(self) -> GoBGPClient:
        return GoBGPClient(self.target, timeout=self._timeout, version=self.api_version)

    # ---- reporting -------------------------------------------------------------

    def _set_connected(self, connected: bool, detail: str) -> None:
        if connected != self._connected:
            self._connected = connected
            self._since = time.time()
            if connected:
                summary = self._failures.reset()
                if summary:
                    self._log(f"route writer: {summary}")
                self._log(f"route writer: connected to GoBGP at {self.target} ({detail})")
                self._last_error = None

    def _set_error(self, error: str) -> None:
        was = self._connected
        if was:
            self._connected = False
            self._since = time.time()
            self._peers.clear()
            self._failures.reset()
        first = self._failures.add(error, time.monotonic())
        if first or was:
            self._log(f"route writer: {error}; retrying")
        else:
            summary = self._failures.due(time.monotonic(), self._error_summary)
            if summary:
                self._log(f"route writer: {summary}; retrying")
        self._last_error = error


class FailureLog:
    """Connection failures since the last success: each distinct text is reported
    once, the rest are counted (alternating texts, such as "not reachable" and
    "deadline exceeded" from a blackholed address, would defeat a last-line check)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.count = 0
        self.repeats = 0
        self.since = 0.0
        self.last = ""
        self._reported_at = 0.0

    def add(self, error: str, now: float) -> bool:
        """Count one failure; True when its text is new (log it)."""
        if not self.count:
            self.since = self._reported_at = now
        self.count += 1
        self.last = error
        if error in self.seen:
            self.repeats += 1
            return False
        self.seen.add(error)
        return True

    def due(self, now: float, every: float) -> str | None:
        """A summary of the repeats, at most once per `every` seconds."""
        if not self.repeats or now - self._reported_at < every:
            return None
        text = (
            f"still failing: {self.count} attempts in {now - self.since:.0f} s "
            f"({self.repeats} repeated errors not logged), last: {self.last}"
        )
        self._reported_at, self.repeats = now, 0
        return text

    def reset(self) -> str | None:
        """Forget the failures; a summary if some were not logged."""
        text = None
        if self.count and self.repeats:
            text = (
                f"{self.count} failed attempts before this connection "
                f"({self.repeats} repeated errors not logged)"
            )
        self.seen.clear()
        self.count = self.repeats = 0
        return text


def _route_dict(route: Route) -> dict[str, Any]:
    return {
        "next_hop": route.next_hop,
        "origin": route.origin,
        "med": route.med,
        "communities": list(route.communities),
        "prepend": route.prepend,
    }


def _peer(peer: PeerView) -> PeerSnapshot:
    return PeerSnapshot(
        address=peer.address,
        asn=peer.asn,
        state=peer.state,
        admin_down=peer.admin_down,
        uptime=peer.uptime,
        hold_time=peer.hold_time,
        description=peer.description,
    )
