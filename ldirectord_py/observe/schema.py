"""The status snapshot: one typed, versioned picture of a running daemon.

The director builds it from the engine and the writers (ip_vs, GoBGP routes, VIP
addresses); the control socket serialises it to JSON once; `ldirectordctl
status|routes|list --health` decode the JSON back into these classes, and the
metrics exporter reads them directly. Nothing between components passes an
untyped dictionary.

Compatibility rule (docs/observability.md, "The status document"): within one
`SCHEMA_VERSION` keys are only ever added, never removed, renamed or given
another type or meaning; a reader ignores keys it does not know and takes a
missing key as its default here, so an older daemon's document (schema 1: the
unversioned document before this module) still decodes. Anything else bumps
the version.
"""

from __future__ import annotations

import dataclasses
import platform
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from ldirectord_py.engine.events import RealState as RealState

SCHEMA_VERSION = 2
"""Version 1 is the unversioned document of earlier releases (read as such)."""

JsonObject = Mapping[str, object]
"""An opaque JSON object passed through as read (GoBGP path attributes, a route)."""


class VipState(StrEnum):
    ANNOUNCED = "announced"
    DEPREFERRED = "depreferred"
    WITHDRAWN = "withdrawn"
    HELD = "held"
    UNKNOWN = "unknown"
    MAINTENANCE = "maintenance"


# --------------------------------------------------------------------- the reals


@dataclass(frozen=True)
class RealSnapshot:
    """One real as one virtual sees it.

    `weight` is the weight the daemon wants in the table now (the engine's
    decision with drains applied): the configured weight when up, 0 when
    quiesced or drained, None when the real is not in the table (deleted, or
    never added). `programmed_weight` is what the kernel held after the ip_vs
    writer's last attempt (None: not there, or ip_vs unavailable); the two
    differ while a change is on its way or when the kernel refused it."""

    real: str = ""
    kernel: str | None = None
    """The real as the kernel stores it (a gate real takes its virtual's port)."""
    weight: int | None = None
    programmed_weight: int | None = None
    forward: str | None = None
    """ipvsadm's Forward column: Masq, Route, Tunnel, Local."""
    drained: bool = False
    state: RealState = RealState.UNKNOWN
    since: float = 0.0
    failures: int = 0
    """Consecutive failed checks, counted from the first failure (0 after a success)."""
    last_ok: bool | None = None
    last_reason: str = ""
    last_latency: float | None = None
    last_kind: str = ""
    """The last result's FailureKind value ("none" for a success; "" from a daemon
    older than the key). Text, not the enum, so a reader older than a new kind
    still decodes the document."""

    @property
    def converged(self) -> bool:
        return self.weight == self.programmed_weight

    def to_json(self) -> dict[str, object]:
        return {
            "real": self.real,
            "kernel": self.kernel,
            "weight": self.weight,
            "programmed_weight": self.programmed_weight,
            "forward": self.forward,
            "drained": self.drained,
            "state": self.state.value,
            "since": self.since,
            "failures": self.failures,
            "last_ok": self.last_ok,
            "last_reason": self.last_reason,
            "last_latency": self.last_latency,
            "last_kind": self.last_kind,
        }


@dataclass(frozen=True, slots=True)
class VirtualSnapshot:
    virtual: str = ""
    """The virtual's identity (`tcp:198.51.100.10:80`): the metrics' label."""
    service: str | None = None
    """The ip_vs service as `ipvsadm -L -n` names it (None: cannot be programmed)."""
    checktype: str = ""
    scheduler: str | None = None
    persistence: int | None = None
    fallback: str | None = None
    """The fallback server (host:port), if the virtual has one."""
    programmed: bool = False
    """The kernel holds this virtual's service (after the writer's last attempt)."""
    fallback_active: bool = False
    fallback_kernel: str | None = None
    """The fallback as the kernel stores it (`host:port`; a gate/ipip one takes the
    virtual's port), so a reader can show the table without asking the kernel."""
    fallback_forward: str | None = None
    """ipvsadm's Forward column for the fallback (`Masq`, `Route`, ...)."""
    reals: tuple[RealSnapshot, ...] = ()

    @property
    def reals_up(self) -> int:
        return sum(r.state is RealState.UP for r in self.reals)

    def header_json(self) -> dict[str, object]:
        """Everything but the reals (the encoder adds them in slices)."""
        return {
            "virtual": self.virtual,
            "service": self.service,
            "checktype": self.checktype,
            "scheduler": self.scheduler,
            "persistence": self.persistence,
            "fallback": self.fallback,
            "programmed": self.programmed,
            "fallback_active": self.fallback_active,
            "fallback_kernel": self.fallback_kernel,
            "fallback_forward": self.fallback_forward,
        }

    def to_json(self) -> dict[str, object]:
        return self.header_json() | {"reals": [r.to_json() for r in self.reals]}


