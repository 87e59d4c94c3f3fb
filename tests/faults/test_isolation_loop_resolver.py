"""Issue 11, finding 2: name resolution never blocks the loop.

Invariant: an unresponsive resolver fails a reload like any bad config (the
running configuration stays in effect) within the lookup bounds, and no healthy
real's check is held up meanwhile; the drop-in `start` refuses such a file with
the original's wording.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.faults.conftest import assert_checks_kept_their_interval
from tests.faults.loop_isolation import Outcome, Scenario


def test_an_unresponsive_resolver_fails_the_reload_and_holds_up_no_check(
    isolation: Callable[[Scenario], Outcome],
) -> None:
    outcome = isolation(Scenario(fault="slow-resolver", virtuals=500, interval=2, baseline=4.0))
    reply = json.loads(outcome.replies["reload"])
    assert reply["ok"] is False
    assert "configuration not reloaded" in reply["error"]
    assert "could not resolve" in reply["error"]
    # three names, 3 s each at most (the resolver is configured for 2 x 5 s)
    assert outcome.durations[0] < 15, outcome.durations
    assert_checks_kept_their_interval(outcome, bound=0.5)
    assert "1000 up, 0 down of 1000" in " ".join(outcome.notes)  # the old config runs
    start = outcome.replies["start"]
    assert start.startswith("rc=2 "), start
    assert (
        "invalid address (unanswered-9.example.org) for real server (could not resolve host)"
        in start
    )
    assert outcome.durations[1] < 15, outcome.durations
