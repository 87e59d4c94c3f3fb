"""Each actuator on its own, fed events directly: monitor files, the
fallbackcommand queue, the ip_vs table submission (no sockets, no clock)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path

from ldirectord_py.daemon.actuators import CommandQueue, MonitorFiles, TableSubmission
from ldirectord_py.daemon.drains import DrainKey, Drains, DrainStore
from ldirectord_py.engine import CommandRequested, Engine, MonitorRecord
from ldirectord_py.ipvs.model import ServiceKey, VirtualService
from ldirectord_py.ipvs.writer import DataplaneView
from ldirectord_py.observe.log import Log, localtime_text

from ..config.conftest import parse
from .test_log_actuator import Emitted


def test_monitor_lines_are_batched_per_file_with_the_originals_prefix(tmp_path: Path) -> None:
    errors: list[str] = []
    monitor = MonitorFiles(errors.append)
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    assert not monitor.pending
    monitor.add(MonitorRecord(str(a), "x [up] -"))
    monitor.add(MonitorRecord(str(b), "y [down] refused"))
    monitor.add(MonitorRecord(str(a), "x [down] timeout"))
    assert monitor.pending
    when = 1_700_000_000
    monitor.flush(when)
    prefix = f"[{localtime_text(when)}] [{os.getpid()}] "
    assert a.read_text() == f"{prefix}x [up] -\n{prefix}x [down] timeout\n"
    assert b.read_text() == f"{prefix}y [down] refused\n"
    assert not monitor.pending and errors == []


def test_a_monitor_file_that_cannot_be_written_is_reported_not_fatal(tmp_path: Path) -> None:
    errors: list[str] = []
    monitor = MonitorFiles(errors.append)
    monitor.add(MonitorRecord(str(tmp_path / "missing" / "m.log"), "x [up] -"))
    monitor.add(MonitorRecord(str(tmp_path / "ok.log"), "x [up] -"))
    monitor.flush(time.time())
    assert len(errors) == 1 and "Error writing to monitorfile" in errors[0]
    assert (tmp_path / "ok.log").read_text().endswith("x [up] -\n")


def test_fallbackcommands_run_one_at_a_time_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sink = Emitted()

    async def scenario() -> None:
        queue = CommandQueue(Log(sink))
        queue.start()
        for word in ("start", "stop", "start"):
            queue.put(CommandRequested(f"sleep 0.05; echo {word} >>{out}", "tcp:1"))
        queue.put(CommandRequested("exit 3", "tcp:1"))
        await queue.drain(10.0)

    asyncio.run(scenario())
    assert out.read_text().split() == ["start", "stop", "start"]
    assert [text for text, _ in sink.lines] == ["system(exit 3) failed: exit status 3"]


class Writer:
    def __init__(self) -> None:
        self.submitted: list[tuple[list[VirtualService], list[ServiceKey]]] = []

    def submit(
        self, desired: Iterable[VirtualService], also_owned: Iterable[ServiceKey] = ()
    ) -> None:
        self.submitted.append((list(desired), list(also_owned)))


class Routes:
    def __init__(self) -> None:
        self.updates: list[tuple[Engine, DataplaneView]] = []

    def update(self, engine: Engine, dataplane: DataplaneView, *, force: bool = False) -> None:
        self.updates.append((engine, dataplane))


def test_the_table_goes_to_the_writer_with_drains_once_per_version() -> None:
    engine = Engine(
        parse("virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate 2\n\tchecktype=on\n"), 0.0
    )
    view = DataplaneView()
    writer, routes = Writer(), Routes()
    store = DrainStore(None)
    store.keys.add(DrainKey("127.0.0.11", 80))
    table = TableSubmission(writer, lambda: view, routes, Drains(store))
    assert table.pending(engine)
    table.submit(engine)
    assert not table.pending(engine)
    ((desired, owned),) = writer.submitted
    assert [d.weight for d in desired[0].destinations] == [0]  # drained
    assert owned == [] and routes.updates == [(engine, view)]
    # a reload whose table is the same: nothing submitted, the routes told
    other = engine.reload(engine.config, 1.0)
    table.held(other)
    assert len(writer.submitted) == 1 and not table.pending(other)
    assert routes.updates[-1] == (other, view)
