"""The log actuator: the original's words for each event, a syslog priority, and
the reason after a transition (the original's line stays a prefix of ours)."""

from __future__ import annotations

import pytest

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.daemon.actuators.log import checking_text, log_event, log_line
from ldirectord_py.engine.events import (
    AnycastDataplaneChanged,
    Event,
    FailureCountReset,
    FallbackChanged,
    MonitorRecord,
    RealChanged,
    RealState,
    ServiceRefusedByConfig,
    SoftFailure,
    VipDecided,
    WithdrawGuardChanged,
)
from ldirectord_py.engine.wording import original_text
from ldirectord_py.observe.log import Log, Priority, Sink
from ldirectord_py.routing.model import VipDecision, host_prefix

V, W, R = "tcp:127.0.0.100:80", "127.0.0.100:80", "127.0.0.11:80"


class Emitted(Sink):
    def __init__(self) -> None:
        self.lines: list[tuple[str, Priority]] = []

    def write(self, message: str) -> None:
        self.lines.append((message, Priority.INFO))

    def emit(self, message: str, priority: Priority) -> None:
        self.lines.append((message, priority))


def down(quiescent: bool, reason: str = "connect refused") -> RealChanged:
    return RealChanged(
        V, W, R, RealState.UP, RealState.DOWN, 0, quiescent, reason, FailureKind.REFUSED
    )


def up(quiescent: bool, *, checked: bool = True, old: RealState = RealState.DOWN) -> RealChanged:
    return RealChanged(V, W, R, old, RealState.UP, 3, quiescent, "ok", FailureKind.NONE, checked)


ORIGINAL: list[tuple[Event, str, Priority]] = [
    (up(False), f"Added real server: {R} ({W}) (Weight set to 3)", Priority.NOTICE),
    (up(True), f"Restored real server: {R} ({W}) (Weight set to 3)", Priority.NOTICE),
    # checktype=on at start: "Added", whatever quiescent says
    (up(True, checked=False), f"Added real server: {R} ({W}) (Weight set to 3)", Priority.NOTICE),
    (down(False), f"Deleted real server: {R} ({W})", Priority.NOTICE),
    (down(True), f"Quiescent real server: {R} ({W}) (Weight set to 0)", Priority.NOTICE),
    (
        FallbackChanged(V, W, "127.0.0.1:80", True),
        f"Added fallback server: 127.0.0.1:80 ({W}) (Weight set to 1)",
        Priority.NOTICE,
    ),
    (
        FallbackChanged(V, W, "127.0.0.1:80", False),
        f"Deleted fallback server: 127.0.0.1:80 ({W})",
        Priority.NOTICE,
    ),
    (
        SoftFailure(V, R, 1, 3, "timeout after 3s", FailureKind.TIMEOUT),
        f"Soft failure real server: {R} ({V}) failure 1/3",
        Priority.WARNING,
    ),
    (FailureCountReset(V, R), f"Resetting soft failure count: {R} ({V})", Priority.INFO),
    (
        ServiceRefusedByConfig(V, "bad scheduler"),
        "Error: virtual service not programmed: bad scheduler",
        Priority.ERR,
    ),
]


@pytest.mark.parametrize(("event", "text", "priority"), ORIGINAL)
def test_the_original_line_is_a_prefix_and_the_priority_fits(
    event: Event, text: str, priority: Priority
) -> None:
    assert original_text(event) == text
    line = log_line(event)
    assert line is not None
    assert line[0].startswith(text)
    assert line[1] is priority


def test_transitions_are_followed_by_their_reason_in_the_same_line() -> None:
    assert log_line(down(False)) == (
        f"Deleted real server: {R} ({W}) (reason: connect refused)",
        Priority.NOTICE,
    )
    assert log_line(up(False)) == (
        f"Added real server: {R} ({W}) (Weight set to 3) (reason: ok)",
        Priority.NOTICE,
    )
    # a reason over several lines stays one log line
    line = log_line(down(True, "bad\r\nreply"))
    assert line is not None and "\n" not in line[0] and line[0].endswith("(reason: bad reply)")
    # an unchecked real (checktype=on) has no reason to give
    assert log_line(up(False, checked=False)) == (
        f"Added real server: {R} ({W}) (Weight set to 3)",
        Priority.NOTICE,
    )
    assert log_line(FallbackChanged(V, W, "127.0.0.1:80", True)) == (
        f"Added fallback server: 127.0.0.1:80 ({W}) (Weight set to 1) (reason: no real server up)",
        Priority.NOTICE,
    )
    assert log_line(FailureCountReset(V, R)) == (
        f"Resetting soft failure count: {R} ({V})",
        Priority.INFO,
    )


def test_anycast_events_are_worded_and_prioritised() -> None:
    prefix = host_prefix("198.51.100.10")
    decision = VipDecision(vip=prefix, state="withdrawn", reason="no real up", since=1.0)
    assert log_line(VipDecided(decision)) == (
        "Anycast 198.51.100.10/32: withdrawn (no real up)",
        Priority.NOTICE,
    )
    engaged = log_line(WithdrawGuardChanged(True, 3, 4, 1, (prefix,)))
    assert engaged is not None and engaged[1] is Priority.ERR
    assert engaged[0].startswith("ANYCAST GUARD ENGAGED: 3 of 4 anycast VIPs are down")
    assert log_line(WithdrawGuardChanged(False, 1, 4, 1)) == (
        "Anycast guard released: 1 anycast VIPs down, within anycastmaxwithdraw (1)",
        Priority.NOTICE,
    )
    gone = log_line(AnycastDataplaneChanged(False))
    assert gone is not None and gone[1] is Priority.WARNING


def test_log_event_writes_the_line_at_its_priority_and_skips_unworded_events() -> None:
    sink = Emitted()
    log = Log(sink)
    log_event(log, down(True))
    log_event(log, MonitorRecord("/tmp/x", "y"))  # the monitor file's, not the log's
    assert sink.lines == [
        (
            f"Quiescent real server: {R} ({W}) (Weight set to 0) (reason: connect refused)",
            Priority.NOTICE,
        )
    ]


@pytest.mark.parametrize(
    ("checktype", "protocol", "word"),
    [
        ("negotiate", "tcp", "negotiate"),
        ("connect", "tcp", "connect"),
        ("connect", "udp", "connect (ping)"),
        ("combined-connect", "tcp", "combined-connect"),
        ("external", "tcp", "external"),
    ],
)
def test_the_per_check_debug_line_is_the_originals(
    checktype: str, protocol: str, word: str
) -> None:
    real = r"negotiate:http:tcp:127.0.0.11:8080:::1:gate:\/index\.html:OK"
    assert checking_text(checktype, protocol, real, "tcp:127.0.0.100:8080") == (
        f"DEBUG2: Checking {word}: real server={real} (virtual=tcp:127.0.0.100:8080)"
    )
