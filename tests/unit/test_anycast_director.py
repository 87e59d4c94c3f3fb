"""The daemon's anycast wiring: the real director, real checks on loopback, an
in-memory kernel, and recording route writers (the real ones: tests/integration/routing
and tests/kernel). What a user checks: a route appears only once the pool is
programmed and a real is up, goes when the last real dies, comes back, and is
withdrawn before the pools are removed on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from ldirectord_py.config import parse_text
from ldirectord_py.daemon.anycast import AnycastCoordinator, Network
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.ipvs.model import Table
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSUnavailable
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.schema import GoBGPSnapshot, InterfacesSnapshot
from ldirectord_py.routing.model import Route

from .config.conftest import RESOLVER
from .test_checking_director import Kernel, Lines, eventually, free_port, http_backend, run

VIP = "198.51.100.10/32"


class Recorder:
    """Stands in for both writers; keeps what it was asked, in order."""

    def __init__(self, events: list[str], kernel: Kernel | None = None) -> None:
        self.events = events
        self.kernel = kernel
        self.routes: dict[str, Route] = {}
        self.undecided: set[str] = set()
        """As a route writer: the VIPs whose held route must be kept as it is."""
        self.addresses: dict[str, set[str]] = {}
        self.target: str | None = None
        self.prefixes: Sequence[Network] = ()
        self.hold_addresses = False
        """As an interface writer: pretend the addresses are not in place yet."""
        self.unread = False
        """As an interface writer: pretend not to have read the interfaces yet."""

    def start(self) -> None:
        self.events.append("start")

    def submit(self, desired: Mapping[Any, Any], *, undecided: Collection[Any] = ()) -> None:
        if all(isinstance(v, Route) for v in desired.values()):
            self.routes = {str(k): v for k, v in desired.items()}
            self.undecided = {str(p) for p in undecided}
            self.events.append(f"routes {sorted(self.routes)} undecided {sorted(self.undecided)}")
        else:
            self.addresses = {k: {str(p) for p in v} for k, v in desired.items()}

    async def converge_now(self, timeout: float) -> bool:
        return True

    async def stop(self, *, withdraw: bool = False, remove: bool = False) -> None:
        services = len(self.kernel.read_table().services) if self.kernel else -1
        self.events.append(f"stop withdraw={withdraw or remove} services={services}")

    def _actual(self) -> dict[str, list[str]]:
        if self.unread:
            return {}
        return {k: [] if self.hold_addresses else sorted(v) for k, v in self.addresses.items()}

    def snapshot(self) -> Any:
        if self.target is not None:  # the route writer
            return GoBGPSnapshot(connected=True, target=self.target)
        actual = {k: tuple(v) for k, v in self._actual().items()}
        return InterfacesSnapshot(actual=actual)

    def present(self) -> frozenset[Any]:
        return frozenset(ip_network(a) for vips in self._actual().values() for a in vips)

    def read_interfaces(self) -> frozenset[str]:
        return frozenset(self._actual())

    def errors(self) -> dict[str, str]:
        return {}


def _config(tmp_path: Path, port: int, extra: str = "") -> Any:
    return parse_text(
        "checkinterval=1\nnegotiatetimeout=1\nanycastprefix=198.51.100.0/24\n"
        f"gobgpapi=127.0.0.1:50099\n{extra}"
        "virtual=198.51.100.10:80\n"
        f"\treal=127.0.0.31:{port} gate\n"
        '\tservice=http\n\trequest="/"\n\treceive="OK"\n',
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )


def _director(lines: Lines, kernel_factory: Any, events: list[str], kernel: Kernel | None):
    routes = Recorder(events, kernel)
    interfaces = Recorder([], None)

    def route_factory(target: str, prefixes: Sequence[Network], log: Any, version: str) -> Recorder:
        routes.target, routes.prefixes = target, prefixes
        return routes

    coordinator = AnycastCoordinator(
        Log(lines),
        route_writer_factory=route_factory,
        interface_writer_factory=lambda log, prefixes: interfaces,
    )
    director = CheckingDirector(
        Log(lines), ipvs_factory=lambda: AsyncIPVS(kernel_factory), anycast=coordinator
    )
    return director, routes, interfaces


def test_route_follows_the_pool_and_goes_first_on_stop(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    kernel = Kernel(Table(()))
    lines = Lines()
    events: list[str] = []
    director, routes, interfaces = _director(lines, lambda: kernel, events, kernel)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        assert routes.target == "127.0.0.1:50099"
        assert [str(p) for p in routes.prefixes] == ["198.51.100.0/24"]
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        # announced only with the service programmed and the real in it
        assert len(kernel.read_table().services) == 1
        assert interfaces.addresses == {"lo": {VIP}}
        status = director.status()["anycast"]
        assert [(v["vip"], v["state"]) for v in status["vips"]] == [(VIP, "announced")]
        server.close()
        await server.wait_closed()
        await eventually(lambda: VIP not in routes.routes, what=lambda: (events, lines.lines))
        server = await http_backend("127.0.0.31", port)
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        await director.stop()
        server.close()

    run(scenario)
    assert events[0] == "start"
    # collapsed: nothing (the VIP undecided: a route GoBGP holds for it is kept
    # as it is), announced, withdrawn (decided: no longer kept), announced
    sets = [e for e in events if e.startswith("routes")]
    collapsed = [e for i, e in enumerate(sets) if i == 0 or sets[i - 1] != e]
    assert collapsed == [
        f"routes [] undecided ['{VIP}']",
        f"routes ['{VIP}'] undecided []",
        "routes [] undecided []",
        f"routes ['{VIP}'] undecided []",
    ]
    # withdrawn while the pool was still in the kernel, then the pool removed
    assert events[-1] == "stop withdraw=True services=1"
    assert not kernel.read_table().services
    text = "\n".join(lines.lines)
    assert f"Anycast {VIP}: withdrawn" in text


def test_anycaststop_keep_leaves_the_route(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    kernel = Kernel(Table(()))
    events: list[str] = []
    director, routes, _ = _director(Lines(), lambda: kernel, events, kernel)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port, "anycaststop=keep\n"))
        await eventually(lambda: VIP in routes.routes)
        await director.stop()
        server.close()

    run(scenario)
    assert events[-1] == "stop withdraw=False services=1"


def test_nothing_is_announced_without_ip_vs(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    lines = Lines()
    events: list[str] = []

    def unavailable() -> Kernel:
        raise IPVSUnavailable()

    director, routes, _ = _director(lines, unavailable, events, None)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: director.status()["virtuals"][0]["reals"][0]["state"] == "up")
        await asyncio.sleep(0.3)
        assert routes.routes == {}
        (vip,) = director.status()["anycast"]["vips"]
        assert vip["state"] == "withdrawn" and "dataplane" in vip["reason"]
        await director.stop()
        server.close()

    run(scenario)


def test_a_config_without_anycast_starts_no_writer(tmp_path: Path) -> None:
    kernel = Kernel(Table(()))
    events: list[str] = []
    director, _routes, _ = _director(Lines(), lambda: kernel, events, kernel)
    config = parse_text(
        "virtual=127.0.0.100:80\n\treal=127.0.0.23:80 gate\n\tchecktype=on\n",
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )

    async def scenario() -> None:
        await director.start(config)
        await asyncio.sleep(0.2)
        assert director.status()["anycast"] == {"enabled": False}
        await director.stop()

    run(scenario)
    assert events == []


def test_drain_sets_weight_zero_and_undrain_restores(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    kernel = Kernel(Table(()))
    director, _, _ = _director(Lines(), lambda: kernel, [], kernel)
    director.use_state_file(str(tmp_path / "drained"))

    def weights() -> list[int]:
        return [d.weight for s in kernel.read_table().services for d in s.destinations]

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: weights() == [1])
        reply = await director.command("drain", {"real": f"127.0.0.31:{port}"})
        assert reply["ok"] and "drained (weight 0) in TCP 198.51.100.10:80" in reply["message"]
        await eventually(lambda: weights() == [0])
        real = director.status()["virtuals"][0]["reals"][0]
        assert (real["weight"], real["drained"], real["state"]) == (0, True, "up")
        assert (tmp_path / "drained").exists()
        reply = await director.command("undrain", {"real": f"127.0.0.31:{port}"})
        assert reply["ok"]
        await eventually(lambda: weights() == [1])
        bad = await director.command("drain", {"real": "web1"})
        assert not bad["ok"] and "not an IP address" in bad["error"]
        now = await director.command("check-now", {})
        assert now["ok"] and now["up"] == 1
        await director.stop()
        server.close()

    run(scenario)


def test_a_stalled_checker_is_logged_and_reported(tmp_path: Path) -> None:
    kernel = Kernel(Table(()))
    lines = Lines()
    director, _, _ = _director(lines, lambda: kernel, [], kernel)
    config = parse_text(
        "checkinterval=1\nchecktimeout=1\nvirtual=127.0.0.100:80\n\treal=127.0.0.23:80 gate\n",
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )

    async def never(spec: object, combined: object) -> object:
        await asyncio.Event().wait()  # a checker that never completes a check
        raise AssertionError

    director._run = never  # type: ignore[method-assign,assignment]

    async def scenario() -> None:
        await director.start(config)
        await eventually(lambda: director.status()["watchdog"]["stalled"], timeout=15)
        assert director.status()["watchdog"]["limit"] == 3.0
        await director.stop()

    run(scenario)
    assert any("Health checks stalled: no check has completed for" in line for line in lines.lines)


def test_no_route_before_the_vip_address_is_on_its_interface(tmp_path: Path) -> None:
    """A router sends traffic as soon as the route arrives: the director must
    already hold the VIP (reported by the demo lab, where adding the address
    took seconds in the emulated guest)."""
    port = free_port("127.0.0.31")
    kernel = Kernel(Table(()))
    events: list[str] = []
    director, routes, interfaces = _director(Lines(), lambda: kernel, events, kernel)
    interfaces.hold_addresses = True

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: director.status()["anycast"]["vips"][0]["state"] == "announced")
        await asyncio.sleep(0.5)
        assert routes.routes == {}  # decided, but the address is not there yet
        assert routes.undecided == set()  # a route GoBGP holds for it is withdrawn
        assert interfaces.addresses == {"lo": {VIP}}
        interfaces.hold_addresses = False  # the address lands
        await eventually(lambda: VIP in routes.routes, timeout=15)
        await director.stop()
        server.close()

    run(scenario)


def test_a_route_is_kept_as_it_is_until_the_interface_has_been_read(tmp_path: Path) -> None:
    """Restart after SIGKILL: the VIP is decided before the new interface writer
    has read lo. Whether the address is there is not known yet: a route GoBGP
    still holds for it is kept as it is (no flap), and adopted once the address
    is seen; if the interface turns out to lack it, the route is no longer kept."""
    port = free_port("127.0.0.31")
    kernel = Kernel(Table(()))
    events: list[str] = []
    director, routes, interfaces = _director(Lines(), lambda: kernel, events, kernel)
    interfaces.unread = True

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: director.status()["anycast"]["vips"][0]["state"] == "announced")
        await asyncio.sleep(0.3)
        assert (routes.routes, routes.undecided) == ({}, {VIP})
        interfaces.hold_addresses, interfaces.unread = True, False  # read: no address
        await eventually(lambda: routes.undecided == set(), timeout=15)
        assert routes.routes == {}
        interfaces.hold_addresses = False  # the address lands
        await eventually(lambda: VIP in routes.routes, timeout=15)
        await director.stop()
        server.close()

    run(scenario)


def test_nothing_to_check_is_not_a_stall(tmp_path: Path) -> None:
    """Only checktype=on reals: no check ever completes, and that is no stall (the
    systemd watchdog must not restart a healthy daemon)."""
    kernel = Kernel(Table(()))
    lines = Lines()
    director, _, _ = _director(lines, lambda: kernel, [], kernel)
    config = parse_text(
        "checkinterval=1\nchecktimeout=1\nvirtual=127.0.0.100:80\n"
        "\treal=127.0.0.23:80 gate\n\tchecktype=on\n",
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )

    async def scenario() -> None:
        await director.start(config)
        await asyncio.sleep(4.5)  # past the 3 s limit of checkinterval=1, checktimeout=1
        status = director.status()
        assert status["watchdog"]["stalled"] is False
        assert status["last_result_at"] is not None
        await director.stop()

    run(scenario)
    assert not any("stalled" in line for line in lines.lines)


def test_reload_changing_v4_and_v6_prefixes_keeps_the_writer_going(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    kernel = Kernel(Table(()))
    events: list[str] = []
    director, routes, interfaces = _director(Lines(), lambda: kernel, events, kernel)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port, "anycastprefix=2001:db8::/32\n"))
        await eventually(lambda: VIP in routes.routes)
        await director.reload(_config(tmp_path, port, "anycastprefix=203.0.113.0/24\n"))
        assert [str(p) for p in interfaces.prefixes] == ["198.51.100.0/24", "203.0.113.0/24"]
        await eventually(lambda: VIP in routes.routes)
        await director.stop()
        server.close()

    run(scenario)
    # same GoBGP, other prefixes: the old writer kept the routes (no withdraw) and
    # a new one took over
    assert "stop withdraw=False services=1" in events


def test_a_vip_is_undecided_until_its_first_check_round_then_decided_down(
    tmp_path: Path,
) -> None:
    """While the first check round runs, the route writer is told the VIP is
    undecided (a route GoBGP still holds from a previous run is kept as it is);
    once its only real is found down, it is decided: withdrawn, no longer kept."""
    port = free_port("127.0.0.31")  # nothing listens: the real is down
    kernel = Kernel(Table(()))
    lines = Lines()
    events: list[str] = []
    director, routes, _ = _director(lines, lambda: kernel, events, kernel)

    async def scenario() -> None:
        await director.start(_config(tmp_path, port))
        await eventually(
            lambda: director.status()["anycast"]["vips"][0]["state"] == "withdrawn",
            what=lambda: (events, lines.lines),
        )
        await asyncio.sleep(0.2)
        assert (routes.routes, routes.undecided) == ({}, set())
        await director.stop()

    run(scenario)
    sets = [e for e in events if e.startswith("routes")]
    collapsed = [e for i, e in enumerate(sets) if i == 0 or sets[i - 1] != e]
    assert collapsed == [f"routes [] undecided ['{VIP}']", "routes [] undecided []"]
