"""False DOWN under CPU pressure: ours beside the Perl original, same machine, same run.

    .venv/bin/python bench/isolation_stalls.py [--seconds 180] [--busy 4] \
        [--runs connect:200:ours,connect:200:perl,http:200:ours,http:200:perl,connect:2000:ours] \
        [--json out.json]

Each run: one daemon (ours: .venv/bin/ldirectord; the Perl: /usr/sbin/ldirectord;
`before`: ours with the ldirectord_py of --before first on PYTHONPATH)
checks N healthy reals (127.10.x.y, all served by one nginx at nice -10, which
stands in for other machines), set up exactly as bench/checks_throughput.py
does (checkinterval=1, checktimeout=1, negotiatetimeout=1, failurecount=1, a
monitorfile, supervised=yes, a private mount namespace with a stand-in
ipvsadm). Once every real has had a result, --busy processes spinning on the
CPU (`while True: pass`) are started at the daemon's priority (nice 0, the
same session, so the same autogroup) on this 2-core machine, and the
monitorfile is read over --seconds: every `[down]` line is a false DOWN (every
real is healthy). Also reported: results per real per second, the fewest
results of any real, and the daemon's CPU over the window.

With --freeze SECONDS:COUNT the window is instead COUNT stops of the whole
daemon (SIGSTOP ... SIGCONT) of SECONDS each, 5 s apart: the issue's
"ten-second freezes".

Needs root (unshare, mount). Every process is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checks_throughput import (
    PORT,
    cpu_seconds,
    monitor_counts,
    nginx,
    real_address,
    start_daemon,
    stop,
    uptime,
    write_config,
)

SPIN = "while True: pass"
FREEZE_GAP = 5.0


@dataclass
class Run:
    daemon: str
    kind: str
    n: int
    busy: int
    seconds: float
    results: int
    down_lines: int
    reals_down: int
    per_real_per_s: float
    min_per_real: int
    cpu_percent: float
    load: str
    note: str = ""


def measure(which: str, kind: str, n: int, args: argparse.Namespace, tmp: Path) -> Run:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{which}-{kind}-{n}-", dir=tmp))
    config = run_dir / f"stall-{which}-{kind}-{n}.cf"
    monitor = run_dir / "monitor.log"
    addresses = [real_address(i) for i in range(n)]
    write_config(
        config, addresses, kind=kind, port=PORT, monitorfile=monitor, logfile=run_dir / "log"
    )
    if which == "before":  # our daemon, with the --before tree's ldirectord_py first
        os.environ["PYTHONPATH"] = str(args.before)
    try:
        proc = start_daemon("perl" if which == "perl" else "ours", config, run_dir)
    finally:
        os.environ.pop("PYTHONPATH", None)
    spinners: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.monotonic()
        while True:
            time.sleep(0.5)
            data = monitor.read_bytes() if monitor.exists() else b""
            seen = {k.rsplit(" ", 1)[0] for k in monitor_counts(data)}
            if len(seen) >= n:
                break
            if proc.poll() is not None or time.monotonic() - t0 > args.max_start:
                return Run(which, kind, n, args.busy, 0, 0, 0, 0, 0, 0, 0, uptime(), "no start")
        time.sleep(2)
        spinners = [
            subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL)
            for _ in range(args.busy)
        ]
        time.sleep(1)
        start_off = monitor.stat().st_size
        c0, w0 = cpu_seconds(proc.pid), time.monotonic()
        if args.freeze:
            length, count = args.freeze
            for _ in range(count):  # the whole daemon stopped, as by a debugger or a VM pause
                time.sleep(FREEZE_GAP)
                proc.send_signal(signal.SIGSTOP)
                time.sleep(length)
                proc.send_signal(signal.SIGCONT)
            time.sleep(FREEZE_GAP)
        else:
            time.sleep(args.seconds)
        c1, w1 = cpu_seconds(proc.pid), time.monotonic()
        load = uptime()
        with monitor.open("rb") as fh:
            fh.seek(start_off)
            data = fh.read()
        data = data[data.find(b"\n") + 1 : data.rfind(b"\n") + 1]
        counts = monitor_counts(data)
        per_real: Counter[str] = Counter()
        down_lines = 0
        down_reals: set[str] = set()
        for key, c in counts.items():
            ident, state = key.rsplit(" ", 1)
            per_real[ident] += c
            if state == "down":
                down_lines += c
                down_reals.add(ident)
        elapsed = w1 - w0
        total = sum(per_real.values())
        return Run(
            which,
            kind,
            n,
            args.busy,
            round(elapsed, 1),
            total,
            down_lines,
            len(down_reals),
            round(total / n / elapsed, 3),
            min(per_real.values()) if len(per_real) >= n else 0,
            round(100 * (c1 - c0) / elapsed, 1),
            load,
        )
    finally:
        for s in spinners:
            s.kill()
            s.wait()
        stop(proc)
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--busy", type=int, default=4)
    ap.add_argument("--max-start", type=float, default=120.0)
    ap.add_argument(
        "--runs",
        default="connect:200:ours,connect:200:perl,http:200:ours,http:200:perl,connect:2000:ours",
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--freeze",
        type=lambda v: (float(v.split(":")[0]), int(v.split(":")[1])),
        help="SECONDS:COUNT: instead of a --seconds window, SIGSTOP the daemon COUNT times "
        f"for SECONDS each, {FREEZE_GAP:g} s apart (use --busy 0 for freezes alone)",
    )
    ap.add_argument(
        "--before",
        type=Path,
        help="a directory holding another ldirectord_py (e.g. `git archive COMMIT "
        "ldirectord_py | tar -x -C DIR`), run as daemon `before`",
    )
    args = ap.parse_args()
    runs: list[Run] = []
    tmp = Path(tempfile.mkdtemp(prefix="ldstall-"))
    try:
        with nginx(tmp, PORT):
            for item in args.runs.split(","):
                kind, n, which = item.split(":")
                r = measure(which, kind, int(n), args, tmp)
                print(json.dumps(asdict(r)), flush=True)
                runs.append(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\n{'daemon':6} {'check':7} {'N':>5} {'busy':>4} {'window':>6} {'false DOWN':>10} "
        f"{'reals':>5} {'results/real/s':>14} {'min':>4} {'CPU %':>6}  load"
    )
    for r in runs:
        print(
            f"{r.daemon:6} {r.kind:7} {r.n:5} {r.busy:4} {r.seconds:5.0f}s {r.down_lines:10} "
            f"{r.reals_down:5} {r.per_real_per_s:14.3f} {r.min_per_real:4} {r.cpu_percent:6.1f}"
            f"  {r.load.split()[0] if r.load else '-'} {r.note}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")


if __name__ == "__main__":
    main()
