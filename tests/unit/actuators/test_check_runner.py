"""The scheduler's runner: maintenancedir before the check, the `-d` line the
original prints before each check, the stall watch told of every result."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ldirectord_py.checks.result import CheckResult, FailureKind
from ldirectord_py.checks.runtime import runtime_for
from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.daemon.check_runner import CheckRunner
from ldirectord_py.daemon.stall import StallWatch
from ldirectord_py.engine import Engine
from ldirectord_py.observe.log import Log, Priority

from ..config.conftest import parse
from .test_log_actuator import Emitted

CONFIG = (
    "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tservice=http\n"
    "virtual=127.0.0.100:81\n\treal=127.0.0.12:81 gate\n\tchecktype=2\n\tservice=http\n"
)


async def run_one(runner: CheckRunner, spec: CheckSpec) -> CheckResult:
    """One check by the daemon's runner, in the loop's runtime (the scheduler's
    stand-in)."""
    return await runner.run(spec, None, runtime_for(asyncio.get_running_loop()))


def test_debug_prints_the_originals_line_before_each_check() -> None:
    sink = Emitted()
    config = parse(CONFIG)
    runner = CheckRunner(Log(sink, debug=True), StallWatch(0.0), lambda: 0.0)
    engine = Engine(config, 0.0)
    runner.use_config(config, engine.checks())
    for target in engine.checks():
        runner.debug_line(CheckSpec.for_real(target.virtual, target.real), None)
    first, second = (v.check_identity(v.reals[0]) for v in config.virtuals)
    assert sink.lines == [
        (
            f"DEBUG2: Checking negotiate: real server={first} (virtual=tcp:127.0.0.100:80)",
            Priority.DEBUG,
        ),
        (
            f"DEBUG2: Checking negotiate: real server={second} (virtual=tcp:127.0.0.100:81)",
            Priority.DEBUG,
        ),
    ]


def test_a_real_in_maintenancedir_is_down_without_a_check(tmp_path: Path) -> None:
    (tmp_path / "127.0.0.11:80").write_text("")
    config = parse(f"maintenancedir={tmp_path}\n" + CONFIG)
    sink = Emitted()
    watch = StallWatch(0.0)
    runner = CheckRunner(Log(sink, debug=True), watch, lambda: 42.0)
    engine = Engine(config, 0.0)
    runner.use_config(config, engine.checks())
    virtual = config.virtuals[0]
    spec = CheckSpec.for_real(virtual, virtual.reals[0])
    result = asyncio.run(run_one(runner, spec))
    assert (result.ok, result.reason, result.kind) == (
        False,
        "Server in maintenance",
        FailureKind.MAINTENANCE,
    )
    assert runner.in_maintenance == {spec.identity}
    assert watch.last_result_at == 42.0
    assert sink.lines == []  # the original prints no "Checking" line for it either


def test_no_per_check_lines_into_the_journal(tmp_path: Path) -> None:
    class Journal(Emitted):
        def is_journal(self) -> bool:
            return True

    config = parse(CONFIG)
    engine = Engine(config, 0.0)
    runner = CheckRunner(Log(Journal(), debug=True), StallWatch(0.0), lambda: 0.0)
    runner.use_config(config, engine.checks())
    assert not runner.log.per_check and runner._debug_names == {}
    assert Log(Emitted(), debug=True).per_check and not Log(Emitted()).per_check


def test_the_daemons_checks_run_in_the_schedulers_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler owns the checks' runtime (shared sockets, deadlines) from
    start to stop; the daemon's runner hands it to run_check rather than leave
    run_check to look the loop's up for every check."""
    from ldirectord_py.checks.runner import CombinedState
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.scheduler import Scheduler
    from ldirectord_py.daemon import check_runner

    given: list[CheckRuntime | None] = []

    async def run_check(
        spec: CheckSpec, state: CombinedState | None = None, runtime: CheckRuntime | None = None
    ) -> CheckResult:
        given.append(runtime)
        return CheckResult(True, "ok", 0.0)

    monkeypatch.setattr(check_runner, "run_check", run_check)
    config = parse(CONFIG)
    engine = Engine(config, 0.0)
    runner = CheckRunner(Log(Emitted()), StallWatch(0.0), lambda: 0.0)
    runner.use_config(config, engine.checks())
    specs = [CheckSpec.for_real(t.virtual, t.real) for t in engine.checks()]

    async def scenario() -> CheckRuntime | None:
        scheduler = Scheduler(lambda identity, result: None, runner=runner.run)
        scheduler.update(specs)
        await scheduler.check_now()
        runtime = scheduler.runtime
        await scheduler.stop()
        return runtime

    runtime = asyncio.run(scenario())
    assert runtime is not None and given == [runtime] * len(specs) and len(specs) == 2