# ----------------------------------------------------------------- the dataplane


@dataclass(frozen=True, slots=True)
class DataplaneSnapshot:
    converged: bool = False
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None
    operations: int = 0
    errors: int = 0
    reconciles: int = 0
    available: bool = True
    unavailable: str | None = None
    """Why ip_vs cannot be used (None while it can)."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """Per service (as ipvsadm names it): why the kernel would not take it."""


@dataclass(frozen=True, slots=True)
class WriterHealthSnapshot:
    crashes: int = 0
    last_crash: str | None = None
    last_crash_at: float | None = None
    restarting: bool = False
    stalled: bool = False


@dataclass(frozen=True, slots=True)
class WatchdogSnapshot:
    stalled: bool = False
    limit: float | None = None
    last_result_age: float | None = None


@dataclass(frozen=True, slots=True)
class PlannedMaintenanceSnapshot:
    vips: Mapping[str, float] = field(default_factory=dict)
    """VIP -> since (epoch)."""
    file: str | None = None
    load_error: str | None = None
    last: JsonObject | None = None


@dataclass(frozen=True)
class ConfigChange:
    """What a new configuration changes, by virtual identity and `identity real`.

    Made by `observe.reloads.config_change` on every applied reload."""

    virtuals_added: tuple[str, ...] = ()
    virtuals_removed: tuple[str, ...] = ()
    virtuals_changed: tuple[str, ...] = ()
    reals_added: tuple[str, ...] = ()
    reals_removed: tuple[str, ...] = ()
    reals_changed: tuple[str, ...] = ()
    globals_changed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(dataclasses.astuple(self))

    def counts(self) -> str:
        """`virtuals +1 -0 ~2, reals +3 -1 ~0` (the whole change, one short line)."""
        return (
            f"virtuals +{len(self.virtuals_added)} -{len(self.virtuals_removed)} "
            f"~{len(self.virtuals_changed)}, reals +{len(self.reals_added)} "
            f"-{len(self.reals_removed)} ~{len(self.reals_changed)}"
        )

    def describe(self, limit: int = 10) -> str:
        """The counts, and then the names (at most `limit` of each kind)."""
        if self.empty:
            return "no change"
        parts = [self.counts()]
        for word, names in (
            ("virtuals added", self.virtuals_added),
            ("virtuals removed", self.virtuals_removed),
            ("virtuals changed", self.virtuals_changed),
            ("reals added", self.reals_added),
            ("reals removed", self.reals_removed),
            ("reals changed", self.reals_changed),
            ("global settings changed", self.globals_changed),
        ):
            if names:
                shown = ", ".join(names[:limit])
                more = f" and {len(names) - limit} more" if len(names) > limit else ""
                parts.append(f"{word}: {shown}{more}")
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {f.name: list(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class ReloadSnapshot:
    """The last reload (signal, autoreload or control socket) as the status
    document carries it: `observe.reloads.ReloadResult.snapshot()`, which the
    main loop makes on every reload. None until the first reload."""

    at: float = 0.0
    """Epoch seconds the reload ended."""
    trigger: str = ""
    """What asked for it: signal, autoreload, control socket."""
    ok: bool = False
    config: str = ""
    """The config path, as given on the command line."""
    error: str | None = None
    where: str | None = None
    """`FILE:LINE` of the first error, when the file was refused."""
    change: ConfigChange | None = None
    """What the new file changed (None when the reload was refused)."""
    last_success_at: float | None = None
    """Epoch seconds of the last reload that applied (None: none since the start)."""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str = ""
    python: str = ""


def build_info() -> BuildInfo:
    """This daemon's version and the Python running it."""
    from ldirectord_py import __version__

    return BuildInfo(version=__version__, python=platform.python_version())


# ------------------------------------------------------------------- anycast


@dataclass(frozen=True, slots=True)
class VipSnapshot:
    vip: str = ""
    state: VipState = VipState.UNKNOWN
    reason: str = ""
    since: float = 0.0
    virtuals: tuple[str, ...] = ()
    guarded: bool = False
    """The max-withdraw guard keeps the route although the policy would withdraw it."""
    maintenance: bool = False


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    address: str = ""
    asn: int = 0
    state: str = ""
    admin_down: bool = False
    uptime: float | None = None
    hold_time: int = 0
    description: str = ""

    @property
    def established(self) -> bool:
        return "established" in self.state.lower()


