"""An asyncio client for the few GoBGP gRPC calls we use, in either API.

    client = GoBGPClient("127.0.0.1:50051")          # or "unix:/run/gobgpd/api.sock"
    info = await client.get_bgp()                     # finds the API; local AS, router id
    client.dialect.label                              # "4.x (api.GoBgpService)"
    await client.add_path(route, local_asn=info.asn)  # announce (replaces an existing path)
    await client.delete_path(route.prefix)            # withdraw: always with a path
    paths = await client.list_paths(4, exact=vips, longer=anycast_prefixes)  # as PathView
    peers = await client.list_peers()
    async for peer in client.watch_peers(): ...       # peer state changes
    await client.close()

The API (GoBGP 3.x `apipb.GobgpApi` or 4.x `api.GoBgpService`, dialects.py) is
found on the first call: GetBgp on the 4.x service, then on the 3.x one;
UNIMPLEMENTED ("unknown service") means the daemon does not speak it. The
client keeps what it found until it is closed (the route writer makes a new
client for every connection, so a gobgpd upgraded in place is found again).
`version` "3" or "4" pins the API instead (`gobgpversion`).

Every unary call and every finite stream has a deadline (`timeout`, seconds).
The peer watch is an endless stream; its death (gobgpd stopped or restarted)
ends the iterator with GoBGPError. Failures are raised as GoBGPError, which
names the target and what was being done; no grpc exception escapes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from ..networks import Network
from . import messages
from .dialects import DIALECTS, PROBE_ORDER, Dialect
from .messages import PathView
from .model import ApiVersion, HostPrefix, Route

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 2.0

# Reconnect quickly: gobgpd restarting must not leave us waiting in grpc's own
# default backoff (1 s growing to 120 s). The route writer has its own capped
# backoff on top.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
]


class GoBGPError(Exception):
    """A GoBGP call failed. str() names the target, the action and the cause."""

    def __init__(
        self,
        target: str,
        action: str,
        detail: str,
        *,
        unavailable: bool = False,
        timed_out: bool = False,
        text: str | None = None,
    ):
        super().__init__(text or f"GoBGP at {target}: {action} failed: {detail}")
        self.target = target
        self.action = action
        self.detail = detail
        self.unavailable = unavailable
        self.timed_out = timed_out
        """True when the call overran its deadline (also counted as unavailable)."""
        """True when gobgpd could not be reached at all (not running, wrong target),
        or stopped speaking the API found at connect: reconnect and find it again."""


class GoBGPVersionError(GoBGPError):
    """The daemon at the target answers neither API (or not the pinned one)."""


def neither_api_text(target: str) -> str:
    return f"GoBGP API at {target}: neither the 3.x nor the 4.x service answers"


def grpc_target(target: str) -> str:
    """Our target syntax (`host:port`, `[v6]:port`, `unix:/path`) -> a grpc target string."""
    target = target.strip()
    if not target:
        raise ValueError("empty GoBGP API target")
    if target.startswith("unix:"):
        path = target[len("unix:") :]
        if path.startswith("//"):
            path = path[2:]
        if not path.startswith("/"):
            raise ValueError(f"GoBGP API target {target!r}: a unix socket path must be absolute")
        return "unix:" + path
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"GoBGP API target {target!r}: expected host:port or unix:/path")
    return target


def _describe(exc: BaseException) -> tuple[str, bool]:
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        detail = exc.details() or ""
        unavailable = code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNIMPLEMENTED,
        )
        if code == grpc.StatusCode.UNAVAILABLE:
            text = "gobgpd is not reachable (is it running, with this --api-hosts?)"
            return (f"{text}: {detail}" if detail else text), True
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return "no answer in time (deadline exceeded)", True
        return f"{code.name.lower()}: {detail}", unavailable
    return f"{type(exc).__name__}: {exc}", False


@dataclass(frozen=True)
class BgpInfo:
    asn: int
    router_id: str
    listen_port: int


@dataclass(frozen=True)
class PeerView:
    address: str
    asn: int
    state: str
    admin_down: bool
    uptime: float | None
    """Unix time the session was established (None when it is not)."""
    hold_time: int
    description: str = ""


def parse_peer(d: Dialect, peer: Any) -> PeerView:
    state = peer.state
    established = state.session_state == d.ESTABLISHED
    uptime: float | None = None
    if established and peer.timers.state.HasField("uptime"):
        ts = peer.timers.state.uptime
        uptime = ts.seconds + ts.nanos / 1e9 if ts.seconds else None
    return PeerView(
        address=peer.conf.neighbor_address or state.neighbor_address,
        asn=peer.conf.peer_asn or state.peer_asn,
        state=messages.SESSION_STATES.get(state.session_state, str(state.session_state)),
        admin_down=state.admin_state == d.ADMIN_DOWN or peer.conf.admin_down,
        uptime=uptime,
        hold_time=int(peer.timers.state.negotiated_hold_time or peer.timers.config.hold_time),
        description=peer.conf.description,
    )


@dataclass
class CallStats:
    """Counts of RPCs issued (the writer's idempotence is tested with these)."""

    add: int = 0
    delete: int = 0
    list_paths: int = 0
    other: int = 0


class GoBGPClient:
    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        version: ApiVersion = "auto",
    ):
        self.target = target
        self.timeout = timeout
        self.version: ApiVersion = version
        self._grpc_target = grpc_target(target)
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self.dialect: Dialect | None = None
        """The API the daemon speaks, once a call found it (None before)."""
        self.stats = CallStats()

    def _get_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._grpc_target, options=_CHANNEL_OPTIONS)
        return self._channel

    async def _api(self) -> tuple[Dialect, Any]:
        """The dialect and its stub, finding out which API the daemon speaks first."""
        if self.dialect is None:
            await self._detect()
        assert self.dialect is not None
        return self.dialect, self._stub

    async def _detect(self) -> Any:
        """Ask GetBgp on each candidate service; the first that answers is the daemon's.

        Returns that GetBgp response (None when the service answered with an
        error, e.g. BGP not started: it exists all the same).
        """
        channel = self._get_channel()
        candidates = PROBE_ORDER if self.version == "auto" else (DIALECTS[int(self.version)],)
        for dialect in candidates:
            stub = dialect.stub(channel)
            response: Any = None
            try:
                response = await stub.GetBgp(dialect.pb.GetBgpRequest(), timeout=self.timeout)
            except asyncio.CancelledError:
                raise self._closed("GetBgp") from None
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    continue
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise self._error("GetBgp", exc) from None
            self.dialect, self._stub = dialect, stub
            return response
        raise GoBGPVersionError(
            self.target,
            "GetBgp",
            "no known API",
            text=await self._no_api_text(channel),
        )

    async def _no_api_text(self, channel: grpc.aio.Channel) -> str:
        if self.version == "auto":
            return neither_api_text(self.target)
        text = (
            f"GoBGP API at {self.target}: the {self.version}.x service does not answer "
            f"(gobgpversion = {self.version})"
        )
        other = DIALECTS[4 if self.version == "3" else 3]
        try:
            await other.stub(channel).GetBgp(other.pb.GetBgpRequest(), timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return text + "; nor does the " + f"{other.major}.x one"
        return text + f"; the daemon speaks {other.major}.x: set gobgpversion = {other.major}"

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        self.dialect = None
        if channel is not None:
            await channel.close(grace=None)

    def _closed(self, action: str) -> BaseException:
        """What to raise for a call that ended in CancelledError: the cancellation
        itself when our task is being cancelled; otherwise another task closed the
        channel under the call (the route writer reconnecting while converge_now()
        reads), which is a lost connection, reported like one."""
        task = asyncio.current_task()
        if task is None or task.cancelling():
            return asyncio.CancelledError()
        return GoBGPError(self.target, action, "the connection was closed", unavailable=True)

    def _error(self, action: str, exc: BaseException) -> GoBGPError:
        detail, unavailable = _describe(exc)
        timed_out = (
            isinstance(exc, grpc.aio.AioRpcError)
            and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        )
        return GoBGPError(self.target, action, detail, unavailable=unavailable, timed_out=timed_out)

    async def _unary(self, action: str, method: str, request: Any, timeout: float | None) -> Any:
        stub = self._stub
        try:
            return await getattr(stub, method)(request, timeout=timeout or self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise self._error(action, exc) from None
        except asyncio.CancelledError:
            raise self._closed(action) from None
        except grpc.RpcError as exc:  # pragma: no cover - aio raises AioRpcError
            raise self._error(action, exc) from None

    async def get_bgp(self, *, timeout: float | None = None) -> BgpInfo:
        self.stats.other += 1
        if self.dialect is None:
            response = await self._detect()
            if response is None:  # the service answered with an error: ask again for it
                response = await self._unary("GetBgp", "GetBgp", self._getbgp(), timeout)
        else:
            response = await self._unary("GetBgp", "GetBgp", self._getbgp(), timeout)
        g = getattr(response, "global")
        if not g.asn:
            raise GoBGPError(
                self.target, "GetBgp", "gobgpd has not started BGP (no global AS configured)"
            )
        return BgpInfo(asn=g.asn, router_id=g.router_id, listen_port=g.listen_port)

    def _getbgp(self) -> Any:
        assert self.dialect is not None
        return self.dialect.pb.GetBgpRequest()

    async def add_path(
        self, route: Route, *, local_asn: int | None = None, timeout: float | None = None
    ) -> bytes:
        """Announce `route` (an existing path for the prefix is replaced). Returns its UUID."""
        d, _ = await self._api()
        try:
            request = messages.add_path_request(d, route, local_asn)
        except ValueError as exc:
            raise GoBGPError(self.target, f"AddPath {route.prefix}", str(exc)) from None
        self.stats.add += 1
        response = await self._unary(f"AddPath {route.prefix}", "AddPath", request, timeout)
        return bytes(response.uuid)

    async def update_paths(
        self,
        announce: list[Route],
        withdraw: list[HostPrefix],
        *,
        local_asn: int | None = None,
        batch: int = 250,
    ) -> None:
        """Announce and withdraw many routes in one AddPathStream call (batches of `batch`).

        Much cheaper than one AddPath/DeletePath each for hundreds of routes. All
        or nothing is not guaranteed: after a failure, read the table again.
        """
        d, stub = await self._api()
        paths = []
        try:
            for route in announce:
                paths.append(messages.build_path(d, route, local_asn))
        except ValueError as exc:
            raise GoBGPError(self.target, "AddPathStream", str(exc)) from None
        for prefix in withdraw:
            path = messages.build_withdraw_path(d, prefix)
            path.is_withdraw = True
            paths.append(path)
        if not paths:
            return
        requests = messages.add_path_stream_requests(d, paths, batch)
        self.stats.add += len(announce)
        self.stats.delete += len(withdraw)
        action = f"AddPathStream ({len(announce)} announce, {len(withdraw)} withdraw)"
        timeout = self.timeout * max(1.0, len(paths) / 500)
        try:
            await stub.AddPathStream(iter(requests), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise self._error(action, exc) from None
        except asyncio.CancelledError:
            raise self._closed(action) from None

    async def delete_path(self, prefix: HostPrefix, *, timeout: float | None = None) -> None:
        """Withdraw the locally originated path for `prefix` (a no-op if there is none)."""
        d, _ = await self._api()
        request = messages.delete_path_request(d, prefix)
        self.stats.delete += 1
        await self._unary(f"DeletePath {prefix}", "DeletePath", request, timeout)

    async def list_paths(
        self,
        version: int,
        *,
        exact: Sequence[Network] = (),
        longer: Sequence[Network] = (),
        whole: bool = False,
        timeout: float | None = None,
    ) -> list[PathView]:
        """Paths of GoBGP's global IPv4 or IPv6 unicast table: those of the `exact`
        prefixes and of everything inside the `longer` ones; with `whole`, all
        of them (a full table is millions: only for tests and small tables).
        `timeout` bounds the whole read."""
        d, stub = await self._api()
        if whole:
            requests = [messages.list_whole_table_request(d, version)]
        else:
            requests = messages.list_path_requests(d, version, exact=exact, longer=longer)
        action = f"ListPath IPv{version}"
        paths: list[PathView] = []
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            for request in requests:
                self.stats.list_paths += 1
                remaining = max(0.001, deadline - time.monotonic())
                async for response in stub.ListPath(request, timeout=remaining):
                    for path in response.destination.paths:
                        try:
                            paths.append(messages.parse_path(d, path))
                        except ValueError:
                            continue  # a NLRI type we do not model: never ours
        except grpc.aio.AioRpcError as exc:
            raise self._error(action, exc) from None
        except asyncio.CancelledError:
            raise self._closed(action) from None
        return paths

    async def list_peers(self, *, timeout: float | None = None) -> list[PeerView]:
        d, stub = await self._api()
        self.stats.other += 1
        peers: list[PeerView] = []
        try:
            call = stub.ListPeer(d.pb.ListPeerRequest(), timeout=timeout or self.timeout)
            async for response in call:
                peers.append(parse_peer(d, response.peer))
        except grpc.aio.AioRpcError as exc:
            raise self._error("ListPeer", exc) from None
        except asyncio.CancelledError:
            raise self._closed("ListPeer") from None
        return peers

    async def watch_peers(self) -> AsyncIterator[PeerView]:
        """Peer states: one per peer first (the current snapshot), then each change.

        Endless while gobgpd lives; raises GoBGPError when the stream breaks.
        """
        d, stub = await self._api()
        request = d.pb.WatchEventRequest(peer=d.pb.WatchEventRequest.Peer())
        call = stub.WatchEvent(request)
        try:
            async for event in call:
                if not event.HasField("peer"):
                    continue
                if event.peer.type == d.END_OF_INIT:
                    continue
                yield parse_peer(d, event.peer.peer)
        except grpc.aio.AioRpcError as exc:
            raise self._error("WatchEvent (peers)", exc) from None
        except asyncio.CancelledError:
            raise self._closed("WatchEvent (peers)") from None
        finally:
            call.cancel()
        raise GoBGPError(self.target, "WatchEvent (peers)", "gobgpd ended the stream")
