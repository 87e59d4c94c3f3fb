"""The fault tests run the real `ldirectord`: in the integration tests' sandbox (a
private /run, /etc/ha.d and /var/log in a mount namespace), or, for the loop
isolation tests, in a network namespace of their own (loop_isolation)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.loop_isolation import Outcome, Scenario, installed_binary, run_scenario
from tests.integration.conftest import sandbox  # noqa: F401 (the fixture)


@pytest.fixture
def isolation(tmp_path: Path) -> Iterator[object]:
    """run(scenario) -> Outcome, in a network namespace of its own."""
    if os.geteuid() != 0:
        pytest.fail("the fault tests need root (network and mount namespaces): run them as root")
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is missing: install iproute2 and util-linux (make deps)")

    def run(scenario: Scenario) -> Outcome:
        scenario.binary = installed_binary()
        scenario.nice = -10  # other tests on the machine must not starve the loop
        return run_scenario(scenario, tmp_path)

    yield run


def assert_checks_kept_their_interval(outcome: Outcome, bound: float) -> None:
    """Loosely (the bench holds the precise figure): no healthy real's check came
    more than `bound` seconds late, and none went DOWN."""
    assert outcome.checks_in_fault_window > 0, outcome
    assert outcome.downs == [], f"healthy reals went down: {outcome.downs[:5]}"
    assert outcome.fault_worst_delay < bound, (
        f"a healthy real's check came {outcome.fault_worst_delay:.3f}s late during the fault "
        f"(baseline {outcome.baseline_worst_delay:.3f}s): {outcome.notes} {outcome.log_tail}"
    )
