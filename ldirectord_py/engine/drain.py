"""Drained reals: weight 0 in every virtual that has them, checks going on.

An operator drains a real (`ldirectordctl drain 10.0.0.5:80`) to let its
connections finish before maintenance. Unlike a failed check or a
`maintenancedir` file it does not depend on `quiescent`: a drained real stays in
the table at weight 0, so established connections keep their server. Applied to
the engine's desired table as a last step, so the engine's decisions are
untouched and undrain restores exactly what the engine wants.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable

from ldirectord_py.ipvs.model import Destination, VirtualService


@dataclasses.dataclass(frozen=True, order=True)
class DrainKey:
    """A real by address, and port unless every port of that address is meant."""

    address: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> DrainKey:
        """`ADDR`, `ADDR:PORT`, `[V6]:PORT` or `V6` (raises ValueError, naming it)."""
        raw = text.strip()
        host, port = raw, None
        if raw.startswith("["):
            end = raw.find("]")
            if end < 0:
                raise ValueError(f"{text!r}: unbalanced '['")
            host, rest = raw[1:end], raw[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"{text!r}: expected ':PORT' after ']'")
                port = rest[1:]
        elif raw.count(":") == 1:
            host, port = raw.split(":")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{text!r}: not an IP address (use the real's address)") from None
        number: int | None = None
        if port is not None:
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{text!r}: port must be 1-65535")
            number = int(port)
        return cls(str(address), number)

    def matches(self, destination: Destination) -> bool:
        return str(destination.address) == self.address and (
            self.port is None or destination.port == self.port
        )

    def __str__(self) -> str:
        if self.port is None:
            return self.address
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def apply_drains(
    desired: tuple[VirtualService, ...], drained: Iterable[DrainKey]
) -> tuple[VirtualService, ...]:
    """The desired table with every drained real at weight 0."""
    keys = tuple(drained)
    if not keys:
        return desired
    out = []
    for service in desired:
        if any(k.matches(d) and d.weight for d in service.destinations for k in keys):
            service = dataclasses.replace(
                service,
                destinations=tuple(
                    dataclasses.replace(d, weight=0)
                    if d.weight and any(k.matches(d) for k in keys)
                    else d
                    for d in service.destinations
                ),
            )
        out.append(service)
    return tuple(out)
