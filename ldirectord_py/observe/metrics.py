"""Prometheus metrics, off unless `metricsaddress = host:port` is set.

Gauges are read from the daemon's status snapshot (observe/schema.py) at scrape
time, taken on the event loop, so a scrape never sees a half-updated state.
Counters and the check-latency histograms are updated as things happen. The
names, types, units and labels follow the Prometheus naming conventions
(docs/observability.md lists them, with the renames from earlier releases).

The port is reachable by every local user, so it is served within fixed bounds
(`LIMITS`, see `ldirectord_py.observe.clients`): on the event loop, no thread per
connection, at most a few clients at a time, a request head of at most 8 KiB
within 5 s, one response per connection. The text itself is rendered in a
thread, one scrape at a time, so a big configuration does not stop the loop.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.engine.events import Event, FallbackChanged, RealChanged, RealState
from ldirectord_py.observe.clients import BoundedListener, ClientLimits, Outcome, receive, send
from ldirectord_py.observe.schema import (
    StatusSnapshot,
    VipState,
    VirtualSnapshot,
)
from ldirectord_py.offloop import in_thread

SCRAPE_TIMEOUT = 5.0
"""How long rendering one scrape may take (off the loop)."""
LIMITS = ClientLimits(max_clients=4, idle_timeout=5.0, write_timeout=10.0, max_request=8 * 1024)
LISTEN_BACKLOG = 16
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` (raises ValueError naming the problem)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected host:port with a port 1-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


class Metrics:
    """The daemon's metrics and their exporter."""

    def __init__(
        self,
        snapshot: Callable[[], StatusSnapshot],
        fresh: Callable[[], Awaitable[StatusSnapshot]] | None = None,
    ) -> None:
        """`snapshot` is the status snapshot; `fresh`, if given, the same brought
        up to date without blocking the loop (preferred at scrape time)."""
        # `_created` series double every counter and histogram for a timestamp that
        # ldirectord_start_time_seconds already gives.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self._snapshot = snapshot
        self._fresh = fresh
        self._document: StatusSnapshot | None = None
        """The status snapshot of the scrape being rendered (None: none, or it failed)."""
        self._rendering = asyncio.Lock()
        self._listener: BoundedListener | None = None
        self.check_latency = Histogram(
            "ldirectord_check_duration_seconds",
            "Duration of health checks.",
            ["checktype"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.check_failures = Counter(
            "ldirectord_check_failures_total",
            "Failed health checks, by kind of failure.",
            ["checktype", "reason"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "ldirectord_real_transitions_total",
            "Reals going up or down.",
            ["virtual", "to"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "ldirectord_fallback_activations_total",
            "Times a virtual's fallback server or fallbackcommand took over.",
            ["virtual"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "ldirectord_config_reloads_total",
            "Configuration reloads, by result.",
            ["result"],
            registry=self.registry,
        )
        self.registry.register(_StatusCollector(self._scrape_snapshot))

    def observe(self, event: Event) -> None:
        """Count what the engine says happened: reals going up or down, fallbacks
        taking over (labelled with the virtual's identity, as the gauges are)."""
        match event:
            case RealChanged(new=RealState.UP):
                self.transitions.labels(event.virtual, "up").inc()
            case RealChanged(new=RealState.DOWN):
                self.transitions.labels(event.virtual, "down").inc()
            case FallbackChanged(active=True):
                self.fallbacks.labels(event.virtual).inc()

    def observe_check(self, checktype: str, ok: bool, latency: float, kind: FailureKind) -> None:
        """One check's latency, and its failure by the kind its result carries."""
        self.check_latency.labels(checktype).observe(latency)
        if not ok:
            self.check_failures.labels(checktype, kind.value).inc()

    def serve(self, address: str) -> None:
        """Start the exporter on `address` (raises ValueError or OSError)."""
        host, port = parse_address(address)
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(LISTEN_BACKLOG)
        except OSError:
            sock.close()
            raise
        self._listener = BoundedListener(sock, LIMITS, self._serve_client)
        self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.abort()
            self._listener = None

    def _scrape_snapshot(self) -> StatusSnapshot | None:
        """The status snapshot of the scrape being rendered (None before any)."""
        return self._document

    def _zero_series(self, snapshot: StatusSnapshot) -> None:
        """Every labelled counter's series exists from the start (at zero), for
        the virtuals and check types configured now; those of virtuals a reload
        removed are dropped, so the label sets stay bounded by the config."""
        names = {v.virtual for v in snapshot.virtuals}
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        checktypes = set()
        for virtual in snapshot.virtuals:
            for to in ("up", "down"):
                self.transitions.labels(virtual.virtual, to)
            if virtual.fallback:
                self.fallbacks.labels(virtual.virtual)
            if virtual.checktype and virtual.checktype not in UNCHECKED:
                checktypes.add(virtual.checktype)
        for checktype in checktypes:
            self.check_latency.labels(checktype)
            for kind in REASON_LABELS:
                self.check_failures.labels(checktype, kind)
        for counter in (self.transitions, self.fallbacks):
            for labels in _label_sets(counter):
                if labels[0] not in names:
                    counter.remove(*labels)

    async def _serve_client(self, conn: socket.socket) -> None:
        request = await receive(conn, LIMITS, b"\r\n\r\n")
        if request.outcome is Outcome.TOO_LARGE:
            await send(conn, _response(431, "request head too large\n"), LIMITS)
            return
        if request.outcome is not Outcome.COMPLETE:
            return  # nothing (complete) was asked within the limits
        head = request.data.decode("latin-1").split("\r\n")
        parts = head[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            await send(conn, _response(400, "bad request\n"), LIMITS)
            return
        method, target, _version = parts
        if method not in ("GET", "HEAD"):
            await send(conn, _response(405, "only GET and HEAD\n"), LIMITS)
            return
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        params = parse_qs(urlsplit(target).query)
        try:
            body, content_type, gzipped = await self.render(
                headers.get("accept", ""), headers.get("accept-encoding", ""), params
            )
        except TimeoutError:
            await send(conn, _response(503, "rendering the metrics took too long\n"), LIMITS)
            return
        extra = [("Content-Type", content_type)]
        if gzipped:
            extra.append(("Content-Encoding", "gzip"))
        await send(conn, _response(200, body, extra, head_only=method == "HEAD"), LIMITS)

    async def render(
        self, accept: str, accept_encoding: str, params: Mapping[str, list[str]]
    ) -> tuple[bytes, str, bool]:
        """(body, content type, gzipped) of one scrape, as prometheus_client's own
        exporter answers (format by Accept, `name[]` filter, gzip on request)."""
        async with self._rendering:
            document: StatusSnapshot | None
            try:
                if self._fresh is not None:
                    document = await self._fresh()
                else:
                    document = self._snapshot()
                self._zero_series(document)
            except Exception:
                document = None  # ldirectord_up 0: the scrape could not read the daemon
            self._document = document
            encoder, content_type = choose_encoder(accept)
            registry: Any = self.registry
            if "name[]" in params:
                registry = registry.restricted_registry(params["name[]"])
            compress = _gzip_accepted(accept_encoding)

            def work() -> bytes:
                output: bytes = encoder(registry)
                return gzip.compress(output) if compress else output

            try:
                body = await in_thread(work, SCRAPE_TIMEOUT, "ldirectord-metrics")
            finally:
                self._document = None
            return body, content_type, compress


_REASONS = {
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def _response(
    status: int,
    body: bytes | str,
    headers: list[tuple[str, str]] | None = None,
    *,
    head_only: bool = False,
) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
    for name, value in headers or [("Content-Type", "text/plain; charset=utf-8")]:
        lines.append(f"{name}: {value}")
    lines += [f"Content-Length: {len(data)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + (b"" if head_only else data)


def _gzip_accepted(accept_encoding: str) -> bool:
    return any(part.split(";")[0].strip().lower() == "gzip" for part in accept_encoding.split(","))


RELOAD_RESULTS = ("ok", "failed")
UNCHECKED = ("on", "off")
"""Check types that run no check (no latency, no failures)."""
REASON_LABELS = tuple(kind.value for kind in FailureKind if kind is not FailureKind.NONE)
"""The closed set of `reason` label values: every FailureKind but a success."""


def _label_sets(counter: Counter) -> list[tuple[str, ...]]:
    """The label values of every series a labelled counter has now."""
    return [
        tuple(sample.labels[name] for name in counter._labelnames)
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    ]


class _StatusCollector(Collector):
    def __init__(self, snapshot: Callable[[], StatusSnapshot | None]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(_families(self._snapshot()))


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    """A counter family; `name` without `_total` (the exposition adds it)."""
    return CounterMetricFamily(name, doc, labels=labels or [])


def _flag(value: bool) -> int:
    return 1 if value else 0


def _families(status: StatusSnapshot | None) -> Iterator[Metric]:
    up = _gauge("ldirectord_up", "1 when the daemon answered this scrape from its event loop.")
    up.add_metric([], _flag(status is not None))
    yield up
    if status is None:
        return
    info = _gauge(
        "ldirectord_build_info", "Always 1: the version running, as labels.", ["version", "python"]
    )
    info.add_metric([status.build.version, status.build.python], 1)
    yield info
    if status.started_at is not None:
        started = _gauge("ldirectord_start_time_seconds", "When the daemon started (Unix time).")
        started.add_metric([], status.started_at)
        yield started
    yield from _reload_families(status)
    yield from _real_families(status.virtuals)
    yield from _dataplane_families(status)
    yield from _anycast_families(status)


def _reload_families(status: StatusSnapshot) -> Iterator[Metric]:
    reload = status.last_reload
    successful = _gauge(
        "ldirectord_config_last_reload_successful",
        "1 when the last configuration reload applied (1 before any reload).",
    )
    successful.add_metric([], _flag(reload is None or reload.ok))
    yield successful
    success_at = status.started_at
    if reload is not None and reload.ok:
        success_at = reload.at
    elif reload is not None and reload.last_success_at is not None:
        success_at = reload.last_success_at
    if success_at is not None:
        stamp = _gauge(
            "ldirectord_config_last_reload_success_timestamp_seconds",
            "When the configuration last loaded successfully (start or reload; Unix time).",
        )
        stamp.add_metric([], success_at)
        yield stamp


def _real_families(virtuals: Iterable[VirtualSnapshot]) -> Iterator[Metric]:
    labels = ["virtual", "real"]
    real_up = _gauge("ldirectord_real_up", "1 while the real's checks pass, else 0.", labels)
    state = _gauge(
        "ldirectord_real_state",
        "1 for the real's state (up, down, unknown: not decided yet), 0 for the others.",
        [*labels, "state"],
    )
    weight = _gauge(
        "ldirectord_real_weight",
        "Weight the real has (or is about to have) in the table: 0 quiesced or drained; "
        "absent while it is not in the table.",
        labels,
    )
    programmed = _gauge(
        "ldirectord_real_programmed_weight",
        "Weight the kernel holds for the real (ip_vs writer's last attempt); absent: not there.",
        labels,
    )
    failures = _gauge(
        "ldirectord_real_consecutive_failures",
        "Failed checks in a row, counted from the first failure (0 after a success).",
        labels,
    )
    reals_up = _gauge("ldirectord_virtual_reals_up", "Reals up per virtual.", ["virtual"])
    reals = _gauge("ldirectord_virtual_reals", "Reals configured per virtual.", ["virtual"])
    drained = _gauge(
        "ldirectord_virtual_reals_drained",
        "Reals drained by an operator per virtual (weight 0 whatever their checks say).",
        ["virtual"],
    )
    fallback = _gauge(
        "ldirectord_virtual_fallback_active", "1 while the fallback serves.", ["virtual"]
    )
    for virtual in virtuals:
        name = virtual.virtual
        for real in virtual.reals:
            key = [name, real.real]
            real_up.add_metric(key, _flag(real.state is RealState.UP))
            for value in RealState:
                state.add_metric([*key, value.value], _flag(real.state is value))
            if real.weight is not None:
                weight.add_metric(key, real.weight)
            if real.programmed_weight is not None:
                programmed.add_metric(key, real.programmed_weight)
            failures.add_metric(key, real.failures)
        reals_up.add_metric([name], virtual.reals_up)
        reals.add_metric([name], len(virtual.reals))
        drained.add_metric([name], sum(real.drained for real in virtual.reals))
        fallback.add_metric([name], _flag(virtual.fallback_active))
    yield from (real_up, state, weight, programmed, failures, reals_up, reals, drained, fallback)


def _dataplane_families(status: StatusSnapshot) -> Iterator[Metric]:
    plane = status.dataplane
    converged = _gauge("ldirectord_ipvs_converged", "1 when ip_vs holds the desired table.")
    converged.add_metric([], _flag(plane.converged))
    available = _gauge("ldirectord_ipvs_available", "1 while ip_vs can be used at all.")
    available.add_metric([], _flag(plane.available))
    yield from (converged, available)
    for key, value, doc in (
        ("operations", plane.operations, "ip_vs changes applied."),
        ("errors", plane.errors, "ip_vs operations or reconciles that failed."),
        ("reconciles", plane.reconciles, "ip_vs reconciles run."),
    ):
        family = _counter(f"ldirectord_ipvs_{key}", doc)
        family.add_metric([], value)
        yield family
    refused = _gauge(
        "ldirectord_ipvs_service_refused",
        "1 while the kernel refuses the virtual's ip_vs service, else 0.",
        ["service"],
    )
    services = sorted({v.service for v in status.virtuals if v.service} | set(plane.refused))
    for service in services:
        refused.add_metric([service], _flag(service in plane.refused))
    yield refused
    crashes = _counter(
        "ldirectord_writer_crashes",
        "Unexpected failures per writer, each restarted.",
        ["writer"],
    )
    stalled_writer = _gauge(
        "ldirectord_writer_stalled", "1 while a writer makes no progress.", ["writer"]
    )
    names = {"ipvs"} | set(status.writers)
    if status.anycast.enabled:
        names.add("interfaces")
        if status.anycast.gobgp is not None:
            names.add("routes")
    for name in sorted(names):
        health = status.writers.get(name)
        crashes.add_metric([name], health.crashes if health else 0)
        stalled_writer.add_metric([name], _flag(health is not None and health.stalled))
    yield from (crashes, stalled_writer)
    stalled = _gauge("ldirectord_checker_stalled", "1 when no check completed for too long.")
    stalled.add_metric([], _flag(status.watchdog.stalled))
    yield stalled


def _anycast_families(status: StatusSnapshot) -> Iterator[Metric]:
    anycast = status.anycast
    if not anycast.enabled:
        return
    announced = _gauge(
        "ldirectord_anycast_route_announced",
        "1 while a route for the VIP is announced (in full or de-preferred), else 0.",
        ["vip"],
    )
    vip_state = _gauge(
        "ldirectord_anycast_vip_state",
        "1 for the VIP's route state, 0 for the others.",
        ["vip", "state"],
    )
    guarded = _gauge(
        "ldirectord_anycast_vip_guarded",
        "1 while the max-withdraw guard keeps the VIP's route although its health says withdraw.",
        ["vip"],
    )
    maintenance = _gauge(
        "ldirectord_anycast_vip_maintenance",
        "1 while the VIP is in planned maintenance (ldirectordctl maintenance on).",
        ["vip"],
    )
    for vip in anycast.vips:
        announced.add_metric(
            [vip.vip], _flag(vip.state in (VipState.ANNOUNCED, VipState.DEPREFERRED))
        )
        for value in VipState:
            vip_state.add_metric([vip.vip, value.value], _flag(vip.state is value))
        guarded.add_metric([vip.vip], _flag(vip.guarded))
        maintenance.add_metric([vip.vip], _flag(vip.maintenance))
    yield from (announced, vip_state, guarded, maintenance)
    interfaces = anycast.interfaces
    if interfaces is not None:
        converged = _gauge(
            "ldirectord_anycast_addresses_converged",
            "1 when the interfaces carry exactly the VIP addresses wanted.",
        )
        converged.add_metric([], _flag(interfaces.converged))
        yield converged
    gobgp = anycast.gobgp
    if gobgp is None:
        return
    connected = _gauge("ldirectord_gobgp_connected", "1 while the gRPC session to GoBGP works.")
    connected.add_metric([], _flag(gobgp.connected))
    routes = _gauge(
        "ldirectord_gobgp_routes_converged", "1 when GoBGP holds exactly the routes wanted."
    )
    routes.add_metric([], _flag(gobgp.converged))
    major = _gauge("ldirectord_gobgp_api_major", "GoBGP API in use: 3 or 4 (0: none).")
    major.add_metric([], gobgp.api_major)
    no_api = _gauge("ldirectord_gobgp_no_api", "1 while GoBGP answers neither API.")
    no_api.add_metric([], _flag(gobgp.no_api))
    peers = _gauge("ldirectord_gobgp_peer_up", "1 when the BGP session is established.", ["peer"])
    for peer in gobgp.peers:
        peers.add_metric([peer.address], _flag(peer.established))
    yield from (connected, routes, major, no_api, peers)
