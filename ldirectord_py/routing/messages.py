"""Building and reading GoBGP API messages: pure functions, no I/O.

A `Route` (routing/model.py) becomes a GoBGP `Path` with an IPAddressPrefix
NLRI and these attributes, in either API (dialects.py wraps them: Any in 3.x,
typed oneofs in 4.x):

- IPv4 /32: ORIGIN, NEXT_HOP (0.0.0.0 = "the session's local address"),
  optional AS_PATH, MULTI_EXIT_DISC, COMMUNITIES;
- IPv6 /128: the same, but the next hop ("::" by default) and a copy of the NLRI
  go in MP_REACH_NLRI instead of NEXT_HOP.

AS-path prepend: GoBGP itself puts the local AS once on the path towards an eBGP
peer, so `Route.prepend = n` sends n copies of the local AS and the peer sees
n + 1. Parsing does the reverse (`PathView`), so a path read back with ListPath
compares equal to the Route that produced it (`PathView.matches`).

The generated modules are untyped; this module and dialects.py are the typed
boundary.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..networks import Network
from .dialects import Dialect
from .model import HostPrefix, Origin, Route

ORIGIN_CODES: dict[Origin, int] = {"igp": 0, "egp": 1, "incomplete": 2}
ORIGIN_NAMES: dict[int, Origin] = {v: k for k, v in ORIGIN_CODES.items()}
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


def family(d: Dialect, version: int) -> Any:
    """The Family of IPv4 or IPv6 unicast."""
    afi = d.pb.Family.AFI_IP if version == 4 else d.pb.Family.AFI_IP6
    return d.pb.Family(afi=afi, safi=d.pb.Family.SAFI_UNICAST)


def nlri(d: Dialect, prefix: HostPrefix) -> Any:
    return d.wrap_nlri(
        d.pb.IPAddressPrefix(prefix=str(prefix.network_address), prefix_len=prefix.prefixlen)
    )


def build_path(d: Dialect, route: Route, local_asn: int | None = None) -> Any:
    """The Path announcing `route`. `local_asn` is needed when route.prepend > 0."""
    check_route(route)
    pb = d.pb
    prefix = route.prefix
    fam = family(d, prefix.version)
    prefix_nlri = nlri(d, prefix)
    attrs = [pb.OriginAttribute(origin=ORIGIN_CODES[route.origin])]
    if prefix.version == 4:
        attrs.append(pb.NextHopAttribute(next_hop=route.next_hop or "0.0.0.0"))
    else:
        attrs.append(
            pb.MpReachNLRIAttribute(
                family=fam, next_hops=[route.next_hop or "::"], nlris=[prefix_nlri]
            )
        )
    if route.prepend:
        if not local_asn:
            raise ValueError(f"{prefix}: AS-path prepend needs the local AS (GetBgp)")
        segment = pb.AsSegment(type=d.AS_SEQUENCE, numbers=[local_asn] * route.prepend)
        attrs.append(pb.AsPathAttribute(segments=[segment]))
    if route.med is not None:
        attrs.append(pb.MultiExitDiscAttribute(med=route.med))
    if route.communities:
        values = [parse_community(c) for c in normalise_communities(route.communities)]
        attrs.append(pb.CommunitiesAttribute(communities=values))
    return pb.Path(family=fam, nlri=prefix_nlri, pattrs=[d.wrap_attribute(a) for a in attrs])


def build_withdraw_path(d: Dialect, prefix: HostPrefix) -> Any:
    """The Path naming `prefix` for DeletePath (only family and NLRI matter).

    DeletePath is only ever sent with a path: without one, gobgpd deletes every
    locally originated route, ours and everyone else's.
    """
    return build_path(d, Route(prefix))


def add_path_request(d: Dialect, route: Route, local_asn: int | None = None) -> Any:
    return d.pb.AddPathRequest(table_type=d.GLOBAL, path=build_path(d, route, local_asn))


def delete_path_request(d: Dialect, prefix: HostPrefix) -> Any:
    request = d.pb.DeletePathRequest(
        table_type=d.GLOBAL,
        family=family(d, prefix.version),
        path=build_withdraw_path(d, prefix),
    )
    assert_safe_delete(request)
    return request


def assert_safe_delete(request: Any) -> None:
    """Refuse a DeletePathRequest without a path NLRI or UUID (it would delete everything)."""
    has_path = request.HasField("path") and request.path.HasField("nlri")
    if not has_path and not request.uuid:
        raise ValueError("refusing DeletePath without a path: gobgpd would delete every route")


def add_path_stream_requests(d: Dialect, paths: list[Any], batch: int) -> list[Any]:
    """AddPathStream requests of up to `batch` paths each."""
    return [
        d.pb.AddPathStreamRequest(table_type=d.GLOBAL, paths=paths[i : i + batch])
        for i in range(0, len(paths), batch)
    ]


EXACT_BATCH = 1000
"""Exact lookups per ListPath request."""


def list_path_requests(
    d: Dialect, version: int, *, exact: Sequence[Network] = (), longer: Sequence[Network] = ()
) -> list[Any]:
    """ListPath requests for the global IPv`version` unicast table: `exact` prefixes
    looked up one by one (a map lookup each in gobgpd, in batches of EXACT_BATCH),
    `longer` ones with everything inside them (gobgpd walks its whole table for
    each: the cost grows with a full table). Nothing asked, nothing listed: an
    empty list (never the unrestricted request, which returns the whole table).
    """
    exact = [p for p in exact if p.version == version]
    lookups = [
        d.pb.TableLookupPrefix(prefix=str(p), type=d.LOOKUP_LONGER)
        for p in longer
        if p.version == version
    ]
    batches = [lookups] if lookups else []
    for i in range(0, len(exact), EXACT_BATCH):
        batches.append(
            [
                d.pb.TableLookupPrefix(prefix=str(p), type=d.LOOKUP_EXACT)
                for p in exact[i : i + EXACT_BATCH]
            ]
        )
    fam = family(d, version)
    return [d.pb.ListPathRequest(table_type=d.GLOBAL, family=fam, prefixes=b) for b in batches]


def list_whole_table_request(d: Dialect, version: int) -> Any:
    """ListPath of the whole global IPv`version` table (tests and `ldirectordctl`)."""
    return d.pb.ListPathRequest(table_type=d.GLOBAL, family=family(d, version))


@dataclass(frozen=True)
class PathView:
    """One path of GoBGP's table, read back with ListPath, in Route's terms."""

    prefix: Network
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


def parse_path(d: Dialect, path: Any) -> PathView:
    """A Path from ListPath (or a table event) as a PathView."""
    prefix_msg = d.nlri_prefix(path)
    if prefix_msg is None:
        raise ValueError("path with an NLRI kind other than an IP prefix")
    prefix = ipaddress.ip_network(f"{prefix_msg.prefix}/{prefix_msg.prefix_len}", strict=False)
    origin: Origin | None = None
    next_hop: str | None = None
    med: int | None = None
    communities: tuple[str, ...] = ()
    as_path: list[int] = []
    other: list[str] = []
    for kind, attr in d.attributes(path):
        if attr is None:
            other.append(kind)
        elif kind == "origin":
            origin = ORIGIN_NAMES.get(attr.origin)
        elif kind == "next_hop":
            next_hop = attr.next_hop
        elif kind == "mp_reach":
            next_hop = attr.next_hops[0] if attr.next_hops else None
        elif kind == "med":
            med = attr.med
        elif kind == "communities":
            communities = tuple(format_community(c) for c in attr.communities)
        elif kind == "as_path":
            for segment in attr.segments:
                as_path.extend(segment.numbers)
        elif kind != "local_pref":
            other.append(kind)
    neighbor = path.neighbor_ip
    # 3.x reports "<nil>" for locally originated paths, 4.x an empty string.
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


def expected_view(route: Route, local_asn: int | None) -> PathView:
    """The PathView ListPath will show once `route` is announced (no protobuf involved)."""
    return PathView(
        prefix=route.prefix,
        local=True,
        best=True,
        neighbor="",
        origin=route.origin,
        next_hop=route.next_hop or ("0.0.0.0" if route.prefix.version == 4 else "::"),
        med=route.med,
        communities=normalise_communities(route.communities),
        as_path=(local_asn,) * route.prepend if local_asn else (),
        other_attributes=(),
    )
