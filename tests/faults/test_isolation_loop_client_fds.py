"""Issue 11, finding 2: control and metrics clients keep to the clients' share of
the file descriptors (`checks.fds.client_fd_allowance()`), together.

Invariant: however many clients connect to however many listeners, the daemon
holds at most the allowance's worth of client descriptors; the others wait in
the kernel's backlog and are served as descriptors come back, and the default
allowance is the one `plan_fds()` sets aside (so the checks' share is never
touched by clients).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ldirectord_py.checks import fds
from ldirectord_py.observe.clients import (
    CLIENT_DESCRIPTORS,
    BoundedListener,
    ClientDescriptors,
    ClientLimits,
    receive,
)
from ldirectord_py.observe.metrics import Metrics
from ldirectord_py.observe.status_socket import StatusServer
from tests.checks.servers import free_port

IDLE = ClientLimits(max_clients=32, idle_timeout=30.0, write_timeout=5.0, max_request=1024)


def unix_listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(128)
    return sock


async def hold_until_closed(conn: socket.socket) -> None:
    await receive(conn, IDLE, b"\n")  # the client sends nothing: held until it goes


async def connect_idle(path: Path, count: int) -> list[socket.socket]:
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(count):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        await loop.sock_connect(c, str(path))
        out.append(c)
    return out


async def settle(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def test_listeners_together_keep_to_the_allowance(tmp_path: Path) -> None:
    async def scenario() -> None:
        pool = ClientDescriptors(lambda: 5)
        control = BoundedListener(unix_listener(tmp_path / "a.sock"), IDLE, hold_until_closed, pool)
        metrics_limits = ClientLimits(4, 30.0, 5.0, 1024)
        metrics = BoundedListener(
            unix_listener(tmp_path / "b.sock"), metrics_limits, hold_until_closed, pool
        )
        control.start()
        metrics.start()
        a = await connect_idle(tmp_path / "a.sock", 20)
        b = await connect_idle(tmp_path / "b.sock", 20)
        await settle(lambda: pool.in_use == 5)
        await asyncio.sleep(0.2)  # nothing more is accepted, however long they wait
        assert control.clients + metrics.clients == 5 == pool.in_use
        assert metrics.clients <= 4
        # the control clients go: their descriptors go to the waiting metrics clients
        for c in a:
            c.close()
        await settle(lambda: control.clients == 0 and metrics.clients == 4)
        assert (control.clients, metrics.clients) == (0, 4), "served as descriptors came back"
        assert pool.in_use <= 5  # 4, and one taken for the next accept of either
        for c in b:
            c.close()
        await settle(lambda: control.clients + metrics.clients == 0)
        assert pool.in_use <= 2  # only what the two accept loops took for their next
        await control.close()
        await metrics.close()
        assert pool.in_use == 0

    run(scenario)


def test_the_daemon_listeners_use_the_clients_share_of_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # unpatched, the shared allowance is the clients' share of RLIMIT_NOFILE
    assert CLIENT_DESCRIPTORS.allowance == fds.client_fd_allowance() == fds.plan_fds().clients
    # the control socket (its own cap: 32) and the metrics port (4) both draw on
    # it: with an allowance of 3, three clients in all are held
    monkeypatch.setattr(fds, "client_fd_allowance", lambda: 3)

    async def scenario() -> None:
        path = tmp_path / "ctl.sock"
        server = StatusServer(str(path), lambda: {"status": "running", "virtuals": []}, limits=IDLE)
        await server.start()
        metrics = Metrics(lambda: {"virtuals": []})
        metrics.serve(f"127.0.0.1:{free_port('127.0.0.1')}")
        try:
            assert metrics._listener is not None and server._listener is not None
            assert metrics._listener.descriptors is CLIENT_DESCRIPTORS
            assert server._listener.descriptors is CLIENT_DESCRIPTORS
            port = metrics._listener.sock.getsockname()[1]
            loop = asyncio.get_running_loop()
            idle = await connect_idle(path, 10)
            for _ in range(10):
                scraper = socket.socket()
                scraper.setblocking(False)
                await loop.sock_connect(scraper, ("127.0.0.1", port))
                idle.append(scraper)
            await settle(lambda: server._listener.clients + metrics._listener.clients == 3)
            await asyncio.sleep(0.2)  # and no more, however long they wait
            assert server._listener.clients + metrics._listener.clients == 3
            assert CLIENT_DESCRIPTORS.in_use == 3
            for c in idle:
                c.close()
        finally:
            metrics.close()
            await server.stop()
        await settle(lambda: CLIENT_DESCRIPTORS.in_use == 0)
        assert CLIENT_DESCRIPTORS.in_use == 0

    run(scenario)
