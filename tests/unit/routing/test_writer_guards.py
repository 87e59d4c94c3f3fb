"""RouteWriter's ownership rule and prefix guard, with no daemon."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from ldirectord_py.routing import messages
from ldirectord_py.routing.dialects import V4
from ldirectord_py.routing.model import Route, host_prefix
from ldirectord_py.routing.writer import RouteWriter

PREFIXES = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:ff::/48")]


def make(logs: list[str]) -> RouteWriter:
    return RouteWriter(target="unix:/nonexistent/gobgpd.sock", prefixes=PREFIXES, log=logs.append)


def view(prefix: str, *, learned: bool = False) -> messages.PathView:
    net = ipaddress.ip_network(prefix)
    path = messages.build_path(V4, Route(host_prefix(str(net.network_address))))
    path.nlri.prefix.prefix_len = net.prefixlen
    if learned:
        path.neighbor_ip = "192.0.2.1"
        path.is_from_external = True
    return messages.parse_path(V4, path)


def test_ownership_rule() -> None:
    w = make([])
    assert w.is_ours(view("198.51.100.10/32"))
    assert w.is_ours(view("2001:db8:ff::1/128"))
    assert not w.is_ours(view("198.51.100.10/32", learned=True))  # learned from a peer
    assert not w.is_ours(view("203.0.113.10/32"))  # another tool's, outside our prefixes
    assert not w.is_ours(view("198.51.100.0/24"))  # an aggregate inside them
    assert not w.is_ours(view("2001:db8:fe::1/128"))


def test_submit_refuses_outside_and_logs_once() -> None:
    logs: list[str] = []
    w = make(logs)
    inside, outside = host_prefix("198.51.100.1"), host_prefix("192.0.2.1")
    w.submit({inside: Route(inside), outside: Route(outside)})
    w.submit({inside: Route(inside), outside: Route(outside)})
    assert logs == [
        "route writer: refusing to announce 192.0.2.1/32: outside the anycast prefixes "
        "(198.51.100.0/24, 2001:db8:ff::/48)"
    ]
    status = w.status()
    assert list(status["ours"]) == ["198.51.100.1/32"]
    assert list(status["refused"]) == ["192.0.2.1/32"]
    assert status["connected"] is False


def test_submit_refuses_mismatched_key_and_bad_route() -> None:
    logs: list[str] = []
    w = make(logs)
    a, b = host_prefix("198.51.100.1"), host_prefix("198.51.100.2")
    w.submit({a: Route(b), b: Route(b, next_hop="2001:db8::1")})
    assert w.status()["ours"] == {}
    assert len(logs) == 2 and "not 198.51.100.1/32" in logs[0] and "not IPv4" in logs[1]


def test_unreachable_target_reports_and_stops_in_bounded_time() -> None:
    async def scenario() -> None:
        logs: list[str] = []
        w = make(logs)
        w.start()
        v = host_prefix("198.51.100.1")
        w.submit({v: Route(v)})
        assert not await w.converge_now(0.3)
        st = w.status()
        assert st["connected"] is False
        assert st["last_error"].startswith("GoBGP at unix:/nonexistent/gobgpd.sock: GetBgp failed")
        await asyncio.wait_for(w.stop(withdraw=True), 8)
        assert any("could not withdraw" in line for line in logs)

    asyncio.run(scenario())


class RecordingClient:
    """Stands in for GoBGPClient.list_paths: records what the writer asks for."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int, list[str]]] = []

    async def list_paths(self, version: int, **kw: Any) -> list[messages.PathView]:
        self.asked.append((version, len(kw.get("exact", ())), [str(p) for p in kw["longer"]]))
        return [view("198.51.100.7/32"), view("198.51.100.8/32", learned=True)]


def test_scan_looks_small_prefixes_up_address_by_address() -> None:
    w = make([])
    client = RecordingClient()
    found = asyncio.run(w._scan(client))  # type: ignore[arg-type]
    # The IPv4 /24: its 256 host routes one by one (never a walk of gobgpd's
    # table); the IPv6 /48 is too big to enumerate: one LONGER lookup.
    assert client.asked == [(4, 256, []), (6, 0, ["2001:db8:ff::/48"])]
    assert list(found) == [ipaddress.ip_network("198.51.100.7/32")]  # the learned one is not ours
