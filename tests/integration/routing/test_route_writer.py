"""RouteWriter against real gobgpd and a real BIRD router, in network namespaces.

Every assertion reads the router's table (birdc), i.e. what the network sees.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

from ldirectord_py.routing.model import HostPrefix, Route, host_prefix
from ldirectord_py.routing.writer import RouteWriter

from .conftest import PREFIXES, run
from .lab import Lab

V1, V2, V6 = (
    host_prefix("198.51.100.10"),
    host_prefix("198.51.100.11"),
    host_prefix("2001:db8:ff::10"),
)


def routes(*items: Route) -> dict[HostPrefix, Route]:
    return {r.prefix: r for r in items}


def writer(lab: Lab, logs: list[str] | None = None, **kw: object) -> RouteWriter:
    sink = logs if logs is not None else []
    return RouteWriter(target=lab.gobgp_target(), prefixes=PREFIXES, log=sink.append, **kw)  # type: ignore[arg-type]


def test_announce_withdraw_reannounce(vlab: Lab) -> None:
    async def scenario() -> None:
        w = writer(vlab)
        w.start()
        w.submit(routes(Route(V1), Route(V6)))
        assert await w.converge_now(5)
        assert w.status()["api"].startswith(f"{vlab.gobgp_major}.x (")
        r = vlab.wait_route(str(V1))
        assert r is not None and r.as_path == [65001] and r.next_hop == "192.0.2.2"
        r6 = vlab.wait_route(str(V6))
        assert r6 is not None and r6.next_hop == "2001:db8:1::2"
        w.submit(routes(Route(V6)))
        assert await w.converge_now(5)
        vlab.wait_route(str(V1), present=False)
        assert vlab.route(str(V6)) is not None
        w.submit(routes(Route(V1), Route(V6)))
        assert await w.converge_now(5)
        vlab.wait_route(str(V1))
        await w.stop(withdraw=True)
        vlab.wait_route(str(V1), present=False)
        vlab.wait_route(str(V6), present=False)

    run(scenario())


def test_attributes_at_the_router(vlab: Lab) -> None:
    async def scenario() -> None:
        w = writer(vlab)
        w.start()
        w.submit(routes(Route(V1, med=50, prepend=2, communities=("65001:100", "65001:666"))))
        assert await w.converge_now(5)
        r = vlab.wait_route(str(V1))
        assert r is not None
        assert r.med == 50
        assert r.as_path == [65001, 65001, 65001]
        assert r.communities == ["65001:100", "65001:666"]
        assert r.origin == "IGP"
        # Changing the attributes replaces the path in place.
        w.submit(routes(Route(V1, med=10)))
        assert await w.converge_now(5)
        r = vlab.wait_route(str(V1), where=lambda r: r.med == 10)
        assert r is not None and r.as_path == [65001] and r.communities == []
        # IPv6 carries them too, and an explicit origin.
        w.submit(routes(Route(V6, med=7, prepend=1, communities=("65001:200",), origin="egp")))
        assert await w.converge_now(5)
        r6 = vlab.wait_route(str(V6))
        assert r6 is not None
        assert (r6.med, r6.as_path, r6.communities, r6.origin) == (
            7,
            [65001, 65001],
            ["65001:200"],
            "EGP",
        )
        await w.stop(withdraw=True)

    run(scenario())


def test_idempotent_same_set_issues_nothing(lab: Lab) -> None:
    async def scenario() -> None:
        w = writer(lab)
        w.start()
        desired = routes(Route(V1, med=5), Route(V6))
        w.submit(desired)
        assert await w.converge_now(5)
        calls = w.calls_total
        w.submit(dict(desired))
        assert await w.converge_now(5)
        await asyncio.sleep(0.2)
        assert w.calls_total == calls
        await w.stop(withdraw=False)
        # A second writer on the same desired set finds everything in place.
        w2 = writer(lab)
        w2.start()
        w2.submit(dict(desired))
        assert await w2.converge_now(5)
        assert w2.calls_total == 0
        await w2.stop(withdraw=True)

    run(scenario())


def test_prefix_guard_refuses_outside_routes(lab: Lab) -> None:
    async def scenario() -> None:
        logs: list[str] = []
        w = writer(lab, logs)
        w.start()
        outside = host_prefix("203.0.113.10")
        w.submit(routes(Route(V1), Route(outside)))
        assert await w.converge_now(5)
        assert any("refusing to announce 203.0.113.10/32" in line for line in logs)
        assert "203.0.113.10/32" in w.status()["refused"]
        assert "203.0.113.10" not in lab.gobgp("global", "rib")
        lab.wait_route(str(V1))
        await w.stop(withdraw=True)

    run(scenario())


def test_foreign_routes_untouched(vlab: Lab) -> None:
    # Another tool's routes: outside our prefixes (host and aggregate), and an
    # aggregate inside them. None of them is ours; stop(withdraw) keeps them.
    vlab.gobgp("global", "rib", "add", "203.0.113.0/24")
    vlab.gobgp("global", "rib", "add", "203.0.113.77/32")
    vlab.gobgp("global", "rib", "add", "198.51.100.0/24")

    async def scenario() -> None:
        w = writer(vlab)
        w.start()
        w.submit(routes(Route(V1)))
        assert await w.converge_now(5)
        w.submit({})
        assert await w.converge_now(5)
        await w.stop(withdraw=True)

    run(scenario())
    rib = vlab.gobgp("global", "rib")
    assert "203.0.113.0/24" in rib and "203.0.113.77/32" in rib and "198.51.100.0/24" in rib
    assert "198.51.100.10/32" not in rib


def test_stale_routes_withdrawn_and_changed_attributes_fixed(vlab: Lab) -> None:
    # Left over by a previous run: a VIP no longer desired and one with old attributes.
    vlab.gobgp("global", "rib", "add", "198.51.100.99/32")
    vlab.gobgp("global", "rib", "add", "198.51.100.10/32", "med", "999")
    vlab.wait_route("198.51.100.99/32")

    async def scenario() -> None:
        w = writer(vlab)
        w.start()
        w.submit(routes(Route(V1, med=1)))
        assert await w.converge_now(5)
        vlab.wait_route("198.51.100.99/32", present=False)
        r = vlab.wait_route(str(V1), where=lambda r: r.med == 1)
        assert r is not None and r.origin == "IGP"
        await w.stop(withdraw=True)

    run(scenario())


def test_gobgpd_restart_routes_come_back(vlab: Lab) -> None:
    async def scenario() -> None:
        logs: list[str] = []
        w = writer(vlab, logs)
        w.start()
        w.submit(routes(Route(V1, med=3), Route(V6)))
        assert await w.converge_now(5)
        vlab.wait_route(str(V1))
        vlab.stop_speaker(0)  # SIGTERM: gobgpd forgets its API routes
        vlab.wait_route(str(V1), present=False)
        await asyncio.sleep(0.3)
        assert w.status()["connected"] is False
        t0 = time.monotonic()
        vlab.start_speaker(0)
        assert await w.converge_now(10)
        r = await asyncio.to_thread(vlab.wait_route, str(V1), timeout=10)
        elapsed = time.monotonic() - t0
        assert r is not None and r.med == 3
        await asyncio.to_thread(vlab.wait_route, str(V6), timeout=10)
        assert elapsed < 5, elapsed
        assert any("retrying" in line for line in logs)
        assert sum("connected to GoBGP" in line for line in logs) == 2
        await w.stop(withdraw=True)

    run(scenario())


def test_gobgpd_unreachable_at_start(lab: Lab) -> None:
    lab.stop_speaker(0)

    async def scenario() -> None:
        logs: list[str] = []
        w = writer(lab, logs)
        w.start()
        w.submit(routes(Route(V1)))
        assert not await w.converge_now(0.5)
        status = w.status()
        assert status["connected"] is False
        assert "not reachable" in status["last_error"]
        assert lab.gobgp_target() in status["last_error"]
        await asyncio.to_thread(lab.start_speaker, 0)
        assert await w.converge_now(10)
        await asyncio.to_thread(lab.wait_route, str(V1), timeout=10)
        await w.stop(withdraw=True)

    run(scenario())


def test_stop_without_withdraw_keeps_routes(lab: Lab) -> None:
    async def scenario() -> None:
        w = writer(lab)
        w.start()
        w.submit(routes(Route(V1), Route(V2)))
        assert await w.converge_now(5)
        await w.stop(withdraw=False)

    run(scenario())
    time.sleep(0.2)
    assert lab.route(str(V1)) is not None and lab.route(str(V2)) is not None


def test_stop_withdraw_with_gobgpd_down_is_bounded(lab: Lab) -> None:
    async def scenario() -> None:
        logs: list[str] = []
        w = writer(lab, logs, stop_timeout=1.0)
        w.start()
        w.submit(routes(Route(V1)))
        assert await w.converge_now(5)
        lab.stop_speaker(0, signal.SIGKILL)
        t0 = time.monotonic()
        await w.stop(withdraw=True)
        assert time.monotonic() - t0 < 3
        assert any("could not withdraw" in line for line in logs)

    run(scenario())


def test_status_reports_peers_and_routes(vlab: Lab) -> None:
    async def scenario() -> None:
        logs: list[str] = []
        w = writer(vlab, logs)
        w.start()
        w.submit(routes(Route(V1, med=4)))
        assert await w.converge_now(5)
        for _ in range(100):
            if len(w.status()["peers"]) == 2:
                break
            await asyncio.sleep(0.05)
        st = w.status()
        assert st["connected"] and st["local_asn"] == 65001
        peers = {p["address"]: p for p in st["peers"]}
        assert set(peers) == {"192.0.2.1", "2001:db8:1::1"}
        assert all(p["state"] == "established" and p["asn"] == 65000 for p in peers.values())
        assert st["ours"]["198.51.100.10/32"]["med"] == 4
        assert st["gobgp"]["198.51.100.10/32"]["med"] == 4
        import json

        json.dumps(st)
        # A peer going down is seen, logged and reported.
        await asyncio.to_thread(vlab.birdc, "disable", "site0")
        for _ in range(200):
            peers = {p["address"]: p for p in w.status()["peers"]}
            if peers["192.0.2.1"]["state"] != "established":
                break
            await asyncio.sleep(0.02)
        assert peers["192.0.2.1"]["state"] != "established"
        assert peers["2001:db8:1::1"]["state"] == "established"
        await asyncio.to_thread(vlab.birdc, "enable", "site0")
        await asyncio.to_thread(vlab.wait_established)
        for _ in range(200):
            if {p["state"] for p in w.status()["peers"]} == {"established"}:
                break
            await asyncio.sleep(0.02)
        assert {p["state"] for p in w.status()["peers"]} == {"established"}
        await w.stop(withdraw=True)
        down = [line for line in logs if "GoBGP peer 192.0.2.1 (AS 65000)" in line]
        assert down[0].endswith("is established") and len(down) >= 3, down

    run(scenario())


WRITER_SCRIPT = """
import asyncio, ipaddress, sys
from ldirectord_py.routing.model import Route, host_prefix
from ldirectord_py.routing.writer import RouteWriter

