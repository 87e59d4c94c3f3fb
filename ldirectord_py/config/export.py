"""A Config as plain data (for `validate --json` and the status socket)."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Mapping
from typing import Any

from ldirectord_py.config.errors import ConfigWarning
from ldirectord_py.config.model import (
    ANYCAST_DIRECTIVES,
    ANYCAST_VIP_FIELDS,
    AnycastDown,
    Config,
    MaxWithdraw,
    Virtual,
)
from ldirectord_py.config.secrets import MASK, SECRET_DIRECTIVES


def plain(value: Any) -> Any:
    """Dataclasses, enums, sets and mappings turned into JSON-ready values."""
    if isinstance(value, (AnycastDown, MaxWithdraw)):
        return str(value)
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (frozenset, set)):
        return sorted(plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def virtual_to_dict(virtual: Virtual) -> dict[str, Any]:
    data: dict[str, Any] = plain(virtual)
    for name in SECRET_DIRECTIVES:  # shown as set, never what they are
        if data[name]:
            data[name] = MASK
    data["identity"] = virtual.identity
    for real, entry in zip(virtual.reals, data["reals"], strict=True):
        entry["check_identity"] = virtual.check_identity(real)
        entry["checkport"] = virtual.checkport_for(real)
        entry["request"] = virtual.request_for(real)
        entry["receive"] = virtual.receive_for(real)
        if virtual.service in ("http", "https", "http_proxy"):
            entry["url"] = virtual.url_for(real)
    return data


def config_to_dict(config: Config) -> dict[str, Any]:
    return {
        "path": config.path,
        "md5": config.digest,
        "settings": plain(config.settings),
        "virtuals": [virtual_to_dict(v) for v in config.virtuals],
        "anycast": anycast_to_dict(config),
        "warnings": [warning_to_dict(w) for w in config.warnings],
    }


def warning_to_dict(warning: ConfigWarning) -> dict[str, Any]:
    return {
        "path": warning.path,
        "line": warning.line,
        "code": warning.code or "original",
        "message": warning.message,
    }


# ------------------------------------------------------------------------ anycast

_GLOBAL_ANYCAST = (
    "prefixes",
    "method",
    "gobgpapi",
    "gobgpversion",
    "maxwithdraw",
    "stop",
    "interface",
    "nexthop",
    "nexthop6",
    "communities",
    "med",
    "down",
    "when",
    "holddown",
)


def anycast_configured(config: Config) -> bool:
    """True when the file has any anycast directive (else nothing is shown)."""
    return bool(config.settings.anycast.sources) or any(
        v.anycast is not None for v in config.virtuals
    )


def _show_anycast(key: str, value: Any) -> str:
    if value is None:
        return {"maxwithdraw": "unlimited"}.get(key, "-")
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) or "-"
    return str(value)


def anycast_vips(config: Config) -> dict[str, list[Virtual]]:
    """The anycast virtuals grouped by VIP address, in file order."""
    vips: dict[str, list[Virtual]] = {}
    for virtual in config.virtuals:
        if virtual.anycast is not None:
            vips.setdefault(virtual.anycast.address, []).append(virtual)
    return vips


def _vip_origin(config: Config, virtuals: list[Virtual], key: str) -> str:
    """Where a VIP's value comes from: the virtual lines that set it, the global line
    (one per family for the next hop), or the default."""
    lines = [
        v.anycast.sources[key]
        for v in virtuals
        if v.anycast is not None and key in v.anycast.sources
    ]
    if lines:
        return ("line " if len(lines) == 1 else "lines ") + ", ".join(str(n) for n in lines)
    global_key = key
    first = virtuals[0]
    if key == "nexthop" and first.family == 6:
        global_key = "nexthop6"
    sources = config.settings.anycast.sources
    if global_key in sources:
        return f"global, line {sources[global_key]}"
    return "default"


def anycast_to_dict(config: Config) -> dict[str, Any]:
    """The anycast values, each with its directive and origin, and every VIP."""
    settings = config.settings.anycast
    result: dict[str, Any] = {
        "enabled": any(v.anycast is not None for v in config.virtuals),
        "settings": [
            {
                "directive": ANYCAST_DIRECTIVES[key],
                "field": key,
                "value": plain(getattr(settings, key)),
                "origin": f"line {settings.sources[key]}" if key in settings.sources else "default",
            }
            for key in _GLOBAL_ANYCAST
        ],
        "vips": [],
    }
    for address, virtuals in anycast_vips(config).items():
        anycast = virtuals[0].anycast
        assert anycast is not None
        result["vips"].append(
            {
                "address": address,
                "prefix": str(anycast.prefix),
                "virtuals": [v.identity for v in virtuals],
                "settings": [
                    {
                        "directive": ANYCAST_DIRECTIVES[key],
                        "field": key,
                        "value": plain(getattr(anycast, key)),
                        "origin": _vip_origin(config, virtuals, key),
                    }
                    for key in ANYCAST_VIP_FIELDS
                ],
            }
        )
    return result


def render_anycast(config: Config) -> list[str]:
    """`validate`'s anycast section: each value and its origin, then each VIP.
    Empty for a file without anycast directives (its output stays as before)."""
    if not anycast_configured(config):
        return []
    data = anycast_to_dict(config)
    settings = config.settings.anycast
    out = ["", f"anycast ({len(data['vips'])} VIPs, method {settings.method}):"]
    for row in data["settings"]:
        key = row["field"]
        name = row["directive"] + (" (IPv6)" if key == "nexthop6" else "")
        value = _show_anycast(key, getattr(settings, key))
        out.append(f"    {name:<22} {value:<30} ({row['origin']})")
    for address, virtuals in anycast_vips(config).items():
        anycast = virtuals[0].anycast
        assert anycast is not None
        out += ["", f"anycast VIP {address} (in {anycast.prefix}):"]
        out += [f"    virtual {v.label} (line {v.line})" for v in virtuals]
        for key in ANYCAST_VIP_FIELDS:
            value = _show_anycast(key, getattr(anycast, key))
            origin = _vip_origin(config, virtuals, key)
            out.append(f"    {ANYCAST_DIRECTIVES[key]:<22} {value:<30} ({origin})")
    return out
