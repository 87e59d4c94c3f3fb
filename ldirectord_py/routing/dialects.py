"""The two GoBGP gRPC APIs, side by side: everything that differs between them.

GoBGP 3.x (Debian 12: 3.10.0, Debian 13: 3.36.0) serves `apipb.GobgpApi` and
wraps NLRI and path attributes in google.protobuf.Any; GoBGP 4.x (Debian
unstable: 4.8.0) serves `api.GoBgpService`, with typed `NLRI` and `Attribute`
oneofs and every enum shifted by an *_UNSPECIFIED zero. The requests, replies
and field names we use are otherwise the same, so messages.py and gobgp.py are
written once against `Dialect`, and a `Dialect` answers the rest.

Attribute kinds are ours, the same for both: "origin", "next_hop", "mp_reach",
"as_path", "med", "local_pref", "communities"; an attribute we do not model is
reported by its GoBGP name (the Any type name in 3.x, "unknown" in 4.x, whose
oneof leaves it unset).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from google.protobuf import any_pb2

try:
    from ._gen import gobgp_v3_pb2 as pb3
    from ._gen import gobgp_v3_pb2_grpc as pb3_grpc
    from ._gen import gobgp_v4_pb2 as pb4
    from ._gen import gobgp_v4_pb2_grpc as pb4_grpc
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "ldirectord_py.routing._gen is missing: the GoBGP gRPC modules are generated "
        "when the package is built; run `make venv` (or `pip install -e .`)"
    ) from exc


class Dialect(ABC):
    """One major version of GoBGP's API."""

    major: int
    service: str
    """The gRPC service's full name, as it appears in method paths."""
    pb: Any
    """The generated module: request and message classes have the same names in both."""
    GLOBAL: int
    LOOKUP_EXACT: int
    LOOKUP_LONGER: int
    ADMIN_DOWN: int
    END_OF_INIT: int
    ESTABLISHED = 6
    AS_SEQUENCE = 2

    @property
    def label(self) -> str:
        """'4.x (api.GoBgpService)': what status and `ldirectordctl routes` show."""
        return f"{self.major}.x ({self.service})"

    @abstractmethod
    def stub(self, channel: Any) -> Any:
        """The generated client stub on `channel`."""

    @abstractmethod
    def wrap_nlri(self, prefix: Any) -> Any:
        """An IPAddressPrefix as the Path.nlri / MpReachNLRIAttribute.nlris item."""

    @abstractmethod
    def wrap_attribute(self, attribute: Any) -> Any:
        """An attribute message (OriginAttribute, ...) as a Path.pattrs item."""

    @abstractmethod
    def nlri_prefix(self, path: Any) -> Any | None:
        """The IPAddressPrefix of a path, or None for an NLRI kind we do not model."""

    @abstractmethod
    def attributes(self, path: Any) -> Iterator[tuple[str, Any | None]]:
        """(kind, message) per attribute of a path; message None: not modelled."""


_KINDS = {
    "OriginAttribute": "origin",
    "NextHopAttribute": "next_hop",
    "MpReachNLRIAttribute": "mp_reach",
    "AsPathAttribute": "as_path",
    "MultiExitDiscAttribute": "med",
    "LocalPrefAttribute": "local_pref",
    "CommunitiesAttribute": "communities",
}
"""Message name -> our attribute kind (the message names are the same in both APIs)."""

_V4_FIELDS = {
    "origin": "origin",
    "next_hop": "next_hop",
    "mp_reach": "mp_reach",
    "as_path": "as_path",
    "med": "multi_exit_disc",
    "local_pref": "local_pref",
    "communities": "communities",
}
"""Our kind -> the field of 4.x's `Attribute` oneof."""
_V4_KIND_OF_FIELD = {field: kind for kind, field in _V4_FIELDS.items()}


class DialectV3(Dialect):
    major = 3
    service = "apipb.GobgpApi"
    pb = pb3
    GLOBAL = pb3.GLOBAL
    LOOKUP_EXACT = pb3.TableLookupPrefix.EXACT
    LOOKUP_LONGER = pb3.TableLookupPrefix.LONGER
    ADMIN_DOWN = pb3.PeerState.DOWN
    END_OF_INIT = pb3.WatchEventResponse.PeerEvent.END_OF_INIT
    TYPE_URL_PREFIX = "type.googleapis.com/apipb."

    def stub(self, channel: Any) -> Any:
        return pb3_grpc.GobgpApiStub(channel)

    def wrap_nlri(self, prefix: Any) -> Any:
        return _pack(prefix)

    def wrap_attribute(self, attribute: Any) -> Any:
        return _pack(attribute)

    def nlri_prefix(self, path: Any) -> Any | None:
        prefix = pb3.IPAddressPrefix()
        return prefix if path.nlri.Unpack(prefix) else None

    def attributes(self, path: Any) -> Iterator[tuple[str, Any | None]]:
        for wrapped in path.pattrs:
            name = type_name(wrapped)
            kind = _KINDS.get(name)
            message = None
            if kind is not None:
                message = getattr(pb3, name)()
                if not wrapped.Unpack(message):
                    message = None
            yield (kind or name), message


class DialectV4(Dialect):
    major = 4
    service = "api.GoBgpService"
    pb = pb4
    GLOBAL = pb4.TABLE_TYPE_GLOBAL
    LOOKUP_EXACT = pb4.TableLookupPrefix.TYPE_EXACT
    LOOKUP_LONGER = pb4.TableLookupPrefix.TYPE_LONGER
    ADMIN_DOWN = pb4.PeerState.ADMIN_STATE_DOWN
    END_OF_INIT = pb4.WatchEventResponse.PeerEvent.TYPE_END_OF_INIT

    def stub(self, channel: Any) -> Any:
        return pb4_grpc.GoBgpServiceStub(channel)

    def wrap_nlri(self, prefix: Any) -> Any:
        return pb4.NLRI(prefix=prefix)

    def wrap_attribute(self, attribute: Any) -> Any:
        field = _V4_FIELDS[_KINDS[attribute.DESCRIPTOR.name]]
        return pb4.Attribute(**{field: attribute})

    def nlri_prefix(self, path: Any) -> Any | None:
        if path.nlri.WhichOneof("nlri") != "prefix":
            return None
        return path.nlri.prefix

    def attributes(self, path: Any) -> Iterator[tuple[str, Any | None]]:
        for attribute in path.pattrs:
            field = attribute.WhichOneof("attr")
            if field is None:
                yield "unknown", None
            else:
                yield _V4_KIND_OF_FIELD[field], getattr(attribute, field)


def _pack(message: Any) -> Any:
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return wrapped


def type_name(wrapped: Any) -> str:
    """'OriginAttribute' for a 3.x Any of type.googleapis.com/apipb.OriginAttribute."""
    url: str = wrapped.type_url
    return url.rsplit("/", 1)[-1].removeprefix("apipb.")


V3 = DialectV3()
V4 = DialectV4()
DIALECTS: dict[int, Dialect] = {3: V3, 4: V4}
PROBE_ORDER: tuple[Dialect, ...] = (V4, V3)
"""Auto-detection asks the current API first."""
