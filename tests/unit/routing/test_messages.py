"""GoBGP API messages in both APIs (3.x and 4.x): building, parsing and the
safety rules, with no daemon. The field numbers and names asserted here are
GoBGP's (api/*.proto at v3.36.0 and proto/api/*.proto at v4.8.0)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ldirectord_py.routing import messages
from ldirectord_py.routing.dialects import DIALECTS, V3, V4, Dialect
from ldirectord_py.routing.gobgp import GoBGPError, grpc_target, neither_api_text
from ldirectord_py.routing.model import Route, host_prefix

VIP4 = host_prefix("198.51.100.10")
VIP6 = host_prefix("2001:db8:ff::10")
BOTH = pytest.mark.parametrize("d", [V3, V4], ids=["api3", "api4"])


def attrs(d: Dialect, path: Any) -> dict[str, Any]:
    return dict(d.attributes(path))


METHODS = {"GetBgp", "WatchEvent", "ListPeer", "AddPath", "DeletePath", "ListPath", "AddPathStream"}


def test_wire_names_of_gobgp_3() -> None:
    # The facts wire compatibility rests on: package, service, method paths, type URLs.
    pb = V3.pb
    assert pb.DESCRIPTOR.package == "apipb"
    service = pb.DESCRIPTOR.services_by_name["GobgpApi"]
    assert service.full_name == "apipb.GobgpApi" == V3.service
    assert {m.name for m in service.methods} == METHODS
    path = messages.build_path(V3, Route(VIP4, med=1))
    assert path.nlri.type_url == "type.googleapis.com/apipb.IPAddressPrefix"
    assert [a.type_url for a in path.pattrs] == [
        "type.googleapis.com/apipb.OriginAttribute",
        "type.googleapis.com/apipb.NextHopAttribute",
        "type.googleapis.com/apipb.MultiExitDiscAttribute",
    ]
    assert V3.GLOBAL == 0 and V3.LOOKUP_LONGER == 1 and V3.ADMIN_DOWN == 1


def test_wire_names_of_gobgp_4() -> None:
    pb = V4.pb
    assert pb.DESCRIPTOR.package == "api"
    service = pb.DESCRIPTOR.services_by_name["GoBgpService"]
    assert service.full_name == "api.GoBgpService" == V4.service
    assert {m.name for m in service.methods} == METHODS
    path = messages.build_path(V4, Route(VIP4, med=1))
    assert path.nlri.WhichOneof("nlri") == "prefix"
    assert [a.WhichOneof("attr") for a in path.pattrs] == ["origin", "next_hop", "multi_exit_disc"]
    # Every 4.x enum gained an UNSPECIFIED zero: what we send moved up by one.
    assert V4.GLOBAL == 1 and V4.LOOKUP_LONGER == 2 and V4.ADMIN_DOWN == 2
    assert V3.END_OF_INIT == V4.END_OF_INIT == 2


COMMON_FIELDS = {
    ("Path", "nlri"): 1,
    ("Path", "pattrs"): 2,
    ("Path", "best"): 4,
    ("Path", "is_withdraw"): 5,
    ("Path", "family"): 9,
    ("Path", "is_from_external"): 14,
    ("Path", "neighbor_ip"): 15,
    ("Path", "uuid"): 16,
    ("AddPathRequest", "table_type"): 1,
    ("AddPathRequest", "path"): 3,
    ("DeletePathRequest", "family"): 3,
    ("DeletePathRequest", "path"): 4,
    ("DeletePathRequest", "uuid"): 5,
    ("ListPathRequest", "table_type"): 1,
    ("ListPathRequest", "family"): 3,
    ("ListPathRequest", "prefixes"): 4,
    ("TableLookupPrefix", "prefix"): 1,
    ("TableLookupPrefix", "type"): 2,
    ("AddPathStreamRequest", "paths"): 3,
    ("IPAddressPrefix", "prefix_len"): 1,
    ("IPAddressPrefix", "prefix"): 2,
    ("MpReachNLRIAttribute", "family"): 1,
    ("MpReachNLRIAttribute", "next_hops"): 2,
    ("MpReachNLRIAttribute", "nlris"): 3,
    ("PeerState", "session_state"): 13,
    ("PeerState", "admin_state"): 15,
    ("PeerConf", "neighbor_address"): 4,
    ("Peer", "conf"): 2,
    ("Peer", "state"): 5,
    ("Peer", "timers"): 6,
    ("TimersState", "negotiated_hold_time"): 5,
    ("TimersState", "uptime"): 6,
    ("WatchEventRequest", "peer"): 1,
    ("WatchEventResponse", "peer"): 2,
    ("GetBgpResponse", "global"): 1,
    ("Global", "asn"): 1,
    ("Global", "router_id"): 2,
}
V4_ONLY_FIELDS = {
    ("NLRI", "prefix"): 1,
    ("Attribute", "origin"): 2,
    ("Attribute", "as_path"): 3,
    ("Attribute", "next_hop"): 4,
    ("Attribute", "multi_exit_disc"): 5,
    ("Attribute", "local_pref"): 6,
    ("Attribute", "communities"): 9,
    ("Attribute", "mp_reach"): 12,
}


@pytest.mark.parametrize("major", [3, 4])
def test_field_numbers_match_gobgp(major: int) -> None:
    pb = DIALECTS[major].pb
    numbers = {**COMMON_FIELDS, **(V4_ONLY_FIELDS if major == 4 else {})}
    for (message, fieldname), number in numbers.items():
        assert (
            pb.DESCRIPTOR.message_types_by_name[message].fields_by_name[fieldname].number == number
        ), (major, message, fieldname)


@BOTH
def test_ipv4_path_with_every_attribute(d: Dialect) -> None:
    route = Route(
        VIP4,
        next_hop="192.0.2.2",
        med=10,
        prepend=2,
        communities=("65001:100", "65001:666"),
        origin="incomplete",
    )
    path = messages.build_path(d, route, local_asn=65001)
    assert path.family.afi == d.pb.Family.AFI_IP and path.family.safi == d.pb.Family.SAFI_UNICAST
    nlri = d.nlri_prefix(path)
    assert (nlri.prefix, nlri.prefix_len) == ("198.51.100.10", 32)
    a = attrs(d, path)
    assert a["origin"].origin == 2
    assert a["next_hop"].next_hop == "192.0.2.2"
    assert a["med"].med == 10
    assert list(a["communities"].communities) == [(65001 << 16) | 100, (65001 << 16) | 666]
    segments = a["as_path"].segments
    assert len(segments) == 1 and segments[0].type == 2 and list(segments[0].numbers) == [65001] * 2


@BOTH
def test_ipv6_path_uses_mp_reach(d: Dialect) -> None:
    path = messages.build_path(d, Route(VIP6))
    assert path.family.afi == d.pb.Family.AFI_IP6
    a = attrs(d, path)
    assert "next_hop" not in a
    mp = a["mp_reach"]
    assert list(mp.next_hops) == ["::"] and mp.family.afi == d.pb.Family.AFI_IP6
    assert mp.nlris[0] == path.nlri


@BOTH
def test_defaults_are_minimal(d: Dialect) -> None:
    a = attrs(d, messages.build_path(d, Route(VIP4)))
    assert set(a) == {"origin", "next_hop"}
    assert a["next_hop"].next_hop == "0.0.0.0" and a["origin"].origin == 0


@BOTH
def test_round_trip_matches(d: Dialect) -> None:
    for route in (
        Route(VIP4),
        Route(VIP4, med=0),
        Route(VIP4, prepend=3, communities=("65001:1", "no-export")),
        Route(VIP6, next_hop="2001:db8:1::2", med=4, origin="egp"),
    ):
        view = messages.parse_path(d, messages.build_path(d, route, local_asn=65001))
        assert view.local and view.is_host and view.prefix == route.prefix
        assert view.matches(route, 65001)
        assert messages.expected_view(route, 65001).matches(route, 65001)
    view = messages.parse_path(d, messages.build_path(d, Route(VIP4, med=5)))
    assert not view.matches(Route(VIP4, med=6), 65001)
    assert not view.matches(Route(VIP4), 65001)
    assert not view.matches(Route(VIP4, med=5, prepend=1), 65001)
    assert not view.matches(Route(VIP4, med=5, communities=("1:1",)), 65001)
    assert not view.matches(Route(VIP4, med=5, next_hop="192.0.2.9"), 65001)


@BOTH
def test_learned_paths_are_not_local(d: Dialect) -> None:
    path = messages.build_path(d, Route(VIP4))
    path.neighbor_ip = "192.0.2.1"
    path.is_from_external = True
    assert not messages.parse_path(d, path).local


def test_unknown_attribute_makes_a_path_differ_3() -> None:
    path = messages.build_path(V3, Route(VIP4))
    path.pattrs.append(V3.wrap_attribute(V3.pb.Global(asn=1)))  # any message we do not model
    view = messages.parse_path(V3, path)
    assert view.other_attributes == ("Global",)
    assert not view.matches(Route(VIP4), None)


def test_unknown_attribute_makes_a_path_differ_4() -> None:
    path = messages.build_path(V4, Route(VIP4))
    # ATOMIC_AGGREGATE (oneof field 7) is not in our subset: it decodes as an empty oneof.
    path.pattrs.add().ParseFromString(bytes([7 << 3 | 2, 0]))
    view = messages.parse_path(V4, path)
    assert view.other_attributes == ("unknown",)
    assert not view.matches(Route(VIP4), None)


def test_other_nlri_kinds_are_skipped_4() -> None:
    path = messages.build_path(V4, Route(VIP4))
    path.nlri.Clear()
    path.nlri.ParseFromString(bytes([2 << 3 | 2, 0]))  # a labeled prefix: not ours
    with pytest.raises(ValueError, match="NLRI"):
        messages.parse_path(V4, path)


@BOTH
def test_delete_always_carries_a_path(d: Dialect) -> None:
    request = messages.delete_path_request(d, VIP6)
    assert request.HasField("path") and request.path.HasField("nlri")
    assert request.family.afi == d.pb.Family.AFI_IP6 and request.table_type == d.GLOBAL
    with pytest.raises(ValueError, match="delete every route"):
        messages.assert_safe_delete(d.pb.DeletePathRequest(family=messages.family(d, 4)))
    messages.assert_safe_delete(d.pb.DeletePathRequest(uuid=b"x"))


@BOTH
def test_list_path_never_asks_for_the_whole_table(d: Dialect) -> None:
    within = (
        ipaddress.ip_network("198.51.100.0/24"),
        ipaddress.ip_network("203.0.113.0/25"),
        ipaddress.ip_network("2001:db8:ff::/48"),
    )
    (scan,) = messages.list_path_requests(d, 4, longer=within)
    assert scan.table_type == d.GLOBAL and scan.family.afi == d.pb.Family.AFI_IP
    assert [(p.prefix, p.type) for p in scan.prefixes] == [
        ("198.51.100.0/24", d.LOOKUP_LONGER),
        ("203.0.113.0/25", d.LOOKUP_LONGER),
    ]
    (six,) = messages.list_path_requests(d, 6, longer=within)
    assert [p.prefix for p in six.prefixes] == ["2001:db8:ff::/48"]
    # Exact lookups, in batches; nothing to look up is no request at all (an
    # empty ListPathRequest would list the whole table).
    vips = [host_prefix(f"198.51.{i // 256}.{i % 256}") for i in range(2500)]
    batches = messages.list_path_requests(d, 4, exact=vips)
    assert [len(b.prefixes) for b in batches] == [1000, 1000, 500]
    assert {p.type for b in batches for p in b.prefixes} == {d.LOOKUP_EXACT}
    assert batches[0].prefixes[0].prefix == "198.51.0.0/32"
    assert messages.list_path_requests(d, 6, exact=vips) == []
    assert not messages.list_whole_table_request(d, 4).prefixes


def test_neither_api_text_is_the_documented_one() -> None:
    assert (
        neither_api_text("unix:/run/gobgpd/api.sock")
        == "GoBGP API at unix:/run/gobgpd/api.sock: neither the 3.x nor the 4.x service answers"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("65001:100", (65001 << 16) | 100),
        ("0:0", 0),
        ("no-export", 0xFFFFFF01),
        ("4259905636", 4259905636),
    ],
)
def test_communities(text: str, value: int) -> None:
    assert messages.parse_community(text) == value


@pytest.mark.parametrize("text", ["65536:1", "1:65536", "a:b", "", "1:2:3", "99999999999"])
def test_bad_communities(text: str) -> None:
    with pytest.raises(ValueError):
        messages.parse_community(text)


@BOTH
def test_bad_routes(d: Dialect) -> None:
    with pytest.raises(ValueError, match="not IPv4"):
        messages.build_path(d, Route(VIP4, next_hop="2001:db8::1"))
    with pytest.raises(ValueError, match="local AS"):
        messages.build_path(d, Route(VIP4, prepend=1))
    with pytest.raises(ValueError, match="MED"):
        messages.build_path(d, Route(VIP4, med=-1))
    with pytest.raises(ValueError, match="host prefix"):
        Route(ipaddress.ip_network("198.51.100.0/24"))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("[::1]:50051", "[::1]:50051"),
        ("localhost:50051", "localhost:50051"),
        ("unix:/run/gobgpd.sock", "unix:/run/gobgpd.sock"),
        ("unix:///run/gobgpd.sock", "unix:/run/gobgpd.sock"),
    ],
)
def test_targets(given: str, expected: str) -> None:
    assert grpc_target(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "127.0.0.1", "host:port", "unix:relative", ":50051", "h:70000"]
)
def test_bad_targets(bad: str) -> None:
    with pytest.raises(ValueError):
        grpc_target(bad)


def test_error_names_target_and_action() -> None:
    err = GoBGPError("unix:/run/x.sock", "AddPath 198.51.100.10/32", "gobgpd is not reachable")
    assert (
        str(err)
        == "GoBGP at unix:/run/x.sock: AddPath 198.51.100.10/32 failed: gobgpd is not reachable"
    )
