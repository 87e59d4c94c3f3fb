"""Finding 1 (host part; the guest proves it at a BIRD router:
tests/kernel/test_faults_dataplane.py) and finding 4 (writers cannot die silently).

Invariant (1): a VIP is withdrawn only by its own health or its own dataplane;
the anycastmaxwithdraw guard holds on every withdrawal path.
Invariant (4): no writer dies silently: an unexpected exception is logged with
its traceback, counted, in status and metrics, and the writer restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from ldirectord_py.config import parse_text
from ldirectord_py.ipvs.model import Table
from ldirectord_py.ipvs.operations import AddService, Operation
from ldirectord_py.observe.metrics import _families
from ldirectord_py.observe.schema import StatusSnapshot
from tests.unit.config.conftest import RESOLVER
from tests.unit.test_anycast_director import _director
from tests.unit.test_checking_director import Kernel, Lines, eventually, free_port, http_backend

A, B = "198.51.100.10/32", "198.51.100.11/32"


def metrics_text(status: dict[str, Any]) -> str:
    """What the exporter serves for this status document."""

    class Snapshot(Collector):
        def collect(self) -> Any:
            return _families(StatusSnapshot.from_json(status))

    registry = CollectorRegistry()
    registry.register(Snapshot())
    return generate_latest(registry).decode()


class TypoKernel(Kernel):
    """The kernel's answer to an unknown scheduler: ENOENT for that service only."""

    def execute(self, operations: Sequence[Operation]) -> list[Exception | None]:
        out: list[Exception | None] = []
        for op in operations:
            if isinstance(op, AddService) and op.service.scheduler == "wrrr":
                out.append(FileNotFoundError(2, "No such file or directory"))
            else:
                out.extend(super().execute([op]))
        return out


def _config(tmp_path: Path, port: int, typo: bool) -> Any:
    text = "checkinterval=1\nnegotiatetimeout=1\nanycastprefix=198.51.100.0/24\n"
    text += "gobgpapi=127.0.0.1:50099\nanycastmaxwithdraw=1\n"
    for vip in ("198.51.100.10", "198.51.100.11"):
        text += f"virtual={vip}:80\n\treal=127.0.0.31:{port} gate\n"
        text += '\tservice=http\n\trequest="/"\n\treceive="OK"\n'
    if typo:
        text += f"virtual=192.0.2.200:80\n\treal=127.0.0.31:{port} gate\n\tscheduler=wrrr\n"
    return parse_text(text, str(tmp_path / "t.cf"), resolver=RESOLVER, check_files=False)


def test_faults_finding1_a_refused_service_withdraws_no_other_vip(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    kernel = TypoKernel(Table(()))
    lines = Lines()
    director, routes, _ = _director(lines, lambda: kernel, [], kernel)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port, typo=False))
        await eventually(lambda: set(routes.routes) == {A, B}, what=lambda: lines.lines)
        await director.reload(_config(tmp_path, port, typo=True))
        refused = await director.refused_services()
        assert len(refused) == 1 and "192.0.2.200:80" in refused[0], refused
        await asyncio.sleep(1.5)  # check rounds and writer retries
        assert set(routes.routes) == {A, B}, lines.lines
        status = director.status()
        assert [k for k in status["dataplane"]["refused"] if "192.0.2.200:80" in k]
        metrics = metrics_text(director.status())
        assert 'ldirectord_ipvs_service_refused{service="' in metrics
        await director.stop()
        server.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    text = "\n".join(lines.lines)
    assert "withdrawing the anycast VIPs" not in text
    assert "192.0.2.200:80 not programmed" in text


class CrashingKernel(Kernel):
    """A reply that does not decode, twice: the writer's task dies with a KeyError."""

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        self.reads = 0

    def read_table(self) -> Table:
        self.reads += 1
        if self.reads in (2, 3):  # the first is the director's, at start
            raise KeyError("IPVS_SVC_ATTR_SCHED_NAME")
        return super().read_table()


