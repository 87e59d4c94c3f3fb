"""run_check: one check of one spec, under a hard deadline, as a CheckResult.

Which function runs, and under which deadline:

| checktype | what runs | deadline |
|---|---|---|
| connect (tcp, fwm) | connect.py | checktimeout |
| connect (udp) | ping.py, as the original | checkcount x checktimeout |
| ping | ping.py | checkcount x checktimeout |
| external, external-perl | external.py | checktimeout |
| negotiate | the service's module | negotiatetimeout (ldap, ldaps, radius: checktimeout) |
| combined (checktype=N) | negotiate or connect, by CombinedState | as above |
| on | nothing: up | - |
| off | never checked: ValueError | - |

Whatever the server does (never answers, drips, sends without end, resets) the
result is delivered by the deadline plus scheduling noise: every check runs under
a deadline that cancels it (slotted to 5 ms for connect and http, asyncio.timeout
for the rest, see below), and every socket it opened is closed when it is cancelled.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from ldirectord_py.checks import (
    connect,
    dns,
    external,
    ftp,
    http,
    imap,
    ldap,
    nntp,
    oracle,
    ping,
    pop,
    radius,
    simpletcp,
    sip,
    smtp,
    sql,
)
from ldirectord_py.checks.result import CheckFailed, CheckResult
from ldirectord_py.checks.spec import CheckSpec

log = logging.getLogger("ldirectord_py.checks")

CheckFn = Callable[[CheckSpec], Awaitable[str]]
Kind = Literal["negotiate", "connect"]

# A little slack on top of the per-attempt deadlines of ping, so that the attempts'
# own timeouts (with their clearer reason) fire before the outer one.
_PING_SLACK = 0.05


async def _none(spec: CheckSpec) -> str:
    return "service none"


SERVICES: dict[str, CheckFn] = {
    "http": http.check,
    "https": http.check,
    "http_proxy": http.check,
    "ftp": ftp.check,
    "smtp": smtp.check,
    "submission": smtp.check,
    "pop": pop.check,
    "pops": pop.check,
    "imap": imap.check,
    "imaps": imap.check,
    "nntp": nntp.check,
    "ldap": ldap.check,
    "ldaps": ldap.check,
    "dns": dns.check,
    "mysql": sql.check,
    "pgsql": sql.check,
    "oracle": oracle.check,
    "radius": radius.check,
    "sip": sip.check,
    "simpletcp": simpletcp.check,
    "none": _none,
}

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


def plan(spec: CheckSpec, state: CombinedState | None = None) -> tuple[Kind, CheckFn, float]:
    """What runs for this spec now, and under which deadline."""
    checktype = spec.checktype
    if checktype == "combined":
        kind = (state or CombinedState()).next_kind(spec.num_connects)
        if kind == "connect":
            return "connect", connect.check, spec.checktimeout
        checktype = "negotiate"
    if checktype == "negotiate":
        fn = SERVICES.get(spec.service, _none)
        return "negotiate", fn, spec.negotiate_deadline()
    if checktype == "connect":
        if spec.protocol == "udp":
            return "connect", ping.check, _ping_deadline(spec)
        return "connect", connect.check, spec.checktimeout
    if checktype == "ping":
        return "connect", ping.check, _ping_deadline(spec)
    if checktype in ("external", "external-perl"):
        return "connect", external.check, spec.checktimeout
    if checktype == "on":
        return "connect", _on, spec.checktimeout
    raise ValueError(f"checktype {checktype!r} is never checked")


async def _on(spec: CheckSpec) -> str:
    return "checktype on"


def _ping_deadline(spec: CheckSpec) -> float:
    return max(1, spec.checkcount) * spec.checktimeout + _PING_SLACK


def _secs(value: float) -> str:
    return f"{value:g}s"


def describe_error(exc: BaseException) -> str:
    """A short reason for an exception raised by a check."""
    if isinstance(exc, CheckFailed):
        return exc.reason
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed early"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError):
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        if exc.strerror:
            return exc.strerror.lower()
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# -- deadlines ---------------------------------------------------------------
#
# Every check has a hard deadline. For connect and http checks, which run
# thousands of times a second, arming and cancelling a loop timer per check
# (asyncio.timeout) costs a heap push each and leaves a cancelled timer in the
# heap for a whole timeout; instead, their deadlines are grouped in slots of
# DEADLINE_RESOLUTION seconds with one loop timer per slot. Such a deadline fires
# at most DEADLINE_RESOLUTION late, never early. Expiry cancels the check's task,
# as asyncio.timeout does, and run_check turns that cancellation (and only that
# one) into "timeout after Ns". The other checks keep asyncio.timeout.

DEADLINE_RESOLUTION = 0.005
# The checks whose deadlines are slotted: those that run thousands of times a
# second and keep no timer of their own (a library's own timer of the same length
# would otherwise win the race and change the reason).
_SLOTTED: frozenset[CheckFn] = frozenset({connect.check, http.check})


class _Deadline:
    __slots__ = ("cancelling", "expired", "task")

    def __init__(self, task: asyncio.Task[object] | None, cancelling: int) -> None:
        self.task = task
        self.cancelling = cancelling
        self.expired = False


class _Deadlines:
    """The deadline slots of one event loop."""

    __slots__ = ("loop", "slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, list[_Deadline]] = {}

    def arm(self, task: asyncio.Task[object], after: float) -> _Deadline:
        deadline = _Deadline(task, task.cancelling())
        key = math.ceil((self.loop.time() + after) / DEADLINE_RESOLUTION)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = []
            self.loop.call_at(key * DEADLINE_RESOLUTION, self._expire, key)
        slot.append(deadline)
        return deadline

    def _expire(self, key: int) -> None:
        for deadline in self.slots.pop(key, ()):
            task = deadline.task
            if task is not None:
                deadline.task = None
                deadline.expired = True
                task.cancel()


_deadlines: list[_Deadlines] = []


def _deadlines_for(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    if _deadlines and _deadlines[-1].loop is loop:
        return _deadlines[-1]
    _deadlines[:] = [d for d in _deadlines if not d.loop.is_closed() and d.loop is not loop]
    new = _Deadlines(loop)
    _deadlines.append(new)
    return new


async def run_check(spec: CheckSpec, state: CombinedState | None = None) -> CheckResult:
    """Run one check of `spec` now; never raises (except on cancellation).

    For a combined check pass the identity's CombinedState: it picks negotiate or
    connect and records the outcome. Without one, a combined check negotiates.
    """
    kind, fn, deadline = plan(spec, state)
    if fn not in _SLOTTED:
        return await _run_precise(spec, state, kind, fn, deadline)
    started = time.monotonic()
    ok = False
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always called inside a task
        raise RuntimeError("run_check must run in a task")
    armed = _deadlines_for(task.get_loop()).arm(task, deadline)
    try:
        reason = await fn(spec)
        ok = True
    except asyncio.CancelledError:
        if not armed.expired:
            raise
        armed.expired = False
        if task.uncancel() > armed.cancelling:
            raise  # not only our deadline: somebody cancelled the check too
        reason = f"timeout after {_secs(deadline)}"
    except TimeoutError as e:
        if armed.expired:
            reason = f"timeout after {_secs(deadline)}"
        else:
            reason = describe_error(e) if str(e) else "timeout"
    except Exception as e:
        reason = describe_error(e)
        if not isinstance(e, CheckFailed | OSError | asyncio.IncompleteReadError):
            log.debug("check %s raised", spec.identity, exc_info=True)
    finally:
        armed.task = None
        if armed.expired:
            # the deadline's cancellation was absorbed inside the check: take it back
            armed.expired = False
            task.uncancel()
    latency = time.monotonic() - started
    if state is not None and spec.checktype == "combined":
        state.record(kind, ok)
    if spec.checktype == "combined":
        reason = f"{kind}: {reason}"
    return CheckResult(ok, reason, latency)


async def _run_precise(
    spec: CheckSpec, state: CombinedState | None, kind: Kind, fn: CheckFn, deadline: float
) -> CheckResult:
    """run_check under asyncio.timeout: for the checks whose libraries keep their
    own timer of the same length (dns, ldap, sql, ...), ours must fire first."""
    started = time.monotonic()
    ok = False
    try:
        async with asyncio.timeout(deadline) as scope:
            reason = await fn(spec)
        ok = True
    except TimeoutError as e:
        if scope.expired():
            reason = f"timeout after {_secs(deadline)}"
        else:
            reason = describe_error(e) if str(e) else "timeout"
    except asyncio.CancelledError:
        raise
    except Exception as e:
        reason = describe_error(e)
        if not isinstance(e, CheckFailed | OSError | asyncio.IncompleteReadError):
            log.debug("check %s raised", spec.identity, exc_info=True)
    latency = time.monotonic() - started
    if state is not None and spec.checktype == "combined":
        state.record(kind, ok)
    if spec.checktype == "combined":
        reason = f"{kind}: {reason}"
    return CheckResult(ok, reason, latency)
