"""What the engine says happened: typed events, one class per kind of change.

The engine performs no I/O and words nothing: it returns these values, and the
daemon hands each to the actuators that act on its type (daemon/actuators: the
log in the original's wording, metrics, monitor files, the mailer, the
fallbackcommand queue, the ip_vs table submission). An actuator matches on the
class and reads fields; no actuator parses a string the engine produced.
(Frozen, slotted dataclasses: immutable, and cheap enough to make per check.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.routing.model import HostPrefix, VipDecision


class RealState(StrEnum):
    """A real as one virtual sees it (the status schema shows the same values)."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"
    """No check has decided it yet."""


@dataclass(frozen=True, slots=True)
class RealChanged:
    """A real went up or down in one virtual (it enters the table, leaves it, or is
    quiesced to weight 0).

    `where` is the virtual as the original's lines name it (`ip:port`, or the
    fwmark); `weight` is the weight the real has in the table now (0 when quiesced
    or deleted); `checked` is False for a `checktype = on` real added at start
    without a check. `reason`/`kind` are those of the check result that caused it
    (`kind` NONE for a success)."""

    virtual: str
    where: str
    real: str
    old: RealState
    new: RealState
    weight: int
    quiescent: bool
    reason: str
    kind: FailureKind
    checked: bool = True


@dataclass(frozen=True, slots=True)
class SoftFailure:
    """A failed check of an up real that has not yet reached `failurecount`."""

    virtual: str
    real: str
    failures: int
    failurecount: int
    reason: str
    kind: FailureKind


@dataclass(frozen=True, slots=True)
class FailureCountReset:
    """A success after soft failures: the count starts again."""

    virtual: str
    real: str


@dataclass(frozen=True, slots=True)
class FallbackChanged:
    """A virtual's fallback server entered (`active`) or left the table."""

    virtual: str
    where: str
    fallback: str
    active: bool


@dataclass(frozen=True, slots=True)
class CommandRequested:
    """A fallbackcommand to run through /bin/sh, as the original runs it."""

    command: str
    virtual: str


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """One check result for a virtual's `monitorfile`, in the original's line
    format; the writer prefixes `[<localtime>] [<pid>] ` as the original does."""

    path: str
    text: str


@dataclass(frozen=True, slots=True)
class Alert:
    """An e-mail alert: the mailer sends it if the daemon's status is in `statuses`."""

    virtual: str
    subject: str
    to: str
    statuses: frozenset[str]
    smtp: str | None
    sender: str | None
    servicename: str | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class ServiceRefusedByConfig:
    """A virtual whose ip_vs service cannot be built from its configuration."""

    virtual: str
    error: str


@dataclass(frozen=True, slots=True)
class DesiredTableChanged:
    """The desired ip_vs table differs from the one of `version - 1`: submit it."""

    version: int


# -- anycast policy (engine/anycast.py) ------------------------------------------


@dataclass(frozen=True, slots=True)
class VipDecided:
    """An anycast VIP's route decision changed (state or guard)."""

    decision: VipDecision


@dataclass(frozen=True, slots=True)
class AnycastDataplaneChanged:
    """ip_vs became unavailable (every anycast VIP it served withdrawn) or available."""

    available: bool


@dataclass(frozen=True, slots=True)
class WithdrawGuardChanged:
    """`anycastmaxwithdraw` engaged (keeping `kept` announced although down) or released."""

    engaged: bool
    down: int
    total: int
    limit: int | None
    kept: tuple[HostPrefix, ...] = ()


AnycastEvent = VipDecided | AnycastDataplaneChanged | WithdrawGuardChanged

Event = (
    RealChanged
    | SoftFailure
    | FailureCountReset
    | FallbackChanged
    | CommandRequested
    | MonitorRecord
    | Alert
    | ServiceRefusedByConfig
    | DesiredTableChanged
    | AnycastEvent
)
