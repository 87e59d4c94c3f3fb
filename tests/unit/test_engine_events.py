"""The engine's typed events: what a check result changes, with its reason and
kind carried through (the log, metrics and mail read fields, never text)."""

from __future__ import annotations

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.engine import (
    Alert,
    CommandRequested,
    DesiredTableChanged,
    Engine,
    FailureCountReset,
    FallbackChanged,
    RealChanged,
    RealState,
    ServiceRefusedByConfig,
    SoftFailure,
)

from .config.conftest import parse

CONFIG = (
    "failurecount=2\nfallback=127.0.0.1:80\nfallbackcommand=/fb\n"
    "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate 4\n\tservice=http\n"
    "\temailalert=ops@example.org\n"
)


def test_a_real_going_up_and_down_says_so_with_its_reason_and_kind() -> None:
    e = Engine(parse(CONFIG), 0.0)
    virtual = e.config.virtuals[0]
    ident = virtual.check_identity(virtual.reals[0])
    first = e.record(ident, True, "ok", 1.0)
    up = next(x for x in first if isinstance(x, RealChanged))
    assert (up.old, up.new, up.weight, up.reason, up.kind) == (
        RealState.UNKNOWN,
        RealState.UP,
        4,
        "ok",
        FailureKind.NONE,
    )
    assert up.virtual == "tcp:127.0.0.100:80" and up.where == "127.0.0.100:80"
    assert DesiredTableChanged(e.version) in first
    # steady state: no event but nothing else either (the hot path)
    assert e.record(ident, True, "ok", 2.0) == []
    soft = e.record(ident, False, "timeout after 3s", 3.0, kind=FailureKind.TIMEOUT)
    assert soft == [SoftFailure(up.virtual, "127.0.0.11:80", 1, 2, "timeout after 3s", "timeout")]
    assert e.real_status(virtual, virtual.reals[0]).last_kind is FailureKind.TIMEOUT
    down = e.record(ident, False, "connect refused", 4.0, kind=FailureKind.REFUSED)
    change = next(x for x in down if isinstance(x, RealChanged))
    assert (change.old, change.new, change.weight, change.kind) == (
        RealState.UP,
        RealState.DOWN,
        0,
        FailureKind.REFUSED,
    )
    assert FallbackChanged(up.virtual, up.where, "127.0.0.1:80", True) in down
    assert CommandRequested("/fb start 127.0.0.100:80 tcp", up.virtual) in down
    subjects = [x.subject for x in down if isinstance(x, Alert)]
    assert subjects == [
        "Deleted real server: 127.0.0.11:80 (127.0.0.100:80)",
        "Added fallback server: 127.0.0.1:80 (127.0.0.100:80) (Weight set to 1)",
    ]
    assert any(isinstance(x, DesiredTableChanged) for x in down)
    back = e.record(ident, True, "ok", 5.0)
    again = next(x for x in back if isinstance(x, RealChanged))
    assert (again.old, again.new) == (RealState.DOWN, RealState.UP)
    assert FallbackChanged(up.virtual, up.where, "127.0.0.1:80", False) in back


def test_a_success_after_soft_failures_resets_the_count() -> None:
    e = Engine(parse(CONFIG), 0.0)
    virtual = e.config.virtuals[0]
    ident = virtual.check_identity(virtual.reals[0])
    e.record(ident, True, "ok", 1.0)
    e.record(ident, False, "x", 2.0, kind=FailureKind.OTHER)
    assert e.record(ident, True, "ok", 3.0) == [FailureCountReset(up_virtual(e), "127.0.0.11:80")]


def up_virtual(e: Engine) -> str:
    return e.config.virtuals[0].identity


def test_a_virtual_that_cannot_be_programmed_is_an_event_at_start() -> None:
    config = parse(
        "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tscheduler=rr\n\tschedflags=sh-port\n"
    )
    events = Engine(config, 0.0).take_effects()
    (refused,) = [x for x in events if isinstance(x, ServiceRefusedByConfig)]
    assert refused.virtual == "tcp:127.0.0.100:80" and "schedflags" in refused.error
