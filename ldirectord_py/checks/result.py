"""What one check says: up or down, why, and how long it took."""

from __future__ import annotations

from typing import NamedTuple


class CheckResult(NamedTuple):
    """The outcome of one check.

    `reason` is short and meant for logs and status output: "ok", "status 503",
    "connect refused", "timeout after 3s", "receive did not match", ...
    `latency` is the wall time of the check in seconds (monotonic clock).
    (A NamedTuple: immutable like a frozen dataclass, several times cheaper to
    make, and one is made per check.)
    """

    ok: bool
    reason: str
    latency: float


class CheckFailed(Exception):
    """Raised inside a check to say "down" with a short reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
