"""Healthy reals next to bad backends: does one backend delay the others' checks?

    .venv/bin/python bench/isolation_reads.py [--healthy 200] [--per-kind 5] \
        [--seconds 20] [--json out.json]

The checker is the daemon's (ldirectord_py.checks.Scheduler running run_check,
one asyncio loop) in a process of its own, and the backends in others
(tests/faults/backends.py: a healthy HTTP server, and one server per kind of bad
backend); each in a session of its own with autogroup nice -10 (as root), so
that on a shared machine the checker is measured, not the neighbours
(tests/faults/isolation.py). For each kind of bad backend in turn (then all kinds at once), the
checker runs --healthy healthy HTTP reals (receive "OK", checkinterval 1 s,
timeout 1 s) next to --per-kind reals of that bad kind (timeout 3 s; the
`hostile` ones with receive `status.*ok`), for --seconds after a warm-up.

Reported per run: the healthy reals' worst and 99th-percentile gap between two
consecutive results (the interval as the engine sees it: the target is
1 s + 50 ms), how many healthy results were down (the target is 0), the bad
reals' results (all must be down), and the CPU of this process (loop and the
matching thread) over the window, in % of one core, and how long the checker's
loop was held up over the window (callbacks more than 20 ms late, as the
deadlines measure it: checks/stall.py), which tells the loop's own delay from
the backends' and the machine's. The first run has no bad backend: the
machine's baseline.

To measure another tree (e.g. the code before a change), put it first on
PYTHONPATH; the script prints which ldirectord_py it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(ROOT))  # tests.faults (after a PYTHONPATH given on purpose)

import ldirectord_py  # noqa: E402
from tests.faults.backends import BAD  # noqa: E402
from tests.faults.isolation import Check, Scenario, backends, observe  # noqa: E402


@dataclass
class Row:
    bad: str
    healthy: int
    bad_reals: int
    worst_gap_s: float
    p99_gap_s: float
    healthy_results: int
    healthy_down: int
    bad_results: int
    bad_up: int
    cpu_percent: float
    loop_stall_s: float
    load: str


def one(kinds: list[str], ports: dict[str, int], good: int, args: argparse.Namespace) -> Row:
    healthy = [Check(f"healthy-{i}", good) for i in range(args.healthy)]
    hostile = [
        Check(f"bad-{k}-{j}", ports[k], "status.*ok" if k == "hostile" else "OK", 1.0, 3.0)
        for k in kinds
        for j in range(args.per_kind)
    ]
    obs = observe(Scenario(healthy + hostile, args.seconds))
    ids = [c.identity for c in healthy]
    gaps = sorted(g for i in ids for g in obs.gaps(i))
    bad_results = [r for c in hostile for _, r in obs.results.get(c.identity, [])]
    return Row(
        bad="+".join(kinds) if 0 < len(kinds) < len(BAD) else ("none" if not kinds else "all"),
        healthy=len(healthy),
        bad_reals=len(hostile),
        worst_gap_s=round(gaps[-1], 3) if gaps else 0.0,
        p99_gap_s=round(statistics.quantiles(gaps, n=100)[98], 3) if len(gaps) > 1 else 0.0,
        healthy_results=sum(obs.count(i) for i in ids),
        healthy_down=len(obs.downs(ids)),
        bad_results=len(bad_results),
        bad_up=sum(1 for r in bad_results if r.ok),
        cpu_percent=round(obs.cpu_percent, 1),
        loop_stall_s=round(obs.loop_stall_seconds, 3),
        load=Path("/proc/loadavg").read_text().split()[0],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--healthy", type=int, default=200)
    ap.add_argument("--per-kind", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--kinds", default=",".join(BAD), help="comma-separated bad kinds")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"measuring {Path(ldirectord_py.__file__).parent}", flush=True)
    kinds = [k for k in args.kinds.split(",") if k]
    rows: list[Row] = []
    with backends("healthy") as good, backends("bad") as bad:
        runs = [[], *[[k] for k in kinds], *([kinds] if len(kinds) > 1 else [])]
        for group in runs:
            row = one(group, bad, good["healthy"], args)
            print(json.dumps(asdict(row)), flush=True)
            rows.append(row)
    print(
        f"\n{'bad backends':18} {'reals':>11} {'worst gap':>9} {'p99 gap':>8} "
        f"{'healthy down':>12} {'bad up':>6} {'CPU %':>6} {'stall':>6} {'load':>5}"
    )
    for r in rows:
        print(
            f"{r.bad:18} {r.healthy:>4}+{r.bad_reals:<3}bad {r.worst_gap_s:8.3f}s "
            f"{r.p99_gap_s:7.3f}s {r.healthy_down:>5}/{r.healthy_results:<6} "
            f"{r.bad_up:>6} {r.cpu_percent:6.1f} {r.loop_stall_s:5.2f}s {r.load:>5}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    ok = all(r.worst_gap_s <= 1.05 and r.healthy_down == 0 and r.bad_up == 0 for r in rows)
    print(f"\nevery healthy interval within 1 s + 50 ms, none down: {'yes' if ok else 'NO'}")
    sys.exit(0 if ok or os.environ.get("BENCH_NO_EXIT_STATUS") else 1)


if __name__ == "__main__":
    main()
