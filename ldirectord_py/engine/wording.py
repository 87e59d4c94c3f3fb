"""The original's words for the engine's events, byte for byte where operators grep.

One function per use, pure: the log actuator writes `original_text(event)` (and
appends the reason after it), and the engine words alert subjects with it, as the
original mails its log message. Anycast lines are this project's own wording.
"""

from __future__ import annotations

from ldirectord_py.engine.events import (
    AnycastDataplaneChanged,
    Event,
    FailureCountReset,
    FallbackChanged,
    RealChanged,
    RealState,
    ServiceRefusedByConfig,
    SoftFailure,
    VipDecided,
    WithdrawGuardChanged,
)
from ldirectord_py.routing.model import address_order


def original_text(event: Event) -> str | None:
    """The log line the original writes for `event` (None: the event is not logged)."""
    match event:
        case RealChanged(new=RealState.UP):
            verb = "Restored" if event.quiescent and event.checked else "Added"
            return (
                f"{verb} real server: {event.real} ({event.where}) (Weight set to {event.weight})"
            )
        case RealChanged():
            if event.quiescent:
                return f"Quiescent real server: {event.real} ({event.where}) (Weight set to 0)"
            return f"Deleted real server: {event.real} ({event.where})"
        case FallbackChanged(active=True):
            return f"Added fallback server: {event.fallback} ({event.where}) (Weight set to 1)"
        case FallbackChanged():
            return f"Deleted fallback server: {event.fallback} ({event.where})"
        case SoftFailure():
            return (
                f"Soft failure real server: {event.real} ({event.virtual}) "
                f"failure {event.failures}/{event.failurecount}"
            )
        case FailureCountReset():
            return f"Resetting soft failure count: {event.real} ({event.virtual})"
        case ServiceRefusedByConfig():
            return f"Error: virtual service not programmed: {event.error}"
        case VipDecided(decision=decision):
            guarded = " (guarded)" if decision.guarded else ""
            return f"Anycast {decision.vip}: {decision.state}{guarded} ({decision.reason})"
        case AnycastDataplaneChanged(available=True):
            return "Anycast: dataplane available again: anycast VIPs follow their health"
        case AnycastDataplaneChanged():
            return (
                "Anycast: dataplane unavailable (ip_vs not programmed): "
                "withdrawing the anycast VIPs it served (anycastmaxwithdraw applies)"
            )
        case WithdrawGuardChanged(engaged=True):
            kept = ", ".join(str(p) for p in sorted(event.kept, key=address_order))
            return (
                f"ANYCAST GUARD ENGAGED: {event.down} of {event.total} anycast VIPs are "
                f"down but anycastmaxwithdraw allows {event.limit} withdrawn: keeping "
                f"{kept} announced although down. A local checker failure is likely; "
                "check the health checks"
            )
        case WithdrawGuardChanged():
            return (
                f"Anycast guard released: {event.down} anycast VIPs down, within "
                f"anycastmaxwithdraw ({event.limit})"
            )
    return None


def inaccessible_text(real_where: str) -> str:
    """The repeated alert for a real still down: `real (virtual)`."""
    return f"Inaccessible real server: {real_where}"
