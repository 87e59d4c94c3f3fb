"""InterfaceWriter in a site namespace whose BIRD redistributes the host
addresses on lo (protocol direct) to the router: the paper's way."""

from __future__ import annotations

from ldirectord_py.routing.interface import InterfaceWriter
from ldirectord_py.routing.model import host_prefix

from .conftest import PREFIXES, run
from .lab import Lab

V1, V2, V6 = (
    host_prefix("198.51.100.10"),
    host_prefix("198.51.100.11"),
    host_prefix("2001:db8:ff::10"),
)


def addresses(lab: Lab, ifname: str = "lo") -> str:
    return lab.site_exec(0, "ip", "addr", "show", "dev", ifname).stdout


def test_vip_addresses_reach_the_router_and_go(bird_lab: Lab) -> None:
    lab = bird_lab
    # Not ours: an address outside the prefixes, and a non-host one inside.
    lab.site_exec(0, "ip", "addr", "add", "203.0.113.5/32", "dev", "lo")
    lab.site_exec(0, "ip", "addr", "add", "198.51.100.200/25", "dev", "lo")
    # Ours although this writer never added it: a VIP left by a previous run.
    lab.site_exec(0, "ip", "addr", "add", "198.51.100.99/32", "dev", "lo")
    lab.wait_route("198.51.100.99/32")

    async def scenario() -> None:
        logs: list[str] = []
        w = InterfaceWriter(logs.append, prefixes=PREFIXES, netns=lab.sites[0].ns)
        w.start()
        w.submit({"lo": frozenset({V1, V2, V6})})
        assert await w.converge_now(5)
        for v in (V1, V2, V6):
            lab.wait_route(str(v))
        lab.wait_route("198.51.100.99/32", present=False)
        changes = w.changes_total
        w.submit({"lo": frozenset({V1, V2, V6})})
        assert await w.converge_now(5)
        assert w.changes_total == changes  # idempotent
        w.submit({"lo": frozenset({V1})})
        assert await w.converge_now(5)
        lab.wait_route(str(V2), present=False)
        lab.wait_route(str(V6), present=False)
        assert lab.route(str(V1)) is not None
        assert any("removed 198.51.100.11/32 from lo" in line for line in logs)
        st = w.status()
        assert st["converged"] and st["actual"]["lo"] == ["198.51.100.10/32"]
        await w.stop(remove=True)
        lab.wait_route(str(V1), present=False)

    run(scenario())
    text = addresses(lab)
    assert "203.0.113.5/32" in text and "198.51.100.200/25" in text and "127.0.0.1/8" in text
    assert "198.51.100.10/32" not in text


def test_stop_without_remove_keeps_addresses(bird_lab: Lab) -> None:
    async def scenario() -> None:
        w = InterfaceWriter(lambda _m: None, prefixes=PREFIXES, netns=bird_lab.sites[0].ns)
        w.start()
        w.submit({"lo": frozenset({V1})})
        assert await w.converge_now(5)
        await w.stop(remove=False)

    run(scenario())
    assert "198.51.100.10/32" in addresses(bird_lab)
    bird_lab.wait_route(str(V1))


def test_missing_interface_and_prefix_guard(bird_lab: Lab) -> None:
    async def scenario() -> None:
        logs: list[str] = []
        w = InterfaceWriter(logs.append, prefixes=PREFIXES, netns=bird_lab.sites[0].ns, retry=0.1)
        w.start()
        w.submit({"vip0": frozenset({V1}), "lo": frozenset({host_prefix("203.0.113.9"), V2})})
        assert not await w.converge_now(0.5)
        st = w.status()
        assert (
            st["errors"]["vip0"]
            == "interface vip0 does not exist (VIPs 198.51.100.10/32 not added)"
        )
        assert any("interface vip0 does not exist" in line for line in logs)
        assert any("refusing to add 203.0.113.9/32 on lo" in line for line in logs)
        assert "203.0.113.9" not in addresses(bird_lab)
        # The interface appears: the writer catches up by itself.
        bird_lab.site_exec(0, "ip", "link", "add", "vip0", "type", "veth", "peer", "name", "vip0p")
        assert await w.converge_now(5)
        assert "198.51.100.10/32" in addresses(bird_lab, "vip0")
        await w.stop(remove=True)
        assert "198.51.100.10/32" not in addresses(bird_lab, "vip0")

    run(scenario())
