"""The anycast lab (`make demo`, demo/) in its short mode, against a real ip_vs.

It runs the whole lab as a user would (`python -m demo.lab --short`): two sites
with our daemon, gobgpd and direct-routing backends, a BIRD router, a client.
The summary it writes must show what the paper promises: when site A's backends
die, the client's traffic moves to site B; when they come back, it comes back;
when site A's load balancer dies silently, BFD makes the router drop it well
before the BGP hold time; and no request fails outside the windows the lab measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_TIMEOUT = 400
"""The short lab takes about 2 minutes in the emulated guest; this bounds a stuck one."""
BFD_INTERVAL_MS = "300"
"""Not the demo's 100 ms: this test checks that BFD, not the hold timer, drops a hung
site, and a wider interval keeps a CI machine that is busier than a quiet one away
from BFD flaps (the 100 ms figures and their flap count: demo/README.md, "BFD in the
guest")."""


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    output = tmp_path_factory.mktemp("demo-lab") / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "demo.lab",
                "--short",
                "--bfd-interval",
                BFD_INTERVAL_MS,
                "--output",
                str(output),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=LAB_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        pytest.fail(f"the lab did not finish within {LAB_TIMEOUT} s:\n{out}", pytrace=False)
    log = done.stdout + done.stderr
    summary_path = output / "summary.json"
    if not summary_path.exists():
        pytest.fail(f"the lab wrote no summary (exit {done.returncode}):\n{log}", pytrace=False)
    summary = json.loads(summary_path.read_text())
    for name in ("summary.txt", "timeline.txt", "timeline.json", "requests-per-site.svg"):
        assert (output / name).is_file(), f"{name} missing from the lab's output\n{log}"
    assert (output / "requests-per-site.svg").read_text().startswith("<svg"), log
    return summary, log


def test_the_lab_ends_well_and_cleans_up(lab_run: tuple[dict[str, Any], str]) -> None:
    summary, log = lab_run
    assert summary["mode"] == "short"
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    assert "ldlab-" not in left.stdout, f"namespaces left behind: {left.stdout}"
    assert "lab: cleaned up" in log


def test_traffic_moves_to_site_b_when_site_a_backends_die(
    lab_run: tuple[dict[str, Any], str],
) -> None:
    summary, log = lab_run
    down = summary["backends_down"]
    assert summary["checks"]["traffic_moved_to_b"], log
    assert down["decision_at"] is not None, f"daemon A's withdrawal was not seen\n{log}"
    assert down["route_at"] is not None, f"the router never switched to site B\n{log}"
    # Detection is bounded by the check interval (1 s) plus a check's run time in
    # the emulated guest; generous bounds, the point is that it is seconds, not minutes.
    assert 0 <= down["detection_s"] < 15, log
    assert down["propagation_s"] < 5, log


def test_traffic_comes_back_when_site_a_recovers(lab_run: tuple[dict[str, Any], str]) -> None:
    summary, log = lab_run
    restored = summary["backends_restored"]
    assert summary["checks"]["traffic_came_back_to_a"], log
    assert restored["route_at"] is not None, log
    assert restored["recovery_s"] is not None and restored["recovery_s"] < 20, log


def test_bfd_drops_a_dead_load_balancer_well_before_the_hold_time(
    lab_run: tuple[dict[str, Any], str],
) -> None:
    summary, log = lab_run
    killed = summary["lb_killed"]
    assert summary["checks"]["router_dropped_killed_lb"], log
    assert killed["traffic_moved"], log
    assert killed["detector"].startswith("BFD"), log
    # The router says why it ended the session: BFD, not the hold timer (3 s).
    # The time is bounded loosely: the guest is emulated and shares its host.
    assert killed["dropped_by"] == "BFD session down", log
    assert 0 < killed["router_drop_s"] < killed["hold_time_s"], log
    # BFD flaps (a session down although nothing failed) are counted in the summary
    # (session_flaps, the lab's check no_bgp_session_flap) but not failed on here:
    # on a heavily shared machine the emulated guest is sometimes starved for most
    # of a second (demo/README.md, "BFD in the guest").


def test_planned_maintenance_moves_the_traffic_before_the_backends_stop(
    lab_run: tuple[dict[str, Any], str],
) -> None:
    summary, log = lab_run
    planned = summary["planned_maintenance"]
    assert summary["checks"]["planned_maintenance_drained_and_moved"], log
    # Only requests in flight at the instant the router switches may fail (the goal
    # is at most 1 per switch at 25 requests/s; loose here, demo/README.md has the
    # figures); none while site A's backends are down: no client is there any more.
    assert planned["failed_otherwise"] == 0, log
    assert planned["failed_switch_away"] <= 5 and planned["failed_switch_back"] <= 5, log
    assert planned["drained_s"] is not None and planned["drained_s"] < 30, log


def test_no_request_is_lost_outside_the_measured_windows(
    lab_run: tuple[dict[str, Any], str],
) -> None:
    summary, log = lab_run
    requests = summary["requests"]
    assert requests["ok"] > 100, log
    assert requests["by_site"].get("A", 0) > 0 and requests["by_site"].get("B", 0) > 0, log
    assert requests["lost_outside_windows"] == 0, (
        f"failed outside the measured windows at {requests['lost_outside_windows_at']}\n{log}"
    )
    assert summary["checks"]["no_request_lost_outside_windows"], log
