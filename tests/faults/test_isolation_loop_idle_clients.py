"""Issue 11, finding 2: idle control-socket clients are bounded.

Invariant: 1,000 clients that connect to the control socket and send nothing
(reconnecting whenever dropped) for 10 s hold up no healthy real's check, cost
the daemon no memory to speak of and no descriptor beyond the client limit;
each gets an error reply, never the status document.
"""

from __future__ import annotations

from collections.abc import Callable

from ldirectord_py.observe.status_socket import LIMITS
from tests.faults.conftest import assert_checks_kept_their_interval
from tests.faults.loop_isolation import Outcome, Scenario


def test_a_thousand_idle_clients_hold_up_no_check(
    isolation: Callable[[Scenario], Outcome],
) -> None:
    outcome = isolation(
        Scenario(fault="idle-clients", virtuals=2000, interval=5, idle_clients=1000)
    )
    assert_checks_kept_their_interval(outcome, bound=0.5)
    got = outcome.replies.get("idle client got", "")
    assert '"ok": false' in got and "no complete line" in got, got
    assert outcome.rss_peak_kib - outcome.rss_start_kib < 50 * 1024, outcome
    assert outcome.threads_peak <= 4, outcome
    # checks hold one descriptor each while in flight; clients add at most the limit
    assert outcome.fds_peak < 4000 + LIMITS.max_clients + 64, outcome
