"""Planned maintenance of a site (`ldirectordctl maintenance on|off`) and the wait
for traffic to move on stop: the pure layer over the anycast policy, the
connection-table watch, the VIP checks, and the whole director with an in-memory
kernel, recording route writers and a scripted connection table (the real
kernel: tests/kernel/test_planned_maintenance_kernel.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ldirectord_py.cli import ctl
from ldirectord_py.config import parse_text
from ldirectord_py.config.model import AnycastDown
from ldirectord_py.daemon.anycast import AnycastCoordinator
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.daemon.planned_maintenance import (
    MaintenanceControl,
    MaintenanceRefused,
    MaintenanceStore,
    resolve_vips,
    wait_until_quiet,
)
from ldirectord_py.engine.planned_maintenance import PlannedMaintenance, down_route, vip_settings
from ldirectord_py.ipvs.connections import Connection
from ldirectord_py.ipvs.model import Table
from ldirectord_py.ipvs.quiescence import QuiescenceWatch
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.metrics import _families
from ldirectord_py.routing.model import AnycastDesired, Route, VipDecision, host_prefix

from .config.conftest import RESOLVER
from .test_anycast_director import VIP, _director
from .test_checking_director import Kernel, Lines, eventually, free_port, http_backend, run

P = host_prefix("198.51.100.10")


def _cfg(text: str, path: str = "/etc/ha.d/t.cf") -> Any:
    return parse_text(text, path, resolver=RESOLVER, check_files=False)


ANYCAST = (
    "anycastprefix=198.51.100.0/24\n"
    "virtual=198.51.100.10:80\n\treal=127.0.0.31:80 gate\n"
    "virtual=198.51.100.11:80\n\treal=127.0.0.31:80 gate\n"
    "virtual=192.0.2.50:80\n\treal=127.0.0.31:80 gate\n"
)


# ---------------------------------------------------------------- the pure layer


def _announced(vip: str = "198.51.100.10") -> tuple[tuple[VipDecision, ...], AnycastDesired]:
    prefix = host_prefix(vip)
    decision = VipDecision(prefix, "announced", "198.51.100.10:80 tcp: 1 of 1 reals up", 1.0)
    desired = AnycastDesired(
        routes={prefix: Route(prefix=prefix, origin="igp", med=10)},
        addresses={"lo": frozenset({prefix})},
    )
    return (decision,), desired


@pytest.mark.parametrize("method", ["gobgp", "interface"])
def test_maintenance_withdraws_whatever_the_health(method: str) -> None:
    settings = vip_settings(_cfg(ANYCAST))
    layer = PlannedMaintenance()
    assert layer.begin(P, now=5.0) and not layer.begin(P, now=6.0)
    decisions, desired = layer.apply(*_announced(), settings, method, now=7.0)
    [decision] = decisions
    assert decision.state == "maintenance" and decision.since == 5.0
    assert "route withdrawn" in decision.reason and "health: announced" in decision.reason
    assert P not in desired.routes
    # gobgp: the address stays (the site still serves its connections); interface:
    # the address is the route.
    assert (P in desired.addresses["lo"]) == (method == "gobgp")


def test_maintenance_with_anycastdown_med_keeps_a_less_preferred_route() -> None:
    settings = vip_settings(_cfg("anycastdown=med 1000\n" + ANYCAST))
    layer = PlannedMaintenance()
    layer.begin(P, 0.0)
    [decision], desired = layer.apply(*_announced(), settings, "gobgp", 1.0)
    assert decision.state == "maintenance" and "anycastdown med 1000" in decision.reason
    assert desired.routes[P].med == 1000


def test_off_holds_for_anycastholddown_then_the_policy_decides() -> None:
    settings = vip_settings(_cfg("anycastholddown=30\n" + ANYCAST))
    layer = PlannedMaintenance()
    layer.begin(P, 0.0)
    assert layer.end(P, 100.0, holddown=30) and not layer.end(P, 100.0, holddown=30)
    assert layer.next_wakeup() == 130.0
    [decision], desired = layer.apply(*_announced(), settings, "gobgp", 110.0)
    assert decision.state == "held" and "maintenance ended" in decision.reason
    assert P not in desired.routes
    [decision], desired = layer.apply(*_announced(), settings, "gobgp", 130.0)
    assert decision.state == "announced" and P in desired.routes
    assert layer.next_wakeup() is None


def test_a_route_the_policy_took_away_stays_away() -> None:
    settings = vip_settings(_cfg("anycastdown=med 1000\n" + ANYCAST))
    layer = PlannedMaintenance()
    layer.begin(P, 0.0)
    down = VipDecision(P, "withdrawn", "dataplane unavailable", 1.0)
    [decision], desired = layer.apply((down,), AnycastDesired(), settings, "gobgp", 2.0)
    assert decision.state == "maintenance" and not desired.routes


def test_down_route_forms() -> None:
    full = Route(prefix=P, origin="igp", communities=("65000:1",))
    assert down_route(full, AnycastDown()) is None
    assert down_route(full, AnycastDown("prepend", 3)) == Route(
        prefix=P, origin="igp", communities=("65000:1",), prepend=3
    )
    with_community = down_route(full, AnycastDown("community", community="65000:666"))
    assert with_community is not None and with_community.communities == ("65000:1", "65000:666")


# ---------------------------------------------------------------- the watch


def _conn(port: int, expires: int, state: str = "ESTABLISHED", vip: str = "198.51.100.10") -> Any:
    a = ipaddress.ip_address
    return Connection(
        "TCP", a("203.0.113.2"), port, a(vip), 80, a("192.0.2.18"), 80, state, expires
    )


def test_traffic_stops_when_nothing_new_arrives_and_nothing_moves() -> None:
    watch = QuiescenceWatch(["198.51.100.10"], quiet=2.0, start=0.0)
    watch.sample([_conn(1000, 900)], 0.0)
    assert not watch.stopped(0.0)
    watch.sample([_conn(1000, 899), _conn(1001, 900)], 1.0)  # a new one
    assert not watch.stopped(2.5)
    # 1000 counts down (idle), 1001 keeps getting packets (its timer is reset)
    watch.sample([_conn(1000, 897), _conn(1001, 900)], 3.0)
    activity = watch.activity(3.0)
    assert not watch.stopped(3.0) and activity.active == (
        ("198.51.100.10:80 tcp", "192.0.2.18:80", 1),
    )
    assert "1 connections still carrying packets" in activity.describe()
    # both silent now; a connection to another VIP and a persistence template do not count
    other = [_conn(7, 900, vip="198.51.100.99"), _conn(0, 900)]
    watch.sample([_conn(1000, 895), _conn(1001, 898), *other], 5.0)
    assert not watch.stopped(4.9)
    watch.sample([_conn(1000, 894), _conn(1001, 897, "FIN_WAIT"), *other], 6.0)  # a FIN
    assert not watch.stopped(7.5)
    watch.sample([_conn(1000, 892), _conn(1001, 95, "FIN_WAIT")], 8.0)
    assert watch.stopped(8.0)
    assert (
        watch.activity(8.0).describe() == "no packet to these VIPs; 2 idle or closing entries left"
    )


def test_wait_until_quiet_times_out_and_says_what_moves() -> None:
    clock = [0.0]
    expires = [900]

    async def read() -> tuple[Connection, ...]:
        clock[0] += 0.5
        return (_conn(5, expires[0]),)  # always reset: packets keep coming

    outcome = asyncio.run(
        wait_until_quiet(read, [P], quiet=2.0, timeout=5.0, clock=lambda: clock[0], interval=0)
    )
    assert not outcome.stopped and outcome.waited >= 5.0
    assert outcome.activity is not None and outcome.activity.active

    async def unreadable() -> tuple[Connection, ...]:
        raise FileNotFoundError(2, "No such file or directory", "/proc/net/ip_vs_conn")

    outcome = asyncio.run(wait_until_quiet(unreadable, [P], quiet=1.0, timeout=3.0))
    assert not outcome.stopped and "cannot read ip_vs connections" in str(outcome.error)


# ---------------------------------------------------------------- which VIPs


def test_resolve_vips_and_refusals() -> None:
    config = _cfg(ANYCAST)
    assert resolve_vips(config, []) == [P, host_prefix("198.51.100.11")]
    assert resolve_vips(config, ["198.51.100.11/32", "198.51.100.11"]) == [
        host_prefix("198.51.100.11")
    ]
    cases = {
        "192.0.2.50": "192.0.2.50 is outside every anycastprefix of /etc/ha.d/t.cf "
        "(198.51.100.0/24): not an anycast VIP, refusing",
        "198.51.100.99": "198.51.100.99 is no virtual service's address in /etc/ha.d/t.cf: "
        "unknown VIP (anycast VIPs: 198.51.100.10, 198.51.100.11)",
        "web1": "'web1' is not an IP address",
    }
    for text, message in cases.items():
        with pytest.raises(MaintenanceRefused, match="^" + re.escape(message)):
            resolve_vips(config, [text])
    with pytest.raises(
        MaintenanceRefused, match=r"no anycast configured in /etc/ha\.d/t\.cf \(no anycastprefix\)"
    ):
        resolve_vips(_cfg("virtual=192.0.2.50:80\n\treal=127.0.0.31:80 gate\n"), [])
    with pytest.raises(MaintenanceRefused, match=r"no anycast VIP in /etc/ha\.d/t\.cf"):
        resolve_vips(
            _cfg(
                "anycastprefix=198.51.100.0/24\nvirtual=192.0.2.50:80\n\treal=127.0.0.31:80 gate\n"
            ),
            [],
        )


def test_the_store_survives_and_a_damaged_file_moves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ldirectord.t.cf.maintenance"
    MaintenanceStore(str(path)).save({"198.51.100.10/32": 1700000000.0})
    assert MaintenanceStore(str(path)).vips == {"198.51.100.10/32": 1700000000.0}
    MaintenanceStore(str(path)).save({})
    assert not path.exists()
    path.write_text("[not an object")
    damaged = MaintenanceStore(str(path))
    assert damaged.vips == {} and "ignored" in str(damaged.load_error)


# ---------------------------------------------------------------- the whole director


class Traffic:
    """A scripted connection table: `busy` keeps one connection getting packets."""

    def __init__(self, events: list[str], kernel: Kernel) -> None:
        self.busy = False
        self.events = events
        self.kernel = kernel
        self.reads = 0

    async def read(self) -> tuple[Connection, ...]:
        self.reads += 1
        self.events.append(f"read services={len(self.kernel.read_table().services)}")
        return (_conn(4000, 900),) if self.busy else ()


def _config(tmp_path: Path, port: int, extra: str = "") -> Any:
    return parse_text(
        "checkinterval=1\nnegotiatetimeout=1\nanycastprefix=198.51.100.0/24\n"
        f"gobgpapi=127.0.0.1:50099\n{extra}"
        f"virtual=198.51.100.10:80\n\treal=127.0.0.31:{port} gate\n"
        '\tservice=http\n\trequest="/"\n\treceive="OK"\n',
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )


def _setup(tmp_path: Path) -> tuple[CheckingDirector, Any, list[str], Kernel, Traffic, Lines]:
    kernel = Kernel(Table(()))
    lines = Lines()
    events: list[str] = []
    director, routes, _ = _director(lines, lambda: kernel, events, kernel)
    traffic = Traffic(events, kernel)
    director.planned.read = traffic.read
    director.planned.quiet = 1.2
    director.planned.stop_quiet = 1.2
    director.use_state_file(str(tmp_path / "ldirectord.t.cf.drained"))
    return director, routes, events, kernel, traffic, lines


def _state(director: CheckingDirector) -> str:
    [vip] = director.status()["anycast"]["vips"]
    return str(vip["state"])


def test_on_drains_off_announces_and_status_and_metrics_say_so(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    director, routes, events, _kernel, traffic, lines = _setup(tmp_path)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        reply = await director.command("maintenance", {"action": "on", "vips": [], "timeout": 5})
        assert reply["ok"] and reply["drained"], reply
        assert f"{VIP}: in maintenance (route withdrawn)" in reply["message"]
        assert "drained: safe to stop the backends" in reply["message"]
        assert VIP not in routes.routes and _state(director) == "maintenance"
        status = director.status()
        assert list(status["planned_maintenance"]["vips"]) == [VIP]
        metrics = {f.name: f for f in _families(director.snapshot())}
        [sample] = metrics["ldirectord_anycast_vip_maintenance"].samples
        assert sample.labels == {"vip": VIP} and sample.value == 1
        # health changes nothing while in maintenance
        await asyncio.sleep(1.2)
        assert VIP not in routes.routes
        again = await director.command("maintenance", {"action": "on", "vips": ["198.51.100.10"]})
        assert again["ok"]
        reply = await director.command("maintenance", {"action": "off", "vips": []})
        assert reply["ok"] and f"{VIP}: out of maintenance: announced" in reply["message"]
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        assert _state(director) == "announced"
        assert not (tmp_path / "ldirectord.t.cf.maintenance").exists()
        await director.stop()
        server.close()

    run(scenario)
    assert traffic.reads >= 2
    text = "\n".join(lines.lines)
    assert (
        f"Planned maintenance of {VIP}: on" in text and f"Planned maintenance of {VIP}: off" in text
    )


def test_on_times_out_naming_what_is_still_active(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    director, routes, events, _kernel, traffic, lines = _setup(tmp_path)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        traffic.busy = True
        reply = await director.command("maintenance", {"action": "on", "timeout": 1})
        assert not reply["ok"] and reply["error"] == "not drained"
        assert "not drained after 1 s: 1 connections still carrying packets" in reply["message"]
        assert "198.51.100.10:80 tcp via 192.0.2.18:80: 1" in reply["message"]
        # still in maintenance: the route stays away
        assert _state(director) == "maintenance" and VIP not in routes.routes
        await director.stop()
        server.close()

    run(scenario)


def test_maintenance_survives_reload_and_restart_and_holds_after_off(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    director, routes, events, _kernel, _traffic, lines = _setup(tmp_path)
    config = _config(tmp_path, port, "anycastholddown=1\n")

    async def first() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(config)
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        assert (await director.command("maintenance", {"action": "on", "timeout": 2}))["ok"]
        await director.reload(_config(tmp_path, port, "anycastholddown=1\nchecktimeout=2\n"))
        await asyncio.sleep(1.2)
        assert _state(director) == "maintenance" and VIP not in routes.routes
        await director.stop()
        server.close()

    run(first)
    stored = json.loads((tmp_path / "ldirectord.t.cf.maintenance").read_text())
    assert list(stored) == [VIP]

    # A new daemon on the same state file: the VIP is never announced at start.
    director, routes, events, _kernel, _traffic, lines = _setup(tmp_path)

    async def second() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(config)
        await eventually(lambda: _state(director) == "maintenance", what=lambda: lines.lines)
        await asyncio.sleep(1.5)  # a check round: healthy, still not announced
        assert not any(e.startswith("routes ['") for e in events), events
        reply = await director.command("maintenance", {"action": "off"})
        assert "announced after 1 s (anycastholddown)" in reply["message"]
        await eventually(lambda: _state(director) == "held", what=lambda: lines.lines)
        assert VIP not in routes.routes
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        await director.stop()
        server.close()

    run(second)
    assert "continues (since" in "\n".join(lines.lines)


def test_stop_withdraws_then_waits_for_traffic_then_removes_the_pools(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    director, routes, events, kernel, traffic, lines = _setup(tmp_path)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port, "anycaststopwait=3\n"))
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        traffic.busy = True
        loop = asyncio.get_running_loop()
        loop.call_later(0.6, lambda: setattr(traffic, "busy", False))
        start = loop.time()
        await director.stop()
        assert 0.6 <= loop.time() - start < 3.0
        server.close()

    run(scenario)
    stop = events.index("stop withdraw=True services=1")
    after = events[stop + 1 :]
    # read while the pool was still there, after the withdrawal; then the pool went
    assert after and all(e == "read services=1" for e in after), events
    assert not kernel.read_table().services
    assert "Stop: routes withdrawn, no new connection for 1.2 s" in "\n".join(lines.lines)


@pytest.mark.parametrize(
    ("budget", "logged"),
    [
        (0.0, "the bounded stop leaves no time to wait for traffic to move (anycaststopwait 5 s)"),
        (0.3, "Stop: waiting at most 0.3 s for traffic to move"),
    ],
)
def test_a_stop_whose_withdrawal_used_the_bound_says_so(budget: float, logged: str) -> None:
    """A withdrawal that took most of the bounded stop (a loaded machine) leaves
    less (or no) time to wait: the log says which, it never skips silently."""
    lines = Lines()
    control = MaintenanceControl(Log(lines), AnycastCoordinator(Log(lines)), read=_no_connections)
    config = _cfg("anycaststopwait=5\n" + ANYCAST)
    asyncio.run(control.wait_on_stop(config, budget))
    assert any(logged in line for line in lines.lines), lines.lines


async def _no_connections() -> tuple[Connection, ...]:
    return ()


def test_stop_waits_at_most_anycaststopwait(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    director, routes, events, _kernel, traffic, lines = _setup(tmp_path)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port, "anycaststopwait=1\n"))
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        traffic.busy = True
        start = asyncio.get_running_loop().time()
        await director.stop()
        assert 1.0 <= asyncio.get_running_loop().time() - start < 2.5
        server.close()

    run(scenario)
    assert "(anycaststopwait) and traffic still arrives" in "\n".join(lines.lines)


def test_bad_requests_are_refused_clearly_and_change_nothing(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    director, routes, events, _kernel, _traffic, lines = _setup(tmp_path)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port))
        await eventually(lambda: VIP in routes.routes, what=lambda: (events, lines.lines))
        cases: dict[str, dict[str, Any]] = {
            "is no virtual service's address": {"action": "on", "vips": ["198.51.100.99"]},
            "is outside every anycastprefix": {"action": "on", "vips": ["203.0.113.7"]},
            "is not an IP address": {"action": "on", "vips": ["www"]},
            "expected on or off": {"action": "maybe"},
            "timeout must be": {"action": "on", "timeout": "soon"},
        }
        for words, args in cases.items():
            reply = await director.command("maintenance", args)
            assert not reply["ok"] and words in reply["error"], (args, reply)
        assert _state(director) == "announced" and VIP in routes.routes
        await director.stop()
        server.close()

    run(scenario)


def test_a_config_without_anycast_is_refused(tmp_path: Path) -> None:
    director, _routes, _events, _kernel, _traffic, _lines = _setup(tmp_path)
    config = _cfg("virtual=192.0.2.50:80\n\treal=127.0.0.31:80 gate\n", str(tmp_path / "t.cf"))
    reply = asyncio.run(director.planned.command(config, {"action": "on"}))
    assert not reply["ok"]
    assert reply["error"] == (
        f"maintenance on: no anycast configured in {tmp_path / 't.cf'} (no anycastprefix): "
        "maintenance moves this site's anycast routes away, and there are none"
    )


def test_cli_without_a_daemon_and_with_a_bad_action(tmp_path: Path, monkeypatch: Any) -> None:
    ctl._register()
    runner = CliRunner()
    done = runner.invoke(ctl.cli, ["maintenance", "-c", str(tmp_path / "none.cf"), "on"])
    assert done.exit_code == 1 and "no such socket" in done.output
    done = runner.invoke(ctl.cli, ["maintenance", "sideways"])
    assert done.exit_code == 2 and "'sideways' is not one of 'on', 'off'" in done.output


def test_closing_connections_whose_timer_is_rearmed_are_not_traffic() -> None:
    watch = QuiescenceWatch(["198.51.100.10"], quiet=2.0, start=0.0)
    watch.sample([_conn(1000, 60, "TIME_WAIT")], 0.0)
    watch.sample([_conn(1000, 120, "TIME_WAIT")], 1.5)  # re-armed by the kernel
    watch.sample([_conn(1000, 119, "TIME_WAIT")], 2.5)
    assert watch.stopped(2.5) and watch.activity(2.5).quiet
