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
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

# A check: says "up" by returning a short reason, "down" by raising CheckFailed
# (or an OSError, which the runner names); the runtime holds the loop's shared
# sockets and deadlines.
CheckFn = Callable[["CheckSpec", "CheckRuntime"], Awaitable[str]]

# A little slack on top of the per-attempt deadlines of ping, so that the attempts'
# own timeouts (with their clearer reason) fire before the outer one.
PING_SLACK = 0.05


class Timeouts(Protocol):
    """What a deadline is made of: a CheckSpec's values, or a config Virtual's
    (config lint weighs a virtual's deadline before any spec exists)."""

    @property
    def checktimeout(self) -> float: ...

    @property
    def negotiatetimeout(self) -> float: ...

    @property
    def checkcount(self) -> int: ...


@dataclass(frozen=True)
class DeadlineRule:
    """How long one check may last: the value of `directive`, `checkcount` times
    over for a check of that many attempts. The runner arms it; config lint
    compares it with checkinterval and names the directive to change."""

    directive: Literal["checktimeout", "negotiatetimeout"]
    per_attempt: bool = False

    def nominal(self, values: Timeouts) -> float:
        """The deadline as the configuration states it (lint's figure)."""
        value = (
            values.negotiatetimeout if self.directive == "negotiatetimeout" else values.checktimeout
        )
        return max(1, values.checkcount) * value if self.per_attempt else value

    def __call__(self, values: Timeouts) -> float:
        """The deadline the runner arms (the attempts' own timeouts fire first)."""
        return self.nominal(values) + (PING_SLACK if self.per_attempt else 0.0)

    @property
    def words(self) -> str:
        """What sets it, as a warning names it."""
        return f"checkcount x {self.directive}" if self.per_attempt else self.directive


# The deadline is checktimeout; negotiatetimeout (most negotiate services, spec
# 5.3); checkcount attempts of checktimeout each (ping).
checktimeout = DeadlineRule("checktimeout")
negotiatetimeout = DeadlineRule("negotiatetimeout")
attempts = DeadlineRule("checktimeout", per_attempt=True)


@dataclass(frozen=True)
class CheckDescriptor:
    """One check module, as the rest of the daemon sees it.

    - `check`: the coroutine function that runs one check.
    - `deadline`: the rule giving the check's deadline from its spec.
    - `waits`: whether the check waits on the real (False: it answers at once,
      on and none; no deadline can fire, so config lint does not weigh it).
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
    waits: bool = True

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
