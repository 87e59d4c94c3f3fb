"""The checking director only wires: each engine event reaches its actuator, and
nothing else happens to it (events fed directly: no checks, no sockets, no clock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
