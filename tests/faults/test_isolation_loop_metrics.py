"""Issue 11, finding 2: the metrics port is served within bounds.

Invariant: an unprivileged user (`nobody`) holding 2,000 connections to the
metrics port gets the daemon no thread per connection and no descriptors beyond
the client limit, holds up no healthy real's check, and a scrape afterwards is
answered.
"""

from __future__ import annotations

from collections.abc import Callable

from ldirectord_py.observe.metrics import LIMITS
from tests.faults.conftest import assert_checks_kept_their_interval
from tests.faults.loop_isolation import Outcome, Scenario


def test_a_connection_flood_from_nobody_holds_up_no_check(
    isolation: Callable[[Scenario], Outcome],
) -> None:
    outcome = isolation(
        Scenario(fault="metrics-flood", virtuals=500, interval=2, flood_connections=2000)
    )
    assert "2000 connections opened" in " ".join(outcome.notes), outcome.notes
    assert_checks_kept_their_interval(outcome, bound=0.5)
    assert outcome.threads_peak <= 4, outcome  # was one per connection
    assert outcome.fds_peak < 1000 + LIMITS.max_clients + 64, outcome
    assert outcome.replies["scrape after the flood"] == "HTTP/1.1 200 OK", outcome.replies
