"""The checker next to bad backends: what the isolation tests and bench/ share.

The checker is the daemon's (a Scheduler running run_check on one asyncio
loop). It runs in a child process of its own, and the backends in others
(tests.faults.backends), as other machines would. Each of these processes gets
a session of its own with autogroup nice -10 (root only; this kernel ranks
sessions, not processes, under sched_autogroup_enabled=1), as
bench/checks_throughput.py --nice does: on a machine shared with other work
the measurement is then of the checker and not of the neighbours. A freeze of
the checker's loop (a blocking sleep on it) can be scheduled, to stand for a
SIGSTOP or a starved CPU.

`observe(Scenario)` returns, per identity, when each result arrived (loop
clock) and what it said, the CPU the checker process used, and how long its
loop was held up (callbacks over 20 ms late, checks/stall.py).
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ldirectord_py.checks import CheckResult, CheckSpec, Scheduler
from ldirectord_py.checks.deadline import deadlines_for
from tests.faults.backends import take_priority

ROOT = Path(__file__).resolve().parent.parent.parent


@contextlib.contextmanager
def backends(which: str) -> Iterator[dict[str, int]]:
    """Start `python -m tests.faults.backends which`; yields {kind: port}."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.backends", which],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,
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
class Check:
    """One HTTP real of a scenario."""

    identity: str
    port: int
    receive: str = "OK"
    interval: float = 1.0
    timeout: float = 1.0


@dataclass
class Scenario:
    checks: list[Check]
    seconds: float
    warmup: float = 1.5
    freezes: list[tuple[float, float]] = field(default_factory=list)  # (at, for), s


@dataclass
class Observed:
    """Per identity: (loop time, result) of each result delivered."""

    results: dict[str, list[tuple[float, CheckResult]]] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    loop_stall_seconds: float = 0.0
    prioritised: bool = False

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


def observe(scenario: Scenario, timeout: float = 120.0) -> Observed:
    """Run the scenario in a checker process of its own; its observations."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.isolation"],
        input=json.dumps(asdict(scenario)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        start_new_session=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the checker process failed ({proc.returncode}): {proc.stderr}")
    data = json.loads(proc.stdout)
    return Observed(
        results={
            k: [(t, CheckResult(ok, reason, latency)) for t, ok, reason, latency in v]
            for k, v in data["results"].items()
        },
        cpu_seconds=data["cpu"],
        wall_seconds=data["wall"],
        loop_stall_seconds=data["stall"],
        prioritised=data["prioritised"],
    )


# ---------------------------------------------------------------- the child


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(scenario: Scenario) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    results: dict[str, list[tuple[float, bool, str, float]]] = {}
    recording = False

    def on_result(identity: str, result: CheckResult) -> None:
        if recording:
            results.setdefault(identity, []).append(
                (loop.time(), result.ok, result.reason, result.latency)
            )

    async def freezer() -> None:
        start = loop.time()
        for at, length in scenario.freezes:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            time.sleep(length)  # the loop stops here; the backends go on

    specs = [
        http_spec(c.identity, c.port, c.receive, c.interval, c.timeout) for c in scenario.checks
    ]
    sched = Scheduler(on_result)
    sched.update(specs)
    sched.start()
    freezing = loop.create_task(freezer())
    stall = deadlines_for(loop).stall
    stall.hold()
    try:
        await asyncio.sleep(scenario.warmup)
        recording = True
        cpu0, wall0, stall0 = _cpu(), time.monotonic(), stall.now()
        await asyncio.sleep(scenario.seconds)
        cpu, wall, stalled = _cpu() - cpu0, time.monotonic() - wall0, stall.now() - stall0
        recording = False
    finally:
        stall.release()
        freezing.cancel()
        await sched.stop()
    return {"results": results, "cpu": cpu, "wall": wall, "stall": stalled}


def _child() -> None:
    prioritised = take_priority()
    raw = json.loads(sys.stdin.read())
    scenario = Scenario(
        checks=[Check(**c) for c in raw["checks"]],
        seconds=raw["seconds"],
        warmup=raw["warmup"],
        freezes=[(a, b) for a, b in raw["freezes"]],
    )
    out = asyncio.run(_run(scenario))
    out["prioritised"] = prioritised
    print(json.dumps(out))


if __name__ == "__main__":
    _child()