def test_faults_finding4_a_writer_crash_is_logged_counted_and_restarted(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    kernel = CrashingKernel(Table(()))
    lines = Lines()
    director, routes, _ = _director(lines, lambda: kernel, [], kernel)

    async def scenario() -> None:
        server = await http_backend("127.0.0.31", port)
        await director.start(_config(tmp_path, port, typo=False))
        # the first read at start is not the writer's; let the writer crash twice
        await eventually(
            lambda: director.status()["writers"].get("ipvs", {}).get("crashes", 0) >= 2,
            timeout=20,
            what=lambda: lines.lines,
        )
        # restarted with backoff, and then it programs the table
        await eventually(lambda: len(kernel.read_table().services) == 2, timeout=20)
        await eventually(lambda: set(routes.routes) == {A, B}, what=lambda: lines.lines)
        writers = director.status()["writers"]
        assert writers["ipvs"]["last_crash"].startswith("KeyError")
        metrics = metrics_text(director.status())
        assert 'ldirectord_writer_crashes_total{writer="ipvs"} 2.0' in metrics
        await director.stop()
        server.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    text = "\n".join(lines.lines)
    assert "ipvs writer failed (KeyError: 'IPVS_SVC_ATTR_SCHED_NAME'); restarting" in text
    assert "ipvs writer: Traceback (most recent call last):" in text


class StuckWriter:
    """A writer whose attempt never returns (a netlink call that hangs)."""

    def __init__(self) -> None:
        self.busy_since: float | None = 0.0
        self.task: asyncio.Task[None] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1


def test_faults_finding4_a_writer_without_progress_stops_the_watchdog() -> None:
    """A writer stuck past WRITER_STALL_BOUND is stalled: logged, in status, and the
    main loop stops feeding the systemd watchdog (it reads status `writers`)."""
    from ldirectord_py.daemon.supervisor import WRITER_STALL_BOUND, WriterSupervisor

    now = [0.0]
    lines: list[str] = []
    writer = StuckWriter()
    supervisor = WriterSupervisor(lines.append, lambda: {"ipvs": writer}, clock=lambda: now[0])
    supervisor.check()
    assert supervisor.stalled() == []
    now[0] = WRITER_STALL_BOUND + 1
    supervisor.check()
    assert supervisor.stalled() == ["ipvs"]
    assert supervisor.status()["ipvs"]["stalled"] is True
    assert lines == [
        f"ipvs writer stalled: one attempt has been running for over {WRITER_STALL_BOUND:g} "
        "seconds (the systemd watchdog is no longer fed)"
    ]
    writer.busy_since = None
    supervisor.check()
    assert supervisor.stalled() == []
    assert lines[-1] == "ipvs writer is making progress again"
    metrics = metrics_text({"writers": supervisor.status()})
    assert 'ldirectord_writer_stalled{writer="ipvs"} 0.0' in metrics


def test_faults_finding4_the_route_writer_follows_the_same_rule(monkeypatch: Any) -> None:
    """An unexpected exception in the GoBGP route writer: traceback, count, restart."""
    import ipaddress

    from ldirectord_py.daemon import supervisor as supervision
    from ldirectord_py.routing import writer as route_writer

    calls = [0]

    async def broken_get_bgp(self: object) -> object:
        calls[0] += 1
        raise struct_error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(route_writer.GoBGPClient, "get_bgp", broken_get_bgp)
    monkeypatch.setattr(supervision, "RESTART_BACKOFF_FIRST", 0.1)
    monkeypatch.setattr(supervision, "SUPERVISE_INTERVAL", 0.05)
    lines: list[str] = []
    routes = route_writer.RouteWriter(
        target="unix:/nonexistent/gobgpd.sock",
        prefixes=[ipaddress.ip_network("198.51.100.0/24")],
        log=lines.append,
    )

    async def scenario() -> None:
        watcher = supervision.WriterSupervisor(lines.append, lambda: {"routes": routes})
        routes.start()
        watcher.start()
        for _ in range(100):
            if watcher.status().get("routes", {}).get("crashes", 0) >= 2:
                break
            await asyncio.sleep(0.05)
        await watcher.stop()
        await routes.stop(withdraw=False)
        assert watcher.status()["routes"]["crashes"] >= 2
        assert watcher.status()["routes"]["last_crash"].startswith("error: unpack requires")

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert calls[0] >= 2, "restarted"
    assert any(line.startswith("routes writer: Traceback") for line in lines)


def struct_error(text: str) -> Exception:
    import struct

    return struct.error(text)
