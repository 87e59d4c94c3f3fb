"""Building and reading GoBGP API messages: pure functions, no I/O.

A `Route` (routing/model.py) becomes an `apipb.Path` whose NLRI and attributes
are packed into `google.protobuf.Any`, as gobgpd expects:

- IPv4 /32: IPAddressPrefix NLRI, ORIGIN, NEXT_HOP (0.0.0.0 = "the session's
  local address"), optional AS_PATH, MULTI_EXIT_DISC, COMMUNITIES;
- IPv6 /128: the same, but the next hop ("::" by default) and a copy of the NLRI
  go in MP_REACH_NLRI instead of NEXT_HOP.

AS-path prepend: GoBGP itself puts the local AS once on the path towards an eBGP
peer, so `Route.prepend = n` sends n copies of the local AS and the peer sees
n + 1. Parsing does the reverse (`PathView`), so a path read back with ListPath
compares equal to the Route that produced it (`PathView.matches`).

The generated modules (ldirectord_py/routing/_gen, built by setup.py from
proto/gobgp_api.proto) are untyped; this module is the typed boundary.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .model import HostPrefix, Origin, Route

try:
    from ._gen import gobgp_api_pb2 as pb
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "ldirectord_py.routing._gen is missing: the GoBGP gRPC modules are generated "
        "when the package is built; run `make venv` (or `pip install -e .`)"
    ) from exc

from google.protobuf import any_pb2

TYPE_URL_PREFIX = "type.googleapis.com/apipb."
ORIGIN_CODES: dict[Origin, int] = {"igp": 0, "egp": 1, "incomplete": 2}
ORIGIN_NAMES: dict[int, Origin] = {v: k for k, v in ORIGIN_CODES.items()}
AS_SEQUENCE = 2
WELL_KNOWN_COMMUNITIES = {
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
}
SESSION_STATES = {
    0: "unknown",
    1: "idle",
    2: "connect",
    3: "active",
    4: "opensent",
    5: "openconfirm",
    6: "established",
}


def family(version: int) -> Any:
    """The apipb.Family of IPv4 or IPv6 unicast."""
    afi = pb.Family.AFI_IP if version == 4 else pb.Family.AFI_IP6
    return pb.Family(afi=afi, safi=pb.Family.SAFI_UNICAST)


def pack(message: Any) -> Any:
    """A message packed into google.protobuf.Any (type URL type.googleapis.com/apipb.X)."""
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return wrapped


def parse_community(text: str) -> int:
    """'65001:100', a well-known name (no-export, ...) or a 32-bit number -> RFC 1997 value."""
    value = text.strip().lower()
    if value in WELL_KNOWN_COMMUNITIES:
        return WELL_KNOWN_COMMUNITIES[value]
    if ":" in value:
        high, _, low = value.partition(":")
        if not (high.isdigit() and low.isdigit()):
            raise ValueError(f"community {text!r}: expected ASN:VALUE, e.g. 65001:100")
        hi, lo = int(high), int(low)
        if hi > 0xFFFF or lo > 0xFFFF:
            raise ValueError(f"community {text!r}: both halves must be 0..65535")
        return (hi << 16) | lo
    if value.isdigit() and int(value) <= 0xFFFFFFFF:
        return int(value)
    raise ValueError(f"community {text!r}: expected ASN:VALUE, e.g. 65001:100")


def format_community(value: int) -> str:
    """RFC 1997 value -> 'a:b' (the form Route.communities uses)."""
    return f"{value >> 16}:{value & 0xFFFF}"


def normalise_communities(communities: tuple[str, ...]) -> tuple[str, ...]:
    """Communities in canonical 'a:b' form, in the given order, duplicates dropped."""
    seen: dict[str, None] = {}
    for c in communities:
        seen.setdefault(format_community(parse_community(c)), None)
    return tuple(seen)


def check_route(route: Route) -> None:
    """Raise ValueError when a Route cannot be expressed (bad next hop, MED, ...)."""
    if route.next_hop is not None:
        nh = ipaddress.ip_address(route.next_hop)
        if nh.version != route.prefix.version:
            raise ValueError(
                f"{route.prefix}: next hop {route.next_hop} is not IPv{route.prefix.version}"
            )
    if route.med is not None and not 0 <= route.med <= 0xFFFFFFFF:
        raise ValueError(f"{route.prefix}: MED {route.med} is not 0..4294967295")
    if not 0 <= route.prepend <= 32:
        raise ValueError(f"{route.prefix}: prepend {route.prepend} is not 0..32")
    if route.origin not in ORIGIN_CODES:
        raise ValueError(f"{route.prefix}: origin {route.origin!r} is not igp, egp or incomplete")
    for c in route.communities:
        parse_community(c)


def nlri(prefix: HostPrefix) -> Any:
    return pack(pb.IPAddressPrefix(prefix=str(prefix.network_address), prefix_len=prefix.prefixlen))


def build_path(route: Route, local_asn: int | None = None) -> Any:
    """The apipb.Path announcing `route`. `local_asn` is needed when route.prepend > 0."""
    check_route(route)
    prefix = route.prefix
    fam = family(prefix.version)
    prefix_any = nlri(prefix)
    attrs = [pack(pb.OriginAttribute(origin=ORIGIN_CODES[route.origin]))]
    if prefix.version == 4:
        attrs.append(pack(pb.NextHopAttribute(next_hop=route.next_hop or "0.0.0.0")))
    else:
        attrs.append(
            pack(
                pb.MpReachNLRIAttribute(
                    family=fam, next_hops=[route.next_hop or "::"], nlris=[prefix_any]
                )
            )
        )
    if route.prepend:
        if not local_asn:
            raise ValueError(f"{prefix}: AS-path prepend needs the local AS (GetBgp)")
        segment = pb.AsSegment(type=AS_SEQUENCE, numbers=[local_asn] * route.prepend)
        attrs.append(pack(pb.AsPathAttribute(segments=[segment])))
    if route.med is not None:
        attrs.append(pack(pb.MultiExitDiscAttribute(med=route.med)))
    if route.communities:
        values = [parse_community(c) for c in normalise_communities(route.communities)]
        attrs.append(pack(pb.CommunitiesAttribute(communities=values)))
    return pb.Path(family=fam, nlri=prefix_any, pattrs=attrs)


def build_withdraw_path(prefix: HostPrefix) -> Any:
    """The apipb.Path naming `prefix` for DeletePath (only family and NLRI matter).

    DeletePath is only ever sent with a path: without one, gobgpd deletes every
    locally originated route, ours and everyone else's.
    """
    fam = family(prefix.version)
    prefix_any = nlri(prefix)
    if prefix.version == 4:
        attrs = [pack(pb.OriginAttribute(origin=0)), pack(pb.NextHopAttribute(next_hop="0.0.0.0"))]
    else:
        mp = pb.MpReachNLRIAttribute(family=fam, next_hops=["::"], nlris=[prefix_any])
        attrs = [pack(pb.OriginAttribute(origin=0)), pack(mp)]
    return pb.Path(family=fam, nlri=prefix_any, pattrs=attrs)


def add_path_request(route: Route, local_asn: int | None = None) -> Any:
    return pb.AddPathRequest(table_type=pb.GLOBAL, path=build_path(route, local_asn))


def delete_path_request(prefix: HostPrefix) -> Any:
    request = pb.DeletePathRequest(
        table_type=pb.GLOBAL, family=family(prefix.version), path=build_withdraw_path(prefix)
    )
    assert_safe_delete(request)
    return request


def assert_safe_delete(request: Any) -> None:
    """Refuse a DeletePathRequest without a path NLRI or UUID (it would delete everything)."""
    has_path = request.HasField("path") and request.path.HasField("nlri")
    if not has_path and not request.uuid:
        raise ValueError("refusing DeletePath without a path: gobgpd would delete every route")


def type_name(wrapped: Any) -> str:
    """'OriginAttribute' for an Any of type.googleapis.com/apipb.OriginAttribute."""
    url: str = wrapped.type_url
    return url.rsplit("/", 1)[-1].removeprefix("apipb.")


_ATTRIBUTE_TYPES: dict[str, Any] = {
    "OriginAttribute": pb.OriginAttribute,
    "NextHopAttribute": pb.NextHopAttribute,
    "MpReachNLRIAttribute": pb.MpReachNLRIAttribute,
    "AsPathAttribute": pb.AsPathAttribute,
    "MultiExitDiscAttribute": pb.MultiExitDiscAttribute,
    "LocalPrefAttribute": pb.LocalPrefAttribute,
    "CommunitiesAttribute": pb.CommunitiesAttribute,
}


def unpack(wrapped: Any) -> Any | None:
    """The attribute message inside an Any, or None for a type we do not model."""
    cls = _ATTRIBUTE_TYPES.get(type_name(wrapped))
    if cls is None:
        return None
    message = cls()
    if not wrapped.Unpack(message):
        return None
    return message


@dataclass(frozen=True)
class PathView:
    """One path of GoBGP's table, read back with ListPath, in Route's terms."""

    prefix: ipaddress.IPv4Network | ipaddress.IPv6Network
    local: bool
    """Originated by this gobgpd (AddPath or `gobgp global rib add`), not learned from a peer."""
    best: bool
    neighbor: str
    origin: Origin | None
    next_hop: str | None
    med: int | None
    communities: tuple[str, ...]
    as_path: tuple[int, ...]
    other_attributes: tuple[str, ...]
    """Type names of attributes we do not model (LocalPref counts as modelled)."""
    uuid: bytes = b""

    @property
    def is_host(self) -> bool:
        return self.prefix.prefixlen == self.prefix.max_prefixlen

    def prepend_count(self, local_asn: int | None) -> int | None:
        """How many extra copies of the local AS the path carries (None: not a prepend)."""
        if not self.as_path:
            return 0
        if local_asn and all(asn == local_asn for asn in self.as_path):
            return len(self.as_path)
        return None

    def matches(self, route: Route, local_asn: int | None) -> bool:
        """True when this path carries exactly what announcing `route` would send."""
        default_nh = "0.0.0.0" if route.prefix.version == 4 else "::"
        return (
            self.prefix == route.prefix
            and self.origin == route.origin
            and (self.next_hop or default_nh) == (route.next_hop or default_nh)
            and self.med == route.med
            and self.communities == normalise_communities(route.communities)
            and self.prepend_count(local_asn) == route.prepend
            and not self.other_attributes
        )

    def attributes(self) -> dict[str, Any]:
        """JSON-able attributes, as status() reports them."""
        return {
            "origin": self.origin,
            "next_hop": self.next_hop,
            "med": self.med,
            "communities": list(self.communities),
            "as_path": list(self.as_path),
            "best": self.best,
            "neighbor": self.neighbor,
            **({"other": list(self.other_attributes)} if self.other_attributes else {}),
        }


def parse_path(path: Any) -> PathView:
    """An apipb.Path from ListPath (or a table event) as a PathView."""
    prefix_msg = pb.IPAddressPrefix()
    if not path.nlri.Unpack(prefix_msg):
        raise ValueError(f"path with unsupported NLRI type {type_name(path.nlri)}")
    prefix = ipaddress.ip_network(f"{prefix_msg.prefix}/{prefix_msg.prefix_len}", strict=False)
    origin: Origin | None = None
    next_hop: str | None = None
    med: int | None = None
    communities: tuple[str, ...] = ()
    as_path: list[int] = []
    other: list[str] = []
    for wrapped in path.pattrs:
        attr = unpack(wrapped)
        name = type_name(wrapped)
        if attr is None:
            other.append(name)
        elif name == "OriginAttribute":
            origin = ORIGIN_NAMES.get(attr.origin)
        elif name == "NextHopAttribute":
            next_hop = attr.next_hop
        elif name == "MpReachNLRIAttribute":
            next_hop = attr.next_hops[0] if attr.next_hops else None
        elif name == "MultiExitDiscAttribute":
            med = attr.med
        elif name == "CommunitiesAttribute":
            communities = tuple(format_community(c) for c in attr.communities)
        elif name == "AsPathAttribute":
            for segment in attr.segments:
                as_path.extend(segment.numbers)
        elif name != "LocalPrefAttribute":
            other.append(name)
    neighbor = path.neighbor_ip
    local = not path.is_from_external and neighbor in ("", "<nil>")
    return PathView(
        prefix=prefix,
        local=local,
        best=path.best,
        neighbor=neighbor,
        origin=origin,
        next_hop=next_hop,
        med=med,
        communities=communities,
        as_path=tuple(as_path),
        other_attributes=tuple(other),
        uuid=bytes(path.uuid),
    )
