"""Isolation under load: how late healthy reals' checks come during a reload, status
requests or 1,000 idle control clients, and the daemon's memory.

    .venv/bin/python bench/loop_isolation.py --virtuals 10000 --reals-per-virtual 2 \\
        --interval 10 --nice -10 --json bench/results/loop_isolation.json \\
        --daemon ours=.venv/bin/ldirectord --daemon main=/tmp/main/.venv/bin/ldirectord

Each run is tests/faults/loop_isolation.py's scenario: a fresh network namespace,
a listener on 127.0.0.0/8 that times every connect check, the daemon started as
a supervisor starts it (`supervised=yes`), every real checked twice, a baseline
window, then the fault. "Worst delay" is the largest lateness of any real's
check (its gap after the previous check minus `checkinterval`) from the fault's
start to one interval after its end; "p99" the 99th percentile of the same.
RSS is the daemon's VmRSS peak, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.faults.loop_isolation import Outcome, Scenario, run_scenario

FAULTS = ("none", "reload", "reload-change", "reload-then-change", "status", "idle-clients")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--virtuals", type=int, default=10_000)
    parser.add_argument("--reals-per-virtual", type=int, default=2)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--fault", action="append", choices=FAULTS)
    parser.add_argument(
        "--daemon", action="append", required=True, help="NAME=PATH of an ldirectord script"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--probe",
        action="store_true",
        help="print each daemon thread's CPU time and context switches per 0.1 s "
        "around the fault, beside the late checks (from /proc)",
    )
    parser.add_argument(
        "--profiler",
        help="a py-spy binary: `py-spy record` of the daemon over the fault's start "
        "(files in --profile-dir)",
    )
    parser.add_argument(
        "--profile-args",
        default=Scenario.profile_args,
        help="py-spy record's options (default: %(default)s)",
    )
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=Scenario.profile_seconds,
        help="how long after the fault's start to record (from 0.5 s before it)",
    )
    parser.add_argument("--profile-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    daemons = [tuple(d.split("=", 1)) for d in args.daemon]
    faults = args.fault or list(FAULTS)
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    rows: list[dict[str, object]] = []
    for fault in faults:
        for name, binary in daemons:
            scenario = Scenario(
                fault=fault,
                virtuals=args.virtuals,
                reals_per_virtual=args.reals_per_virtual,
                interval=args.interval,
                baseline=6.0,
                fault_seconds=10.0,
                reloads=2 if fault == "reload-then-change" else 1,
                status_requests=5,
                idle_clients=1000,
                binary=binary,
                nice=args.nice,
                probe=args.probe,
                profiler=args.profiler or "",
                profile_args=args.profile_args,
                profile_seconds=args.profile_seconds,
                profile_out=str(
                    (args.profile_dir / f"profile-{fault}-{name}-{len(rows)}.txt").resolve()
                )
                if args.profiler
                else "",
            )
            work = Path(tempfile.mkdtemp(prefix="loop-isolation-"))
            started = time.monotonic()
            try:
                outcome = run_scenario(scenario, work, timeout=900)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            row = summary(name, outcome)
            row["seconds"] = round(time.monotonic() - started)
            rows.append(row | {"outcome": dataclasses.asdict(outcome)})
            print(line(row), flush=True)
            if args.probe:
                print(timeline(outcome), flush=True)
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


def summary(name: str, o: Outcome) -> dict[str, object]:
    return {
        "daemon": name,
        "fault": o.scenario["fault"],
        "reals": o.reals_seen,
        "baseline_worst_ms": round(o.baseline_worst_delay * 1000),
        "worst_ms": round(o.fault_worst_delay * 1000),
        "p99_ms": round(o.fault_p99_delay * 1000),
        "checks": o.checks_in_fault_window,
        "downs": len(o.downs),
        "rss_start_mb": round(o.rss_start_kib / 1024),
        "rss_peak_mb": round(o.rss_peak_kib / 1024),
        "threads_peak": o.threads_peak,
        "request_s": o.durations,
        "notes": o.notes,
    }


def line(row: dict[str, object]) -> str:
    return (
        f"{row['fault']:>12} {row['daemon']:>6}: worst {row['worst_ms']} ms "
        f"(p99 {row['p99_ms']}, baseline worst {row['baseline_worst_ms']}) over "
        f"{row['checks']} checks of {row['reals']} reals; DOWN {row['downs']}; RSS "
        f"{row['rss_start_mb']} -> {row['rss_peak_mb']} MB; threads {row['threads_peak']}; "
        f"requests {row['request_s']} s; {'; '.join(map(str, row['notes']))}"  # type: ignore[call-overload]
    )


def timeline(o: Outcome, seconds: float = 6.0) -> str:
    """Per 0.1 s from 1 s before the fault: checks over 100 ms late, the loop
    thread's CPU ms and voluntary switches, the other threads' CPU ms, the RSS."""
    main = o.threads.get("main", {"cpu_ms": [], "voluntary": []})
    others = [t for name, t in o.threads.items() if name not in ("main", "process")]
    rss = o.threads.get("process", {}).get("rss_mb", [])
    rows = ["   t(s)  late  loop-cpu-ms  loop-vol-switches  other-threads-cpu-ms  rss-mb"]
    for i in range(int((seconds + 1.0) * 10)):
        if i >= len(main["cpu_ms"]):
            break
        other = sum(t["cpu_ms"][i] for t in others if i < len(t["cpu_ms"]))
        rows.append(
            f"{(i - 10) / 10:7.1f} {o.late_at_tenths.get(str(i - 10), 0):5d} "
            f"{main['cpu_ms'][i]:12.1f} {main['voluntary'][i]:18.0f} {other:21.1f}"
            f" {rss[i] if i < len(rss) else 0:7.1f}"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
