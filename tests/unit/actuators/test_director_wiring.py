"""The checking director only wires: each engine event reaches its actuator, and
nothing else happens to it (events fed directly: no checks, no sockets, no clock)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.config import parse_text
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.engine import (
    Alert,
    CommandRequested,
    DesiredTableChanged,
    Engine,
    FallbackChanged,
    MonitorRecord,
    RealChanged,
    RealState,
    SoftFailure,
)
from ldirectord_py.ipvs.model import Table
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSUnavailable
from ldirectord_py.observe.log import Log, Priority
from ldirectord_py.observe.metrics import Metrics

from ..config.conftest import RESOLVER, parse
from ..ipvs.fake_kernel import FakeKernel
from .test_effect_actuators import Routes, Writer
from .test_log_actuator import Emitted

V, W, R = "tcp:127.0.0.100:80", "127.0.0.100:80", "127.0.0.11:80"
CONFIG = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tservice=http\n"


class Kernel(FakeKernel):
    def close(self) -> None:
        pass


class Mail:
    def __init__(self) -> None:
        self.sent: list[tuple[Alert, str]] = []

    def send(self, alert: Alert, daemon_status: str) -> None:
        self.sent.append((alert, daemon_status))


def director(sink: Emitted, *, debug: bool = False) -> CheckingDirector:
    kernel = Kernel(Table(()))
    return CheckingDirector(Log(sink, debug=debug), ipvs_factory=lambda: AsyncIPVS(lambda: kernel))


def test_each_event_reaches_its_actuator_and_only_it(tmp_path: Path) -> None:
    sink, mail, writer, routes = Emitted(), Mail(), Writer(), Routes()
    monitor = tmp_path / "monitor.log"
    ran = tmp_path / "ran"
    alert = Alert(
        V,
        "Deleted real server: x (y)",
        "ops@example.org",
        frozenset({"running"}),
        None,
        None,
        None,
        None,
    )

    async def scenario() -> None:
        d = director(sink)
        d.engine = Engine(parse(CONFIG), 0.0)
        d.actuators.mailer = mail  # type: ignore[assignment]
        d.table.writer, d.table.anycast = writer, routes
        d.actuators.metrics = metrics = Metrics(lambda: {})
        d.status_word = "running"
        d.commands.start()
        d._apply(
            [
                MonitorRecord(str(monitor), "x [down] refused"),
                RealChanged(
                    V, W, R, RealState.UP, RealState.DOWN, 0, False, "refused", FailureKind.REFUSED
                ),
                SoftFailure(V, R, 1, 2, "timeout", FailureKind.TIMEOUT),
                FallbackChanged(V, W, "127.0.0.1:80", True),
                CommandRequested(f"echo start >{ran}", V),
                alert,
                DesiredTableChanged(1),
            ]
        )
        # batched: nothing written or submitted before the loop turns
        assert not monitor.exists() and writer.submitted == []
        await asyncio.sleep(0)
        await d.commands.drain(5.0)
        assert monitor.read_text().endswith("x [down] refused\n")
        assert len(writer.submitted) == 1 and routes.updates[0][0] is d.engine
        assert metrics.transitions.labels(V, "down")._value.get() == 1
        assert metrics.fallbacks.labels(V)._value.get() == 1

    asyncio.run(scenario())
    assert sink.lines == [
        (f"Deleted real server: {R} ({W}) (reason: refused)", Priority.NOTICE),
        (f"Soft failure real server: {R} ({V}) failure 1/2 (reason: timeout)", Priority.WARNING),
        (
            f"Added fallback server: 127.0.0.1:80 ({W}) (Weight set to 1)"
            " (reason: no real server up)",
            Priority.NOTICE,
        ),
    ]
    assert mail.sent == [(alert, "running")]
    assert ran.read_text() == "start\n"


def test_ip_vs_not_available_is_logged_once_at_start(tmp_path: Path) -> None:
    def unavailable() -> Kernel:
        raise IPVSUnavailable()

    config = parse_text(
        "virtual=127.0.0.100:80\n\treal=127.0.0.23:80 gate\n\tchecktype=on\n",
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )
    sink = Emitted()

    async def scenario() -> None:
        d = CheckingDirector(Log(sink), ipvs_factory=lambda: AsyncIPVS(unavailable))
        await d.start(config)
        await asyncio.sleep(0.3)
        await d.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    said = [text for text, _ in sink.lines if "ip_vs is not available" in text]
    assert said == ["ip_vs is not available: load the ip_vs module"], sink.lines
    priorities = [p for text, p in sink.lines if "ip_vs is not available" in text]
    assert priorities == [Priority.WARNING], sink.lines


def test_a_failure_is_classified_once_where_it_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kind is decided where the failed result is made (the check, or the
    runner from what it raised: one `describe_error`); the check metrics and the
    engine take `result.kind` as it is, and no one reads the reason's words again."""
    from ldirectord_py.checks import runner as check_runner
    from ldirectord_py.checks.result import CheckResult
    from ldirectord_py.checks.runtime import runtime_for
    from ldirectord_py.checks.spec import CheckSpec
    from ldirectord_py.daemon import check_runner as daemon_runner

    described: list[BaseException] = []
    describe = check_runner.describe_error

    def counted(exc: BaseException) -> tuple[str, FailureKind]:
        described.append(exc)
        return describe(exc)

    monkeypatch.setattr(check_runner, "describe_error", counted)
    config = parse(CONFIG)
    virtual = config.virtuals[0]
    real = virtual.reals[0]
    # a connect check with no port to check fails at once, without the network
    spec = dataclasses.replace(
        CheckSpec.for_real(virtual, real), checktype="connect", checkport=None
    )

    async def scenario() -> tuple[CheckResult, Engine, Metrics]:
        d = director(Emitted())
        d.engine = Engine(config, 0.0)
        d.table.writer, d.table.anycast = Writer(), Routes()
        d.runner.metrics = metrics = Metrics(lambda: {})
        result = await d.runner.run(spec, None, runtime_for(asyncio.get_running_loop()))
        d._on_result(spec.identity, result)
        await asyncio.sleep(0)
        return result, d.engine, metrics

    result, engine, metrics = asyncio.run(scenario())
    assert (result.ok, result.reason, result.kind) == (False, "no check port", FailureKind.OTHER)
    assert len(described) == 1
    assert metrics.check_failures.labels("connect", "other")._value.get() == 1
    assert engine.real_status(virtual, real).last_kind is FailureKind.OTHER

    # a reason that reads like another kind keeps the kind its result carries
    said = CheckResult(False, "timeout after 3s", 3.0, FailureKind.OTHER)

    async def given(spec: CheckSpec, *args: object, **kw: object) -> CheckResult:
        return said

    monkeypatch.setattr(daemon_runner, "run_check", given)
    result, engine, metrics = asyncio.run(scenario())
    assert result is said
    assert metrics.check_failures.labels("connect", "other")._value.get() == 1
    assert metrics.check_failures.labels("connect", "timeout")._value.get() == 0
    assert engine.real_status(virtual, real).last_kind is FailureKind.OTHER
