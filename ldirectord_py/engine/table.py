"""From configuration to ip_vs values: the service a virtual asks for, and the
destination a real or fallback becomes (with the port the kernel will store)."""

from __future__ import annotations

import ipaddress

from ldirectord_py.config import Fallback, Real, Virtual
from ldirectord_py.ipvs.model import (
    Destination,
    Family,
    Forwarding,
    Protocol,
    SchedFlags,
    VirtualService,
    as_address,
)


class ServiceSpecError(ValueError):
    """A virtual the kernel cannot take as written (for example unknown schedflags)."""


def service_for(virtual: Virtual) -> VirtualService:
    """The service `ipvsadm -A` would create for this virtual (without destinations).

    As with the original, the netmask only counts for a persistent service and
    one-packet scheduling only for UDP."""
    family = Family.INET6 if virtual.family == 6 else Family.INET
    flags = SchedFlags.NONE
    if virtual.schedflags:
        try:
            flags = SchedFlags.parse(virtual.schedflags, virtual.scheduler)
        except ValueError as exc:
            raise ServiceSpecError(f"{virtual.identity}: schedflags: {exc}") from None
    netmask: int | None = None
    if virtual.persistent is not None and virtual.netmask is not None:
        if family is Family.INET:
            netmask = int(ipaddress.IPv4Address(virtual.netmask))
        else:
            netmask = int(virtual.netmask)
    settings: dict[str, object] = {
        "scheduler": virtual.scheduler,
        "sched_flags": flags,
        "persistence": virtual.persistent,
        "netmask": netmask,
        "one_packet": virtual.ops and virtual.protocol == "udp",
    }
    try:
        if virtual.fwmark is not None:
            return VirtualService(family, None, None, 0, virtual.fwmark, **settings)  # type: ignore[arg-type]
        assert virtual.address is not None
        protocol = Protocol.UDP if virtual.protocol == "udp" else Protocol.TCP
        return VirtualService(
            family,
            protocol,
            as_address(virtual.address),
            virtual.port,
            **settings,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise ServiceSpecError(f"{virtual.identity}: {exc}") from None


def destination_for(real: Real, *, quiesced: bool = False) -> Destination:
    """A real as configured, or quiesced: weight 0 and, as the original's `ipvsadm
    -e ... -w 0` (without -x/-y) leaves them, no thresholds."""
    return Destination(
        as_address(real.address),
        real.port,
        Forwarding.from_ldirectord(real.forward.value),
        0 if quiesced else real.weight,
        0 if quiesced else real.upper_threshold,
        0 if quiesced else real.lower_threshold,
    )


def fallback_destination(fallback: Fallback) -> Destination:
    """A fallback server: weight 1 and no thresholds, as the original adds it."""
    return Destination(
        as_address(fallback.address),
        fallback.port,
        Forwarding.from_ldirectord(fallback.forward.value),
        1,
    )
