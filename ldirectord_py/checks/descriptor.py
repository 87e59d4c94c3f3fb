"""CheckDescriptor: everything the runner, the scheduler and the configuration need
to know about one check module, in one value the module exports as `DESCRIPTOR`.

A check module serves checktypes (connect, ping, ...) or negotiate services
(http, ftp, ...); registry.py lists the modules and derives every table from
their descriptors (the config's SERVICES, CHECKTYPES and SERVICE_PORTS, the
runner's dispatch, the scheduler's fd costs), so nothing else names a check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

# A check: says "up" by returning a short reason, "down" by raising CheckFailed
# (or an OSError, which the runner names); the runtime holds the loop's shared
# sockets and deadlines.
CheckFn = Callable[["CheckSpec", "CheckRuntime"], Awaitable[str]]
DeadlineRule = Callable[["CheckSpec"], float]

# A little slack on top of the per-attempt deadlines of ping, so that the attempts'
# own timeouts (with their clearer reason) fire before the outer one.
PING_SLACK = 0.05


def checktimeout(spec: CheckSpec) -> float:
    """The deadline is checktimeout."""
    return spec.checktimeout


def negotiatetimeout(spec: CheckSpec) -> float:
    """The deadline is negotiatetimeout (most negotiate services, spec 5.3)."""
    return spec.negotiatetimeout


def attempts(spec: CheckSpec) -> float:
    """checkcount attempts of checktimeout each (ping)."""
    return max(1, spec.checkcount) * spec.checktimeout + PING_SLACK


@dataclass(frozen=True)
class CheckDescriptor:
    """One check module, as the rest of the daemon sees it.

    - `check`: the coroutine function that runs one check.
    - `deadline`: the rule giving the check's deadline from its spec.
    - `fd_cost`: the most file descriptors one check holds at once (the
      scheduler's admission charges it).
    - `slotted`: its deadline may fire up to deadline.RESOLUTION late (cheap, for
      the checks that run by the thousand and keep no timer of their own);
      otherwise it gets a precise timer of its own.
    - `checktypes` / `services`: the config words it serves (`checktype=` words;
      `service=` words, checked by negotiate and combined checks).
    - `default_ports`: service -> the well-known port checked when neither
      checkport nor the real's port says which (and the service a virtual's
      port implies).
    - `extras`: service -> (the package extra, the module its check imports),
      for a client library only an extra installs (a config needing a missing
      one is refused when it is read: config/extras.py).
    - `udp`: the check that replaces this one on a udp virtual (connect pings).
    """

    name: str
    check: CheckFn
    deadline: DeadlineRule
    fd_cost: int
    slotted: bool
    checktypes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    default_ports: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    extras: Mapping[str, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    udp: CheckDescriptor | None = None

    def problems(self) -> list[str]:
        """What is missing or inconsistent in this descriptor (empty when complete)."""
        found: list[str] = []
        if not self.name:
            found.append("no name")
        if not callable(self.check):
            found.append("check is not callable")
        if not callable(self.deadline):
            found.append("deadline is not callable")
        if self.fd_cost < 0:
            found.append(f"fd_cost {self.fd_cost} is negative")
        if not self.checktypes and not self.services:
            found.append("serves no checktype and no service")
        for service in self.default_ports:
            if service not in self.services:
                found.append(f"default port for {service!r}, which it does not serve")
        for service in self.extras:
            if service not in self.services:
                found.append(f"extra for {service!r}, which it does not serve")
        for port in self.default_ports.values():
            if not 0 < port < 65536:
                found.append(f"default port {port} out of range")
        if self.udp is not None and not self.checktypes:
            found.append("a udp replacement for a service check")
        return found
