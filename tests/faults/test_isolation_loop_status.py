"""Issue 11, finding 2: status comes from a snapshot kept current.

Invariant: status requests against 4,000 virtuals / 8,000 reals hold up no
healthy real's check, and every request gets the whole document.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.faults.conftest import assert_checks_kept_their_interval
from tests.faults.loop_isolation import Outcome, Scenario


def test_status_requests_under_load_hold_up_no_check(
    isolation: Callable[[Scenario], Outcome],
) -> None:
    outcome = isolation(Scenario(fault="status", virtuals=4000, interval=5, status_requests=10))
    for i in range(10):
        assert outcome.replies[f"status {i}"].endswith("bytes, 4000 virtuals"), outcome.replies
    assert_checks_kept_their_interval(outcome, bound=0.5)
