"""A Config as plain data (for `validate --json` and the status socket)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from ldirectord_py.config.model import Config, Virtual


def plain(value: Any) -> Any:
    """Dataclasses, enums, sets and mappings turned into JSON-ready values."""
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
        "warnings": [w.describe() for w in config.warnings],
    }
