"""The log actuator: each event as the original's line, at a syslog priority.

The text is `engine.wording.original_text` byte for byte; a transition line is
followed, in the same line, by ` (reason: ...)`, so the original's line stays a
prefix of ours (grep for it still finds it) and the why is next to the what.
"""

from __future__ import annotations

from ldirectord_py.engine.events import (
    AnycastDataplaneChanged,
    Event,
    FallbackChanged,
    RealChanged,
    ServiceRefusedByConfig,
    SoftFailure,
    VipDecided,
    WithdrawGuardChanged,
)
from ldirectord_py.engine.wording import original_text
from ldirectord_py.observe.log import Log, Priority

REASON_PREFIX = " (reason: "


def priority(event: Event) -> Priority:
    """err: something failed; warning: degraded, no transition; notice: a transition."""
    match event:
        case RealChanged() | FallbackChanged() | VipDecided():
            return Priority.NOTICE
        case SoftFailure():
            return Priority.WARNING
        case ServiceRefusedByConfig() | WithdrawGuardChanged(engaged=True):
            return Priority.ERR
        case AnycastDataplaneChanged(available=False):
            return Priority.WARNING
        case WithdrawGuardChanged() | AnycastDataplaneChanged():
            return Priority.NOTICE
    return Priority.INFO


def reason(event: Event) -> str | None:
    """Why a transition (or a soft failure) happened, for the end of its line."""
    match event:
        case RealChanged(checked=True) | SoftFailure():
            return event.reason or None
        case FallbackChanged(active=True):
            return "no real server up"
        case FallbackChanged():
            return "a real server is up"
    return None


def log_line(event: Event) -> tuple[str, Priority] | None:
    """The whole line for `event` and its priority (None: not logged)."""
    text = original_text(event)
    if text is None:
        return None
    why = reason(event)
    if why is not None:
        text = f"{text}{REASON_PREFIX}{' '.join(why.splitlines())})"
    return text, priority(event)


def log_event(log: Log, event: Event) -> None:
    line = log_line(event)
    if line is not None:
        log.write(*line)


def checking_text(checktype: str, protocol: str, real: str, virtual: str) -> str:
    """The original's `-d` line before each check (`ld_debug(2, ...)`): `checktype`
    is what runs this time (a combined check says `combined-connect` or
    `negotiate`), `real` the real's identity string, `virtual` the virtual's."""
    if checktype == "connect" and protocol == "udp":
        checktype = "connect (ping)"
    return f"DEBUG2: Checking {checktype}: real server={real} (virtual={virtual})"