async def main():
    prefixes = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:ff::/48")]
    w = RouteWriter(target=sys.argv[1], prefixes=prefixes, log=print)
    w.start()
    w.submit({host_prefix(a): Route(host_prefix(a), med=int(sys.argv[2])) for a in sys.argv[3:]})
    assert await w.converge_now(10)
    print("CONVERGED", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_writer_killed_then_new_writer_no_duplicate_no_stale(lab: Lab) -> None:
    import subprocess
    import sys

    addresses = ["198.51.100.10", "198.51.100.11", "198.51.100.12", "2001:db8:ff::10"]
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, lab.gobgp_target(), "5", *addresses],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "CONVERGED" in line:
                break
        lab.wait_route("198.51.100.12/32")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
    # GoBGP keeps the dead writer's routes: the site keeps attracting traffic.
    time.sleep(0.2)
    assert lab.route("198.51.100.11/32") is not None

    async def scenario() -> None:
        w = writer(lab)
        w.start()
        # The new run wants .10 (new MED) and .11 unchanged; .12 and the /128 are stale.
        w.submit(routes(Route(V1, med=6), Route(V2, med=5)))
        assert await w.converge_now(5)
        lab.wait_route("198.51.100.12/32", present=False)
        lab.wait_route("2001:db8:ff::10/128", present=False)
        lab.wait_route(str(V1), where=lambda r: r.med == 6)
        assert w.calls_total == 3  # .10 replaced, .12 and the /128 withdrawn; .11 kept
        await w.stop(withdraw=False)

    run(scenario())
    for prefix in ("198.51.100.10/32", "198.51.100.11/32"):
        assert len(lab.routes()[prefix]) == 1  # one path each at the router: no duplicate
    rib = lab.gobgp("global", "rib", "-j")
    import json

    table = json.loads(rib)
    assert sorted(table) == ["198.51.100.10/32", "198.51.100.11/32"]
    assert all(len(paths) == 1 for paths in table.values())


