"""Prometheus metrics, off unless `metricsaddress = host:port` is set.

Gauges are read from the daemon's status document at scrape time, taken on the
event loop, so a scrape never sees a half-updated state. Counters and the
check-latency histograms are updated as things happen.

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

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ldirectord_py.checks.result import FailureKind, kind_of
from ldirectord_py.daemon.offloop import in_thread
from ldirectord_py.engine.events import Event, FallbackChanged, RealChanged, RealState
from ldirectord_py.observe.clients import BoundedListener, ClientLimits, Outcome, receive, send

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
        snapshot: Callable[[], dict[str, Any]],
        fresh: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        """`snapshot` is the status document; `fresh`, if given, the same brought
        up to date without blocking the loop (preferred at scrape time)."""
        self.registry = CollectorRegistry()
        self._snapshot = snapshot
        self._fresh = fresh
        self._document: dict[str, Any] = {}
        """The status document of the scrape being rendered."""
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

    def observe_check(
        self,
        checktype: str,
        ok: bool,
        reason: str,
        latency: float,
        kind: FailureKind | None = None,
    ) -> None:
        """One check's latency, and its failure by class (`kind`, or the class of
        `reason` where the check set none)."""
        self.check_latency.labels(checktype).observe(latency)
        if not ok:
            label = kind_of(reason) if kind is None else kind
            self.check_failures.labels(checktype, label.value).inc()

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

    def _scrape_snapshot(self) -> dict[str, Any]:
        """The status document of the scrape being rendered ({} before any)."""
        return self._document

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
            try:
                if self._fresh is not None:
                    document = await self._fresh()
                else:
                    document = self._snapshot()
            except Exception as exc:
                document = {"scrape_error": f"{type(exc).__name__}: {exc}"}
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
                self._document = {}
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


class _StatusCollector(Collector):
    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(_families(self._snapshot()))


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def _families(status: dict[str, Any]) -> Iterator[Metric]:
    up = _gauge("ldirectord_up", "1 when the daemon answered this scrape from its event loop.")
    up.add_metric([], 0 if "scrape_error" in status or not status else 1)
    yield up
    real_up = _gauge("ldirectord_real_up", "1 up, 0 down, -1 not decided yet.", ["virtual", "real"])
    weight = _gauge(
        "ldirectord_real_weight", "Weight the real has in the table.", ["virtual", "real"]
    )
    reals_up = _gauge("ldirectord_virtual_reals_up", "Reals up per virtual.", ["virtual"])
    fallback = _gauge(
        "ldirectord_virtual_fallback_active", "1 while the fallback serves.", ["virtual"]
    )
    for virtual in status.get("virtuals") or []:
        name = virtual["virtual"]
        count = 0
        for real in virtual.get("reals") or []:
            state = real.get("state")
            count += state == "up"
            real_up.add_metric([name, real["real"]], {"up": 1, "down": 0}.get(state, -1))
            if real.get("weight") is not None:
                weight.add_metric([name, real["real"]], real["weight"])
        reals_up.add_metric([name], count)
        fallback.add_metric([name], 1 if virtual.get("fallback_active") else 0)
    yield from (real_up, weight, reals_up, fallback)

    plane = status.get("dataplane") or {}
    converged = _gauge("ldirectord_ipvs_converged", "1 when ip_vs holds the desired table.")
    converged.add_metric([], 1 if plane.get("converged") else 0)
    yield converged
    for key, doc in (
        ("operations", "ip_vs changes applied."),
        ("errors", "ip_vs operations or reconciles that failed."),
        ("reconciles", "ip_vs reconciles run."),
    ):
        family = _gauge(f"ldirectord_ipvs_{key}", f"{doc} (since start; a counter)")
        family.add_metric([], plane.get(key) or 0)
        yield family

    refused = _gauge(
        "ldirectord_ipvs_service_refused",
        "1 for each service the kernel refused (ip_vs).",
        ["service"],
    )
    for service in sorted(plane.get("refused") or {}):
        refused.add_metric([service], 1)
    yield refused
    crashes = _gauge(
        "ldirectord_writer_crashes_total",
        "Unexpected failures per writer, each restarted (since start; a counter).",
        ["writer"],
    )
    stalled_writer = _gauge(
        "ldirectord_writer_stalled", "1 while a writer makes no progress.", ["writer"]
    )
    for name, writer in sorted((status.get("writers") or {}).items()):
        crashes.add_metric([name], writer.get("crashes") or 0)
        stalled_writer.add_metric([name], 1 if writer.get("stalled") else 0)
    yield from (crashes, stalled_writer)

    watchdog = status.get("watchdog") or {}
    stalled = _gauge("ldirectord_checker_stalled", "1 when no check completed for too long.")
    stalled.add_metric([], 1 if watchdog.get("stalled") else 0)
    yield stalled

    anycast = status.get("anycast") or {}
    if anycast.get("enabled"):
        announced = _gauge(
            "ldirectord_anycast_route_announced",
            "1 announced, 0.5 de-preferred, 0 withdrawn or undecided.",
            ["vip"],
        )
        for vip in anycast.get("vips") or []:
            value = {"announced": 1.0, "depreferred": 0.5}.get(vip.get("state"), 0.0)
            announced.add_metric([vip["vip"]], value)
        yield announced
        maintenance = _gauge(
            "ldirectord_anycast_vip_maintenance",
            "1 while the VIP is in planned maintenance (ldirectordctl maintenance on).",
            ["vip"],
        )
        for vip in anycast.get("vips") or []:
            maintenance.add_metric([vip["vip"]], 1 if vip.get("maintenance") else 0)
        yield maintenance
        gobgp = anycast.get("gobgp")
        if gobgp is not None:
            connected = _gauge(
                "ldirectord_gobgp_connected", "1 while the gRPC session to GoBGP works."
            )
            connected.add_metric([], 1 if gobgp.get("connected") else 0)
            yield connected
            api = str(gobgp.get("api") or "")
            major = _gauge("ldirectord_gobgp_api_major", "GoBGP API in use: 3 or 4 (0: none).")
            major.add_metric([], int(api[0]) if api[:1] in ("3", "4") else 0)
            yield major
            no_api = _gauge("ldirectord_gobgp_no_api", "1 while GoBGP answers neither API.")
            no_api.add_metric([], 1 if gobgp.get("no_api") else 0)
            yield no_api
            peers = _gauge(
                "ldirectord_gobgp_peer_up", "1 when the BGP session is established.", ["peer"]
            )
            for peer in gobgp.get("peers") or []:
                state = str(peer.get("state", "")).lower()
                peers.add_metric([str(peer.get("address"))], 1 if "established" in state else 0)
            yield peers
