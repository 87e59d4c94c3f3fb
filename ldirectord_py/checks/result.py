"""What one check says: up or down, why, and how long it took."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class FailureKind(StrEnum):
    """Why a check failed, as a closed set: metrics labels and the events use it, so
    nothing downstream has to parse the free-text reason. `NONE` is a success."""

    NONE = "none"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    RESET = "reset"
    CLOSED = "closed"
    UNREACHABLE = "unreachable"
    RECEIVE_MISMATCH = "receive_mismatch"
    TLS = "tls"
    EXIT_STATUS = "exit_status"
    HTTP_STATUS = "http_status"
    MAINTENANCE = "maintenance"
    LOGIN = "login"
    NO_ANSWER = "no_answer"
    DNS_RCODE = "dns_rcode"
    MALFORMED = "malformed"
    INTERNAL = "internal"
    OTHER = "other"


class CheckResult(NamedTuple):
    """The outcome of one check.

    `reason` is short and meant for logs and status output: "ok", "status 503",
    "connect refused", "timeout after 3s", "receive did not match", ...
    `latency` is the wall time of the check in seconds (monotonic clock).
    `kind` is the reason's class, decided once, where the result is made: the
    check sets it where it fails (`CheckFailed(reason, kind)`), the runner from
    what a check raised (`describe_error`); metrics and the engine take it as it
    is, and nothing reads the reason's words.
    (A NamedTuple: immutable like a frozen dataclass, several times cheaper to
    make, and one is made per check.)
    """

    ok: bool
    reason: str
    latency: float
    kind: FailureKind = FailureKind.NONE


class CheckFailed(Exception):
    """Raised inside a check to say "down" with a short reason and its kind
    (every check in checks/ names the kind: tests/checks/test_failure_kind.py)."""

    def __init__(self, reason: str, kind: FailureKind = FailureKind.OTHER) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
