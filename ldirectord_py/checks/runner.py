"""run_check: one check of one spec, under a hard deadline, as a CheckResult.

Which check module runs, and under which deadline (each module's descriptor
says, registry.py lists them):

| checktype | what runs | deadline |
|---|---|---|
| connect (tcp, fwm) | connect.py | checktimeout |
| connect (udp) | ping.py, as the original | checkcount x checktimeout |
| ping | ping.py | checkcount x checktimeout |
| external, external-perl | external.py | checktimeout |
| negotiate | the service's module | negotiatetimeout (ldap, ldaps, radius: checktimeout) |
| combined (checktype=N) | negotiate or connect, by CombinedState | as above |
| on | on.py: up | checktimeout |
| off | never checked: ValueError | - |

Whatever the server does (never answers, drips, sends without end, resets) the
result is delivered by the deadline plus scheduling noise: every check runs under
a deadline that cancels it (deadline.py: slotted to 5 ms for connect and http, a
timer each for the rest; a loop stall is given back, at most doubling it), and
every socket it opened is closed when it is cancelled.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from typing import Literal

from ldirectord_py.checks import registry
from ldirectord_py.checks.descriptor import CheckDescriptor, CheckFn
from ldirectord_py.checks.result import CheckFailed, CheckResult, FailureKind
from ldirectord_py.checks.runtime import CheckRuntime, runtime_for
from ldirectord_py.checks.spec import CheckSpec

log = logging.getLogger("ldirectord_py.checks")

Kind = Literal["negotiate", "connect"]

_BIG = 999_999


class CombinedState:
    """Per-real state of a combined check (checktype=N), owned by the scheduler.

    The first check, and every check after a failure, is a negotiate; after a
    successful negotiate come N connects, then a negotiate again (spec 5.3).
    """

    __slots__ = ("connects",)

    def __init__(self) -> None:
        self.connects = _BIG

    def next_kind(self, num_connects: int) -> Kind:
        return "negotiate" if self.connects >= num_connects else "connect"

    def record(self, kind: Kind, ok: bool) -> None:
        if kind == "negotiate":
            if ok:
                self.connects = 0
        elif ok:
            self.connects += 1
        else:
            self.connects = _BIG


def _resolve(spec: CheckSpec, state: CombinedState | None) -> tuple[Kind, CheckDescriptor]:
    """Which check module serves this spec now (registry.py)."""
    checktype = spec.checktype
    combined = checktype == registry.COMBINED
    if combined and (state or CombinedState()).next_kind(spec.num_connects) == "connect":
        return "connect", registry.CONNECT
    descriptor = registry.descriptor_for(checktype, spec.service, spec.protocol)
    if descriptor is None:
        raise ValueError(f"checktype {checktype!r} is never checked")
    if checktype in (registry.COMBINED, registry.NEGOTIATE):
        return "negotiate", descriptor
    return "connect", descriptor


def plan(spec: CheckSpec, state: CombinedState | None = None) -> tuple[Kind, CheckFn, float]:
    """What runs for this spec now, and under which deadline."""
    kind, descriptor = _resolve(spec, state)
    return kind, descriptor.check, descriptor.deadline(spec)


def _secs(value: float) -> str:
    return f"{value:g}s"


def describe_error(exc: BaseException) -> tuple[str, FailureKind]:
    """A short reason for an exception raised by a check, and its kind."""
    if isinstance(exc, CheckFailed):
        return exc.reason, exc.kind
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused", FailureKind.REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset", FailureKind.RESET
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed early", FailureKind.CLOSED
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {getattr(exc, 'reason', None) or exc}", FailureKind.TLS
    kind = FailureKind.INTERNAL  # not a failure a check names: a bug, or a library's
    if isinstance(exc, TimeoutError):
        kind = FailureKind.TIMEOUT
        if exc.strerror:
            return exc.strerror.lower(), kind
    elif isinstance(exc, OSError):
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host", FailureKind.UNREACHABLE
        if exc.strerror:
            return exc.strerror.lower(), FailureKind.OTHER
        kind = FailureKind.OTHER
    text = str(exc) or type(exc).__name__
    return (text if len(text) <= 160 else text[:157] + "..."), kind


# -- deadlines ---------------------------------------------------------------
#
# Every check runs under a deadline of deadline.py: slotted (one loop timer per
# 5 ms of deadlines) for connect and http, which run thousands of times a second
# and keep no timer of their own; precise (a timer each) for the rest, whose
# libraries may keep a timer of the same length that ours must beat. Either way
# the deadline gives back what a loop stall took from the check (deadline.py).

# Out of descriptors is the daemon's trouble, not the backend's: the check waits
# for one (fds.py keeps the checks' share; something else overran it) until its
# deadline, and says so once in a while.
_NO_FDS = frozenset({errno.EMFILE, errno.ENFILE})
FD_RETRY = 0.01
_fd_warned = 0.0


async def _wait_for_fds(fn: CheckFn, spec: CheckSpec, runtime: CheckRuntime) -> str:
    """Run the check again until it gets its descriptors (the deadline bounds it)."""
    global _fd_warned
    while True:
        now = time.monotonic()
        if now - _fd_warned > 60:
            _fd_warned = now
            log.warning("checks are waiting for file descriptors (too many open files)")
        await asyncio.sleep(FD_RETRY)
        try:
            return await fn(spec, runtime)
        except OSError as e:
            if e.errno not in _NO_FDS:
                raise


async def run_check(
    spec: CheckSpec, state: CombinedState | None = None, runtime: CheckRuntime | None = None
) -> CheckResult:
    """Run one check of `spec` now; never raises (except on cancellation).

    For a combined check pass the identity's CombinedState: it picks negotiate or
    connect and records the outcome. Without one, a combined check negotiates.
    `runtime`: the scheduler's; by default the loop's current one (runtime.py).
    """
    kind, descriptor = _resolve(spec, state)
    fn = descriptor.check
    deadline = descriptor.deadline(spec)
    started = time.monotonic()
    ok = False
    failure = FailureKind.NONE
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always called inside a task
        raise RuntimeError("run_check must run in a task")
    if runtime is None:
        runtime = runtime_for(task.get_loop())
    deadlines = runtime.deadlines
    armed = deadlines.arm(task, deadline, precise=not descriptor.slotted)
    try:
        try:
            reason = await fn(spec, runtime)
        except OSError as e:
            if e.errno not in _NO_FDS:
                raise
            reason = await _wait_for_fds(fn, spec, runtime)
        ok = True
    except asyncio.CancelledError:
        if not armed.expired:
            raise
        armed.expired = False
        if task.uncancel() > armed.cancelling:
            raise  # not only our deadline: somebody cancelled the check too
        reason = f"timeout after {_secs(deadline)}"
        failure = FailureKind.TIMEOUT
    except TimeoutError as e:
        if armed.expired:
            reason = f"timeout after {_secs(deadline)}"
        else:
            reason = describe_error(e)[0] if str(e) else "timeout"
        failure = FailureKind.TIMEOUT
    except Exception as e:
        reason, failure = describe_error(e)
        if not isinstance(e, CheckFailed | OSError | asyncio.IncompleteReadError):
            log.debug("check %s raised", spec.identity, exc_info=True)
    finally:
        deadlines.disarm(armed)
        if armed.expired:
            # the deadline's cancellation was absorbed inside the check: take it back
            armed.expired = False
            task.uncancel()
    latency = time.monotonic() - started
    if spec.checktype == registry.COMBINED:
        if state is not None:
            state.record(kind, ok)
        reason = f"{kind}: {reason}"
    return CheckResult(ok, reason, latency, failure)
