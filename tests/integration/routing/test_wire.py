"""Our .proto against GoBGP's own decoding: what our stubs send, `gobgp` (GoBGP's
CLI, built on GoBGP's generated code) reads back, and the other way round."""

from __future__ import annotations

import json

from ldirectord_py.routing.gobgp import GoBGPClient
from ldirectord_py.routing.model import Route, host_prefix

from .conftest import run
from .lab import Lab


def test_our_add_path_as_gobgp_decodes_it(vlab: Lab) -> None:
    async def scenario() -> None:
        client = GoBGPClient(vlab.gobgp_target())
        info = await client.get_bgp()
        assert (info.asn, info.router_id) == (65001, "192.0.2.2")
        await client.add_path(
            Route(host_prefix("198.51.100.10"), next_hop="192.0.2.2", med=10, prepend=2,
                  communities=("65001:100", "65001:666"), origin="egp"),
            local_asn=info.asn,
        )  # fmt: skip
        await client.add_path(Route(host_prefix("2001:db8:ff::10"), med=3))
        await client.close()

    run(scenario())
    v4 = json.loads(vlab.gobgp("global", "rib", "-j"))
    (path,) = v4["198.51.100.10/32"]
    attrs = {a["type"]: a for a in path["attrs"]}
    assert attrs[1]["value"] == 1  # ORIGIN egp
    assert attrs[2]["as_paths"] == [{"segment_type": 2, "num": 2, "asns": [65001, 65001]}]
    assert attrs[3]["nexthop"] == "192.0.2.2"
    assert attrs[4]["metric"] == 10
    assert attrs[8]["communities"] == [(65001 << 16) | 100, (65001 << 16) | 666]
    v6 = json.loads(vlab.gobgp("global", "rib", "-a", "ipv6", "-j"))
    (path6,) = v6["2001:db8:ff::10/128"]
    attrs6 = {a["type"]: a for a in path6["attrs"]}
    assert attrs6[14]["nexthop"] == "::" and attrs6[14]["afi"] == 2
    # gobgp 4.x's JSON wraps each NLRI ({"NLRI": {...}, "ID": 0}); 3.x does not.
    assert [v.get("NLRI", v) for v in attrs6[14]["value"]] == [{"prefix": "2001:db8:ff::10/128"}]
    assert attrs6[4]["metric"] == 3


def test_gobgp_cli_paths_and_peers_as_we_decode_them(vlab: Lab) -> None:
    vlab.gobgp("global", "rib", "add", "198.51.100.20/32", "med", "7", "community", "65001:9",
              "aspath", "65001,65001", "origin", "incomplete")  # fmt: skip
    vlab.gobgp(
        "global", "rib", "add", "-a", "ipv6", "2001:db8:ff::20/128", "nexthop", "2001:db8:1::2"
    )

    async def scenario() -> None:
        client = GoBGPClient(vlab.gobgp_target())
        (v4,) = [
            p for p in await client.list_paths(4, whole=True) if str(p.prefix) == "198.51.100.20/32"
        ]
        assert v4.local and v4.best
        assert (v4.med, v4.communities, v4.as_path, v4.origin) == (
            7,
            ("65001:9",),
            (65001, 65001),
            "incomplete",
        )
        assert v4.matches(
            Route(v4.prefix, med=7, communities=("65001:9",), prepend=2, origin="incomplete"),
            65001,
        )
        (v6,) = await client.list_paths(6, whole=True)
        assert str(v6.prefix) == "2001:db8:ff::20/128" and v6.next_hop == "2001:db8:1::2"
        peers = {p.address: p for p in await client.list_peers()}
        cli = json.loads(vlab.gobgp("neighbor", "-j"))
        assert (
            set(peers)
            == {n["conf"]["neighbor_address"] for n in cli}
            == {"192.0.2.1", "2001:db8:1::1"}
        )
        for p in peers.values():
            assert p.state == "established" and p.asn == 65000 and p.hold_time == 9
            assert p.uptime is not None
        await client.close()

    run(scenario())
