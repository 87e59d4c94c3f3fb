"""Issue 11, finding 4: a stall of the checker's loop is no false DOWN.

The checker's loop is frozen (a blocking sleep on it: to the loop, a SIGSTOP
or a CPU it does not get) for 0.6 s, 1.5 s and 3 s while healthy reals'
replies arrive in their sockets; the deadlines (1 s) expire during each freeze.
No healthy real may go down, each keeps its 1 s interval outside the freezes
(loosely), and a really hung real is still reported down ("timeout after 1s"),
its check never longer than twice its deadline plus the freezes it spans.
bench/isolation_stalls.py measures the same under CPU pressure, beside the Perl
original.
"""

from __future__ import annotations

from tests.faults.isolation import Check, Scenario, backends, observe

HEALTHY = 50
FREEZES = [(2.0, 0.6), (4.5, 1.5), (8.0, 3.0)]  # (at, for) seconds after start
SECONDS = 12.0
LOOSE_INTERVAL = 1.3


def test_loop_freezes_fake_no_down_and_hung_is_still_down() -> None:
    with backends("healthy") as good, backends("bad") as bad:
        healthy = [Check(f"healthy-{i}", good["healthy"]) for i in range(HEALTHY)]
        hung = Check("hung", bad["hung"])
        observed = observe(Scenario([*healthy, hung], SECONDS, freezes=FREEZES))
    ids = [c.identity for c in healthy]
    assert observed.downs(ids) == []
    frozen = sum(length for _, length in FREEZES)
    for identity in ids:
        assert observed.count(identity) >= SECONDS - frozen - 2, identity
        gaps = sorted(observed.gaps(identity))
        # one gap per freeze may span it; every other gap is the interval
        assert gaps[-len(FREEZES) - 1] < LOOSE_INTERVAL, identity
        assert gaps[-1] < max(length for _, length in FREEZES) + LOOSE_INTERVAL, identity
    hung_results = observed.results.get("hung", [])
    assert hung_results and all(r.reason == "timeout after 1s" for _, r in hung_results)
    # a check lasts at most its deadline doubled plus the freezes it spans
    assert max(r.latency for _, r in hung_results) < 2 * 1.0 + frozen + 0.3
