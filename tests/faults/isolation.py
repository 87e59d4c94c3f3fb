"""The checker next to bad backends: what the isolation tests and bench/ share.

The checker is the daemon's: a Scheduler running run_check, on its own loop in
this process. The backends run in processes of their own (tests.faults.backends),
as other machines would. `observe` runs the checks for a while and records, per
identity, when each result arrived and what it said, and the CPU this process
(loop and threads) used meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ldirectord_py.checks import CheckResult, CheckSpec, Scheduler
from ldirectord_py.checks.deadline import deadlines_for

ROOT = Path(__file__).resolve().parent.parent.parent


@contextlib.contextmanager
def backends(which: str) -> Iterator[dict[str, int]]:
    """Start `python -m tests.faults.backends which`; yields {kind: port}."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.backends", which],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {which} backends did not start (exit {proc.wait()})")
        yield {str(k): int(v) for k, v in json.loads(line).items()}
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_spec(identity: str, port: int, receive: str, interval: float, timeout: float) -> CheckSpec:
    """A negotiate http check of 127.0.0.1:port (GET /), as the config would make it."""
    return CheckSpec(
        identity=identity,
        checktype="negotiate",
        service="http",
        protocol="tcp",
        family=4,
        address="127.0.0.1",
        port=port,
        checkport=port,
        virtual_address="127.0.0.100",
        virtual_port=80,
        fwmark=None,
        request="/",
        receive=receive,
        url=f"http://127.0.0.1:{port}/",
        checktimeout=timeout,
        negotiatetimeout=timeout,
        checkinterval=interval,
    )


@dataclass
class Observed:
    """Per identity: (loop time, result) of each result delivered."""

    results: dict[str, list[tuple[float, CheckResult]]] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    loop_stall_seconds: float = 0.0  # the loop's own lateness (checks/stall.py)

    def gaps(self, identity: str) -> list[float]:
        """Seconds between consecutive results of one identity."""
        times = [t for t, _ in self.results.get(identity, [])]
        return [b - a for a, b in itertools.pairwise(times)]

    def worst_gap(self, identities: list[str]) -> float:
        return max((max(self.gaps(i), default=0.0) for i in identities), default=0.0)

    def downs(self, identities: list[str]) -> list[tuple[str, str]]:
        return [(i, r.reason) for i in identities for _, r in self.results.get(i, []) if not r.ok]

    def count(self, identity: str) -> int:
        return len(self.results.get(identity, []))

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def observe(specs: list[CheckSpec], seconds: float, warmup: float = 1.5) -> Observed:
    """Run the checks for warmup + seconds; record the results after the warm-up."""
    observed = Observed()
    loop = asyncio.get_running_loop()
    recording = False

    def on_result(identity: str, result: CheckResult) -> None:
        if recording:
            observed.results.setdefault(identity, []).append((loop.time(), result))

    sched = Scheduler(on_result)
    sched.update(specs)
    sched.start()
    try:
        await asyncio.sleep(warmup)
        recording = True
        stall = deadlines_for(loop).stall
        stall.hold()
        cpu0, wall0, stall0 = _cpu(), time.monotonic(), stall.now()
        await asyncio.sleep(seconds)
        observed.cpu_seconds = _cpu() - cpu0
        observed.wall_seconds = time.monotonic() - wall0
        observed.loop_stall_seconds = stall.now() - stall0
        stall.release()
        recording = False
    finally:
        await sched.stop()
    return observed
