"""Issue 11, finding 2: a big reload is parsed and planned off the loop.

Invariant: while a 4,000-virtual configuration is reloaded, every healthy real
is still checked on time and none goes DOWN (the precise figure at 10,000
virtuals is in bench/README.md, "Isolation under load").
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.faults.conftest import assert_checks_kept_their_interval
from tests.faults.loop_isolation import Outcome, Scenario


def test_a_big_reload_holds_up_no_check(isolation: Callable[[Scenario], Outcome]) -> None:
    outcome = isolation(Scenario(fault="reload", virtuals=4000, interval=5, reloads=2))
    for key in ("reload 0", "reload 1"):
        assert json.loads(outcome.replies[key])["ok"] is True, outcome.replies
    assert_checks_kept_their_interval(outcome, bound=0.5)
    assert "8000 up, 0 down of 8000" in " ".join(outcome.notes)
