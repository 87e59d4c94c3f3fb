"""A hung load balancer, dropped by BFD or by the BGP hold time: same machine, same run.

    sudo .venv/bin/python bench/bfd_failover.py [--rounds 10] [--json out.json]
    make bench-bfd

Two sites announce 198.51.100.10/32 through their own gobgpd; the router prefers
site 0. Site 0 is then frozen as a hung machine: every process in its namespace
stopped (SIGSTOP: gobgpd, the BFD daemon) and its link silent both ways (a
blackhole qdisc on both ends, i.e. 100% loss; this host kernel has no netem).
Measured: from the freeze to the router's kernel table sending the VIP to site 1
(`ip route`, polled every 2 ms), per configuration, each round in a fresh lab:

  bfd-bird   examples/lb-bfd-bird.conf beside gobgpd, examples/router-bird-bfd.conf
  bfd-frr    examples/lb-bfd-frr.conf (bfdd) beside gobgpd, examples/router-frr-bfd.conf
  bgp-only   examples/router-bird.conf: only the 3 s hold time (GoBGP's shortest)

BFD timers: 100 ms x 3 (the examples'). Goal: < 0.5 s with BFD.
Uses the namespaces of tests/integration/routing/lab.py; everything is torn down.

`--keep-slow DIR` keeps the lab's folder (every daemon's log, with FRR's and
BIRD's BFD and BGP debugging on and the freeze's wall-clock time in
`freeze.txt`) of each round slower than `--slow-ms`, to explain an outlier.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.routing.bfd_lab import (  # noqa: E402
    LoadBalancerBfd,
    announce_both,
    router_example,
    time_to_failover,
    wait_bfd_up,
)
from tests.integration.routing.lab import Lab  # noqa: E402

CONFIGURATIONS = {
    "bfd-bird": ("bird", True),
    "bfd-frr": ("frr", True),
    "bgp-only": ("bird", False),
}


FRR_DEBUG = (
    "log stdout debugging\nlog timestamp precision 6\ndebug bfd peer\ndebug bfd zebra\n"
    "debug bgp neighbor-events\ndebug bgp bfd\ndebug bgp zebra\ndebug zebra rib\n"
)
BIRD_DEBUG = "debug protocols { states, events };\n"


def with_debug(kind: str, config: str) -> str:
    """The router's config with its BFD, BGP and FIB debugging on (for --keep-slow)."""
    if kind == "frr":
        return config.replace(
            "frr defaults traditional\n", "frr defaults traditional\n" + FRR_DEBUG
        )
    return config + BIRD_DEBUG


def one_round(name: str, keep: Path | None = None, slow_s: float = 1.0) -> float:
    kind, bfd = CONFIGURATIONS[name]
    config = router_example(kind, bfd=bfd)
    workdir = Path(tempfile.mkdtemp(prefix=f"bfd-{name}-")) if keep else None
    if keep:
        config = with_debug(kind, config)
    seconds = None
    try:
        with Lab(sites=2, hold_time=3, router=kind, router_config=config, workdir=workdir) as lab:
            daemons = LoadBalancerBfd(lab, kind)
            try:
                if bfd:
                    daemons.start()
                    wait_bfd_up(lab, sites=2)
                announce_both(lab)
                if workdir:
                    (workdir / "freeze.txt").write_text(f"{time.time():.6f}\n")
                seconds = time_to_failover(lab, dead=0, other=1)
                return seconds
            finally:
                daemons.stop()
    finally:
        if workdir and keep:
            if seconds is None or seconds > slow_s:
                dest = keep / f"{name}-{time.strftime('%H%M%S')}-{seconds or 0:.3f}s"
                sockets = shutil.ignore_patterns("*.sock", "*.ctl", "*.vty", "*.api")
                shutil.copytree(workdir, dest, symlinks=True, ignore=sockets)
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--only", choices=sorted(CONFIGURATIONS), action="append")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--keep-slow",
        type=Path,
        metavar="DIR",
        help="keep the logs (debugging on) of rounds slower than --slow-ms",
    )
    parser.add_argument("--slow-ms", type=float, default=1000.0)
    args = parser.parse_args()
    if args.keep_slow:
        args.keep_slow.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {}
    for name in args.only or list(CONFIGURATIONS):
        results[name] = []
        for _ in range(args.rounds):
            results[name].append(one_round(name, args.keep_slow, args.slow_ms / 1000))
            print(f"{name}: {results[name][-1] * 1000:.0f} ms", flush=True)
    print(f"\nhung site -> route via the other site at the router ({args.rounds} rounds each)")
    print(f"{'configuration':<12} {'median':>8} {'min':>8} {'max':>8}")
    summary = {}
    for name, values in results.items():
        ms = [v * 1000 for v in values]
        summary[name] = {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
                         "rounds_ms": [round(v, 1) for v in ms]}  # fmt: skip
        print(f"{name:<12} {statistics.median(ms):>6.0f}ms {min(ms):>6.0f}ms {max(ms):>6.0f}ms")
    if "bgp-only" in summary:
        base = summary["bgp-only"]["median_ms"]
        for name in summary:
            if name != "bgp-only":
                print(f"{name}: {base / summary[name]['median_ms']:.1f}x faster than bgp-only")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
