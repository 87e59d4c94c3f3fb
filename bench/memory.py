"""Resident memory with N connect-checked reals (default 10,000), ours and the Perl's.

    .venv/bin/python bench/memory.py --reals 10000 --daemon ours --daemon perl

The same configuration as bench/checks_throughput.py (one virtual, N reals on
127.10.x.y served by one nginx, checkinterval=1, a monitorfile). The daemon runs
until every real has had a result plus --settle seconds, or at most --max-time
seconds; VmRSS from /proc/PID/status is sampled every 0.5 s and the peak
reported, with how many reals had been checked by then (the Perl original with
10,000 reals may not finish a round within the bound: that is reported too).
Target (ours): under 150 MB at 10,000 reals.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks_throughput import (
    PORT,
    monitor_counts,
    nginx,
    real_address,
    rss_kib,
    start_daemon,
    stop,
    uptime,
    write_config,
)


def measure(which: str, n: int, settle: float, max_time: float, tmp: Path) -> dict[str, object]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"mem-{which}-", dir=tmp))
    config = run_dir / f"mem-{which}-{n}.cf"
    monitor = run_dir / "monitor.log"
    addresses = [real_address(i) for i in range(n)]
    write_config(
        config,
        addresses,
        kind="connect",
        port=PORT,
        monitorfile=monitor,
        logfile=run_dir / "daemon.log",
    )
    proc = start_daemon(which, config, run_dir)
    peak = 0
    seen = 0
    all_seen_at: float | None = None
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < max_time and proc.poll() is None:
            time.sleep(0.5)
            peak = max(peak, rss_kib(proc.pid))
            if all_seen_at is None:
                data = monitor.read_bytes() if monitor.exists() else b""
                seen = len({k.rsplit(" ", 1)[0] for k in monitor_counts(data)})
                if seen >= n:
                    all_seen_at = time.monotonic()
            elif time.monotonic() - all_seen_at >= settle:
                break
        final = rss_kib(proc.pid) if proc.poll() is None else 0
    finally:
        stop(proc)
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "daemon": which,
        "reals": n,
        "reals_checked": seen,
        "first_round_s": round(all_seen_at - t0, 1) if all_seen_at else None,
        "peak_rss_mib": round(peak / 1024, 1),
        "final_rss_mib": round(final / 1024, 1),
        "ran_s": round(time.monotonic() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reals", type=int, default=10_000)
    ap.add_argument("--daemon", action="append", choices=("ours", "perl"))
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--max-time", type=float, default=120.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (unshare -m, mount)")
    tmp = Path(tempfile.mkdtemp(prefix="ldmem-"))
    out: dict[str, object] = {"load_before": uptime()}
    try:
        with nginx(tmp, PORT):
            out["runs"] = [
                measure(d, args.reals, args.settle, args.max_time, tmp)
                for d in (args.daemon or ["ours"])
            ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = uptime()
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
