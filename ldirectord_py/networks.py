"""IP networks as every layer passes them: one type alias, one containment test.

A leaf module (the standard library only), so that the config, the engine, the
route writers and the command line share these without importing each other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
"""An IPv4 or IPv6 network (a VIP's /32 or /128 is one too)."""


def inside(prefix: Network, networks: Iterable[Network]) -> bool:
    """Whether `prefix` lies in one of `networks`: the anycast prefix guard, the one
    test that decides whether a route or a VIP address may be touched at all."""
    return any(
        prefix.version == n.version and prefix.subnet_of(n)  # type: ignore[arg-type]
        for n in networks
    )
