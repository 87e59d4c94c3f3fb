"""Which BFD timers hold in the emulated guest: `make demo` (short mode) N times.

    sudo .venv/bin/python bench/bfd_guest_flaps.py --interval 300 --runs 10 [--json out.json]

Each run is `python -m demo.lab --short --bfd-interval MS` (in the QEMU guest
of scripts/ipvs-vm/ where this kernel has no ip_vs): the lab's full load (two
daemons, gobgpd, BIRD, backends, a client at 25 requests/s) on an emulated
CPU. A flap is a BGP session that goes down before the lab kills anything
(`session_flaps` in the lab's summary): BFD missed `multiplier` packets although
nothing failed. Reported per run: flaps, the hard-kill phase's router drop time,
what dropped it and its failed requests, the planned maintenance phase's failed
requests (switch to B / backends down / switch back) beside the unplanned
failure's, how many requests were in flight at each switch and how many failed
ones were not (a fault: only requests in flight may fail), whether every check
of the lab held, and the machine's 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(interval: int, output: Path) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    result = _run(interval, output)
    result["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def _run(interval: int, output: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "demo.lab", "--short", "--bfd-interval", str(interval)]
    done = subprocess.run(
        [*argv, "--output", str(output)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    path = output / "summary.json"
    if not path.exists():
        return {"error": f"exit {done.returncode}: {(done.stdout + done.stderr)[-400:]}"}
    summary = json.loads(path.read_text())
    killed = summary.get("lb_killed") or {}
    planned = summary.get("planned_maintenance") or {}
    return {
        "flaps": summary.get("session_flaps"),
        "router_drop_s": killed.get("router_drop_s"),
        "dropped_by": killed.get("dropped_by"),
        "failed_requests": killed.get("failed_requests"),
        "unplanned_failed": (summary.get("backends_down") or {}).get("failed_requests"),
        "planned_failed": [
            planned.get("failed_switch_away"),
            planned.get("failed_otherwise"),
            planned.get("failed_switch_back"),
        ],
        "planned_in_flight": [
            (planned.get(side) or {}).get("in_flight") for side in ("switch_away", "switch_back")
        ],
        "planned_failed_not_in_flight": [
            (planned.get(side) or {}).get("failed_not_in_flight")
            for side in ("switch_away", "switch_back")
        ],
        "drained_s": planned.get("drained_s"),
        "checks_ok": all(summary.get("checks", {}).values()),
        "checks": summary.get("checks"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, required=True, help="BFD interval, ms")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bfd-flaps-") as tmp:
        for i in range(args.runs):
            result = one_run(args.interval, Path(tmp) / f"run-{i}")
            runs.append(result)
            print(f"run {i + 1}: {json.dumps(result)}", flush=True)
    drops = [float(r["router_drop_s"]) for r in runs if isinstance(r.get("router_drop_s"), float)]
    flapped = sum(1 for r in runs if r.get("flaps"))
    loads = [x for r in runs for x in r["load_1min"]]  # type: ignore[attr-defined]
    print(f"load average (1 min) around the runs: {min(loads):.1f} to {max(loads):.1f}")
    print(
        f"\nBFD {args.interval} ms x 3 in the guest: {flapped} of {len(runs)} runs flapped; "
        f"hard kill -> router drop median {statistics.median(drops) * 1000:.0f} ms "
        f"(min {min(drops) * 1000:.0f}, max {max(drops) * 1000:.0f})"
        if drops
        else f"\nBFD {args.interval} ms: no run measured the hard kill"
    )
    if args.json:
        args.json.write_text(json.dumps({"interval_ms": args.interval, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