@dataclass(frozen=True, slots=True)
class GoBGPSnapshot:
    method: str = "gobgp"
    target: str = ""
    connected: bool = False
    since: float = 0.0
    last_error: str | None = None
    local_asn: int | None = None
    router_id: str = ""
    api: str | None = None
    api_version: str = "auto"
    no_api: bool = False
    prefixes: tuple[str, ...] = ()
    converged: bool = False
    peers: tuple[PeerSnapshot, ...] = ()
    ours: Mapping[str, JsonObject] = field(default_factory=dict)
    """Our desired routes with their attributes."""
    gobgp: Mapping[str, JsonObject | None] = field(default_factory=dict)
    """What GoBGP holds for each of them (None: nothing)."""
    refused: Mapping[str, str] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_major(self) -> int:
        """3 or 4 (0: none found yet)."""
        return int(self.api[0]) if self.api and self.api[0] in "34" else 0


@dataclass(frozen=True, slots=True)
class InterfacesSnapshot:
    method: str = "interface"
    netns: str | None = None
    converged: bool = False
    since: float = 0.0
    last_error: str | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    desired: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    actual: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per interface read so far: the VIP addresses of ours it carries."""
    refused: Mapping[str, str] = field(default_factory=dict)
    prefixes: tuple[str, ...] = ()

    def carrying(self, vip: str) -> tuple[str, ...]:
        """The interfaces that carry `vip`."""
        return tuple(name for name, vips in self.actual.items() if vip in vips)


@dataclass(frozen=True, slots=True)
class AnycastSnapshot:
    enabled: bool = False
    method: str | None = None
    vips: tuple[VipSnapshot, ...] = ()
    gobgp: GoBGPSnapshot | None = None
    interfaces: InterfacesSnapshot | None = None

    def to_json(self) -> dict[str, object]:
        if not self.enabled:
            return {"enabled": False}
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}


# -------------------------------------------------------------------- the whole


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """The whole status document (see docs/observability.md)."""

    schema: int = 1
    status: str = ""
    """The original's daemon status: starting, running, reloading, stopping."""
    config: str | None = None
    pid: int | None = None
    started_at: float | None = None
    last_result_at: float | None = None
    """Monotonic (the daemon's clock) time of the last completed check."""
    build: BuildInfo = BuildInfo()
    dataplane: DataplaneSnapshot = DataplaneSnapshot()
    drained: tuple[str, ...] = ()
    watchdog: WatchdogSnapshot = WatchdogSnapshot()
    anycast: AnycastSnapshot = AnycastSnapshot()
    planned_maintenance: PlannedMaintenanceSnapshot = PlannedMaintenanceSnapshot()
    writers: Mapping[str, WriterHealthSnapshot] = field(default_factory=dict)
    last_reload: ReloadSnapshot | None = None
    virtuals: tuple[VirtualSnapshot, ...] = ()

    def header_json(self) -> dict[str, object]:
        """Everything but the virtuals (the socket's encoder adds them in slices)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            if f.name == "virtuals":
                continue
            out[f.name] = to_json(getattr(self, f.name))
        return out

    def to_json(self) -> dict[str, object]:
        return self.header_json() | {"virtuals": [v.to_json() for v in self.virtuals]}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StatusSnapshot:
        """Decode a status document (of this or an older schema; see the module's
        compatibility rule). Raises ValueError naming the field on a wrong type."""
        return decode(cls, document, "status")


# ---------------------------------------------------------------- JSON mapping


def to_json(value: object) -> Any:
    """A snapshot value as plain JSON data (enums as their text, tuples as lists)."""
    if isinstance(value, RealSnapshot | VirtualSnapshot | AnycastSnapshot):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


_T = TypeVar("_T")
_HINTS: dict[type, dict[str, Any]] = {}


def decode(cls: type[_T], data: object, where: str) -> _T:
    """`data` (parsed JSON) as an instance of the snapshot dataclass `cls`."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _value(hints[f.name], data[f.name], f"{where}.{f.name}")
    return cls(**values)


def _value(hint: Any, data: object, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _value(option, data, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{where}: unexpected null")
    if origin is tuple:
        if not isinstance(data, list | tuple):
            raise ValueError(f"{where}: expected a list, got {type(data).__name__}")
        (item, _ellipsis) = typing.get_args(hint)
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin is Mapping or origin is dict:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        _key, item = typing.get_args(hint)
        return {str(k): _value(item, v, f"{where}.{k}") for k, v in data.items()}
    if hint is object or hint is Any:
        return data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return decode(hint, data, where)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        members = {m.value: m for m in hint}
        if isinstance(data, str) and data in members:
            return members[data]
        raise ValueError(f"{where}: {data!r} is not one of {sorted(members)}")
    if hint is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif hint is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif hint in (str, bool):
        if isinstance(data, hint):
            return data
    else:  # pragma: no cover - a schema field of a type this decoder lacks
        raise TypeError(f"{where}: no decoder for {hint!r}")
    raise ValueError(f"{where}: expected {hint.__name__}, got {type(data).__name__}")
