"""Parser tests run offline: names resolve from a fixed table, never through DNS."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ldirectord_py.config import Config, ConfigError, parse_text
from ldirectord_py.config.resolve import StaticResolver

HOSTS = {
    "localhost": ("127.0.0.1", "::1"),
    "backend-a": ("127.0.0.11", None),
    "backend-b": ("127.0.0.12", None),
    "vip": ("127.0.0.100", None),
    "web6": (None, "2001:db8::80"),
}
SERVICES = {
    ("http", "tcp"): 80,
    ("http", "udp"): 80,
    ("http", ""): 80,
    ("https", "tcp"): 443,
    ("https", ""): 443,
    ("domain", "udp"): 53,
    ("domain", "tcp"): 53,
    ("domain", ""): 53,
    ("ftp", "tcp"): 21,
    ("ftp", ""): 21,
    ("smtp", "tcp"): 25,
    ("smtp", ""): 25,
}
RESOLVER = StaticResolver(HOSTS, SERVICES)

Parse = Callable[..., Config]


def parse(text: str, **kwargs: object) -> Config:
    """Parse `text` as /etc/ha.d/test.cf, offline, without file side effects."""
    kwargs.setdefault("check_files", False)
    kwargs.setdefault("hostname", "director1")
    return parse_text(text, "/etc/ha.d/test.cf", resolver=RESOLVER, **kwargs)  # type: ignore[arg-type]


def parse_error(text: str, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, **kwargs)
    return info.value


@pytest.fixture
def cfg() -> Callable[..., Config]:
    return parse


@pytest.fixture
def cfg_error() -> Callable[..., ConfigError]:
    return parse_error
