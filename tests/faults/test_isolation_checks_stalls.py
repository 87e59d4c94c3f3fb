"""Issue 11, finding 4: a stall of the checker's loop is no false DOWN.

The loop is frozen (a blocking sleep on it: to the loop, a SIGSTOP or a CPU it
does not get) for 0.6 s, 1.5 s and 3 s while healthy reals' replies arrive in
their sockets; the deadlines (1 s) expire during each freeze. No healthy real
may go down, each keeps its 1 s interval outside the freezes (loosely), and a
really hung real is still reported down, within its deadline doubled plus the
freeze at most. bench/isolation_stalls.py measures the same under CPU pressure,
beside the Perl original.
"""

from __future__ import annotations

import asyncio
import time

from tests.checks.conftest import run
from tests.faults.isolation import Observed, backends, http_spec, observe

HEALTHY = 50
FREEZES = (0.6, 1.5, 3.0)
LOOSE_INTERVAL = 1.3


async def _with_freezes(specs: list, seconds: float) -> Observed:  # type: ignore[type-arg]
    async def freezer() -> None:
        await asyncio.sleep(2.3)  # past the warm-up
        for freeze in FREEZES:
            await asyncio.sleep(1.7)
            time.sleep(freeze)  # the loop stops here, the backends go on

    task = asyncio.create_task(freezer())
    try:
        return await observe(specs, seconds)
    finally:
        task.cancel()


def test_loop_freezes_fake_no_down_and_hung_is_still_down() -> None:
    with backends("healthy") as good, backends("bad") as bad:
        healthy = [
            http_spec(f"healthy-{i}", good["healthy"], "OK", 1.0, 1.0) for i in range(HEALTHY)
        ]
        hung = http_spec("hung", bad["hung"], "OK", 1.0, 1.0)
        seconds = 12.0
        observed = run(_with_freezes([*healthy, hung], seconds), guard=60)
    ids = [s.identity for s in healthy]
    assert observed.downs(ids) == []
    frozen = sum(FREEZES)
    for identity in ids:
        assert observed.count(identity) >= seconds - frozen - 2, identity
        gaps = observed.gaps(identity)
        # one gap per freeze may span it; every other gap is the interval
        assert sorted(gaps)[: len(gaps) - len(FREEZES)][-1] < LOOSE_INTERVAL, identity
        assert max(gaps) < max(FREEZES) + LOOSE_INTERVAL, identity
    hung_results = observed.results.get("hung", [])
    assert hung_results and all(not r.ok for _, r in hung_results)
    assert all(r.reason == "timeout after 1s" for _, r in hung_results)
    # detected within interval + doubled deadline + the longest freeze
    assert max(observed.gaps("hung"), default=0.0) < 1.0 + 2 * 1.0 + max(FREEZES) + 0.3