def test_many_routes_each_way(vlab: Lab) -> None:
    many = [host_prefix(f"198.51.100.{i}") for i in range(1, 251)]
    many += [host_prefix(f"2001:db8:ff::{i:x}") for i in range(1, 151)]

    def count() -> int:
        out = vlab.birdc("show", "route", "count")
        return int(out.split("Total:")[1].split()[0])

    async def scenario() -> None:
        logs: list[str] = []
        w = writer(vlab, logs)
        w.start()
        w.submit(routes(*(Route(v, med=9) for v in many)))
        assert await w.converge_now(10)
        assert any("announced 400 and withdrew 0 routes" in line for line in logs)
        await asyncio.to_thread(lambda: _until(lambda: count() == 400))
        calls = w.calls_total
        w.submit(routes(*(Route(v, med=9) for v in many)))
        assert await w.converge_now(5)
        assert w.calls_total == calls
        # Half of them change attributes, the other half goes.
        w.submit(routes(*(Route(v, med=1) for v in many[::2])))
        assert await w.converge_now(10)
        await asyncio.to_thread(lambda: _until(lambda: count() == 200))
        assert vlab.wait_route(str(many[0]), where=lambda r: r.med == 1) is not None
        await w.stop(withdraw=True)
        await asyncio.to_thread(lambda: _until(lambda: count() == 0))

    run(scenario())


def _until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_gobgpd_dropping_our_routes_is_reported_not_hammered() -> None:
    # GoBGP pitfall: a global default-import-policy of reject-route also drops
    # AddPath routes, silently (AddPath still answers with a UUID).
    extra = '[global.apply-policy.config]\n  default-import-policy = "reject-route"'
    with Lab(gobgpd_extra=extra) as lab:

        async def scenario() -> None:
            logs: list[str] = []
            w = writer(lab, logs)
            w.start()
            w.submit(routes(Route(V1)))
            assert not await w.converge_now(1.5)
            assert w.calls_total <= 3
            error = w.status()["last_error"]
            assert "does not hold 198.51.100.10/32" in error and "import policy" in error
            assert sum("does not hold" in line for line in logs) == 1
            await w.stop(withdraw=True)

        run(scenario())
