"""Where each thread of the daemon spent a py-spy profile's samples: holding the
interpreter lock, waiting for it, or idle in epoll/another wait.

    py-spy record --idle --native --threads --rate 200 --format raw -p PID -o P.txt
    .venv/bin/python bench/loop_profile.py P.txt

(bench/loop_isolation.py --profiler PY-SPY --profile-args "--idle --native
--threads --rate 200 --format raw" records one over the start of the fault.)
A thread that wants the interpreter lock back (after a system call, or asked to
drop it by another) waits in pthread_cond_timedwait/pthread_cond_wait inside
CPython's take_gil/drop_gil, which a native stack shows; a Python-level lock or
queue wait goes through PyThread_acquire_lock instead, the loop's idle wait
through epoll_wait. Per thread: samples per category, and the Python frames
most often seen waiting for the lock (where it was given up).
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def category(frames: list[str]) -> str:
    natives = [f for f in frames if "(lib" in f or ".c:" in f or f.startswith("0x")]
    text = ";".join(natives[-6:])
    if "epoll_wait" in text:
        return "idle: epoll_wait"
    if any(s in text for s in ("sem_clockwait", "sem_timedwait", "sem_wait", "PyThread_acquire")):
        return "idle: a lock or queue"
    if "pthread_cond_timedwait" in text or "pthread_cond_wait" in text:
        return "WAITING FOR THE INTERPRETER LOCK"
    if any(s in text for s in ("select", "poll (", "nanosleep", "clock_nanosleep", "read (")):
        return "idle: other wait"
    return "running (holds the lock, or in a system call)"


def python_frame(frames: list[str]) -> str:
    py = [f for f in frames if re.search(r"\.py:\d+\)$", f)]
    return " < ".join(reversed(py[-3:])) if py else "(no Python frame)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    waits: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for raw in args.profile.read_text().splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        frames = m["stack"].split(";")
        thread = re.sub(r"^thread \(\d+\): ", "", frames[0])
        kind = category(frames[1:])
        counts[thread][kind] += int(m["count"])
        if kind.startswith("WAITING"):
            waits[thread][python_frame(frames[1:])] += int(m["count"])
    for thread in sorted(counts, key=lambda t: -sum(counts[t].values())):
        total = sum(counts[thread].values())
        print(f"{thread}: {total} samples")
        for kind, n in counts[thread].most_common():
            print(f"  {n:7d} {100 * n / total:5.1f}%  {kind}")
        for frame, n in waits[thread].most_common(args.top):
            print(f"          waited {n:5d} at {frame}")


if __name__ == "__main__":
    main()
