"""GoBGP API messages: building, parsing and the safety rules, with no daemon."""

from __future__ import annotations

import ipaddress

import pytest

from ldirectord_py.routing import messages
from ldirectord_py.routing._gen import gobgp_api_pb2 as pb
from ldirectord_py.routing.gobgp import GoBGPError, grpc_target
from ldirectord_py.routing.model import Route, host_prefix

V4 = host_prefix("198.51.100.10")
V6 = host_prefix("2001:db8:ff::10")


def attrs(path: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for a in path.pattrs:  # type: ignore[attr-defined]
        out[messages.type_name(a)] = messages.unpack(a)
    return out


def test_wire_names_are_gobgps() -> None:
    # The facts wire compatibility rests on: package, service, method paths, type URLs.
    assert pb.DESCRIPTOR.package == "apipb"
    service = pb.DESCRIPTOR.services_by_name["GobgpApi"]
    assert service.full_name == "apipb.GobgpApi"
    assert {m.name for m in service.methods} == {
        "GetBgp",
        "WatchEvent",
        "ListPeer",
        "AddPath",
        "DeletePath",
        "ListPath",
        "AddPathStream",
    }
    path = messages.build_path(Route(V4, med=1))
    assert path.nlri.type_url == "type.googleapis.com/apipb.IPAddressPrefix"
    assert [a.type_url for a in path.pattrs] == [
        "type.googleapis.com/apipb.OriginAttribute",
        "type.googleapis.com/apipb.NextHopAttribute",
        "type.googleapis.com/apipb.MultiExitDiscAttribute",
    ]


def test_field_numbers_match_gobgp_3() -> None:
    numbers = {
        ("Path", "nlri"): 1,
        ("Path", "pattrs"): 2,
        ("Path", "best"): 4,
        ("Path", "family"): 9,
        ("Path", "is_from_external"): 14,
        ("Path", "neighbor_ip"): 15,
        ("Path", "uuid"): 16,
        ("AddPathRequest", "path"): 3,
        ("DeletePathRequest", "family"): 3,
        ("DeletePathRequest", "path"): 4,
        ("DeletePathRequest", "uuid"): 5,
        ("ListPathRequest", "family"): 3,
        ("AddPathStreamRequest", "paths"): 3,
        ("ListPathRequest", "prefixes"): 4,
        ("IPAddressPrefix", "prefix_len"): 1,
        ("IPAddressPrefix", "prefix"): 2,
        ("MpReachNLRIAttribute", "next_hops"): 2,
        ("MpReachNLRIAttribute", "nlris"): 3,
        ("PeerState", "session_state"): 13,
        ("Peer", "timers"): 6,
        ("TimersState", "uptime"): 6,
        ("WatchEventResponse", "peer"): 2,
        ("GetBgpResponse", "global"): 1,
    }
    for (message, fieldname), number in numbers.items():
        assert (
            pb.DESCRIPTOR.message_types_by_name[message].fields_by_name[fieldname].number == number
        )


def test_ipv4_path_with_every_attribute() -> None:
    route = Route(
        V4,
        next_hop="192.0.2.2",
        med=10,
        prepend=2,
        communities=("65001:100", "65001:666"),
        origin="incomplete",
    )
    path = messages.build_path(route, local_asn=65001)
    assert path.family.afi == pb.Family.AFI_IP and path.family.safi == pb.Family.SAFI_UNICAST
    nlri = pb.IPAddressPrefix()
    assert path.nlri.Unpack(nlri) and (nlri.prefix, nlri.prefix_len) == ("198.51.100.10", 32)
    a = attrs(path)
    assert a["OriginAttribute"].origin == 2
    assert a["NextHopAttribute"].next_hop == "192.0.2.2"
    assert a["MultiExitDiscAttribute"].med == 10
    assert list(a["CommunitiesAttribute"].communities) == [(65001 << 16) | 100, (65001 << 16) | 666]
    segments = a["AsPathAttribute"].segments
    assert len(segments) == 1 and segments[0].type == 2 and list(segments[0].numbers) == [65001] * 2


def test_ipv6_path_uses_mp_reach() -> None:
    path = messages.build_path(Route(V6))
    assert path.family.afi == pb.Family.AFI_IP6
    a = attrs(path)
    assert "NextHopAttribute" not in a
    mp = a["MpReachNLRIAttribute"]
    assert list(mp.next_hops) == ["::"] and mp.family.afi == pb.Family.AFI_IP6
    assert mp.nlris[0] == path.nlri


def test_defaults_are_minimal() -> None:
    a = attrs(messages.build_path(Route(V4)))
    assert set(a) == {"OriginAttribute", "NextHopAttribute"}
    assert a["NextHopAttribute"].next_hop == "0.0.0.0" and a["OriginAttribute"].origin == 0


def test_round_trip_matches() -> None:
    for route in (
        Route(V4),
        Route(V4, med=0),
        Route(V4, prepend=3, communities=("65001:1", "no-export")),
        Route(V6, next_hop="2001:db8:1::2", med=4, origin="egp"),
    ):
        view = messages.parse_path(messages.build_path(route, local_asn=65001))
        assert view.local and view.is_host and view.prefix == route.prefix
        assert view.matches(route, 65001)
    view = messages.parse_path(messages.build_path(Route(V4, med=5)))
    assert not view.matches(Route(V4, med=6), 65001)
    assert not view.matches(Route(V4), 65001)
    assert not view.matches(Route(V4, med=5, prepend=1), 65001)
    assert not view.matches(Route(V4, med=5, communities=("1:1",)), 65001)
    assert not view.matches(Route(V4, med=5, next_hop="192.0.2.9"), 65001)


def test_learned_paths_are_not_local() -> None:
    path = messages.build_path(Route(V4))
    path.neighbor_ip = "192.0.2.1"
    path.is_from_external = True
    assert not messages.parse_path(path).local


def test_unknown_attribute_makes_a_path_differ() -> None:
    path = messages.build_path(Route(V4))
    path.pattrs.append(messages.pack(pb.Global(asn=1)))  # any message we do not model as attr
    view = messages.parse_path(path)
    assert view.other_attributes == ("Global",)
    assert not view.matches(Route(V4), None)


def test_delete_always_carries_a_path() -> None:
    request = messages.delete_path_request(V6)
    assert request.HasField("path") and request.path.HasField("nlri")
    assert request.family.afi == pb.Family.AFI_IP6
    with pytest.raises(ValueError, match="delete every route"):
        messages.assert_safe_delete(pb.DeletePathRequest(family=messages.family(4)))
    messages.assert_safe_delete(pb.DeletePathRequest(uuid=b"x"))


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


def test_bad_routes() -> None:
    with pytest.raises(ValueError, match="not IPv4"):
        messages.build_path(Route(V4, next_hop="2001:db8::1"))
    with pytest.raises(ValueError, match="local AS"):
        messages.build_path(Route(V4, prepend=1))
    with pytest.raises(ValueError, match="MED"):
        messages.build_path(Route(V4, med=-1))
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
