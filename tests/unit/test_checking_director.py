"""The production director end to end on the host: real checks against a real
HTTP backend on loopback, the engine, and the ip_vs writer against an in-memory
kernel that refuses what the real one refuses (the real kernel: tests/kernel)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from ldirectord_py.config import parse_text
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.ipvs.model import Destination, Table, VirtualService
from ldirectord_py.ipvs.netlink import AsyncIPVS
from ldirectord_py.observe.log import Log, Sink

from .config.conftest import RESOLVER
from .ipvs.fake_kernel import FakeKernel


class Kernel(FakeKernel):
    def close(self) -> None:
        pass


class Lines(Sink):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def http_backend(host: str, port: int) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, host, port)


async def eventually(
    predicate: Callable[[], bool], timeout: float = 10.0, what: Callable[[], object] = str
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached in time: {what()}")
        await asyncio.sleep(0.05)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 60))


def test_director_programs_checks_fails_over_and_cleans_up(tmp_path: Path) -> None:
    port = free_port("127.0.0.21")
    fallback_log = tmp_path / "fallback.log"
    script = tmp_path / "fallback.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >>{fallback_log}\n')
    script.chmod(0o755)
    config = parse_text(
        f"checkinterval=1\nnegotiatetimeout=1\nfallback=127.0.0.1:{port}\n"
        f'fallbackcommand="{script}"\n'
        f"virtual=127.0.0.100:80\n"
        f"\treal=127.0.0.21:{port} masq 3\n"
        f"\treal=127.0.0.22:{port} masq\n"
        f'\tservice=http\n\trequest="/"\n\treceive="OK"\n',
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )
    foreign = VirtualService.tcp("192.0.2.1", 80, destinations=(Destination.of("192.0.2.9", 80),))
    kernel = Kernel(Table((foreign,)))
    lines = Lines()

    async def scenario() -> None:
        server = await http_backend("127.0.0.21", port)
        director = CheckingDirector(Log(lines), ipvs_factory=lambda: AsyncIPVS(lambda: kernel))
        await director.start(config)

        def dests() -> dict[str, int]:
            table = kernel.read_table()
            service = next(
                (
                    s
                    for s in table.services
                    if s.port == 80 and s.address and str(s.address) == "127.0.0.100"
                ),
                None,
            )
            return {str(d.key): d.weight for d in service.destinations} if service else {}

        await eventually(
            lambda: dests() == {f"127.0.0.21:{port}": 3}, what=lambda: (dests(), lines.lines)
        )
        server.close()
        await server.wait_closed()
        # The fallback is gate (the default), so the kernel stores it on the VIP port.
        await eventually(
            lambda: dests() == {"127.0.0.1:80": 1}, what=lambda: (dests(), lines.lines)
        )
        await eventually(lambda: fallback_log.exists() and "start" in fallback_log.read_text())
        await director.stop()
        remaining = kernel.read_table()
        assert [s.key for s in remaining.services] == [foreign.key]  # ours gone, foreign kept
        assert remaining.services[0].destinations == foreign.destinations

    run(scenario)
    text = "\n".join(lines.lines)
    assert "Added virtual server: 127.0.0.100:80" in text
    assert "Purged virtual server: 127.0.0.100:80" in text  # cleanstop
    assert f"Added real server: 127.0.0.21:{port} (127.0.0.100:80) (Weight set to 3)" in text
    assert f"Deleted real server: 127.0.0.21:{port} (127.0.0.100:80)" in text
    assert f"Added fallback server: 127.0.0.1:{port} (127.0.0.100:80) (Weight set to 1)" in text
    assert fallback_log.read_text().split("\n")[:2] == [
        "stop 127.0.0.100:80 tcp",
        "start 127.0.0.100:80 tcp",
    ]


def test_director_without_ip_vs_keeps_checking_and_says_why(tmp_path: Path) -> None:
    from ldirectord_py.ipvs.netlink import IPVSUnavailable

    def unavailable() -> Kernel:
        raise IPVSUnavailable()

    config = parse_text(
        "virtual=127.0.0.100:80\n\treal=127.0.0.23:80 gate\n\tchecktype=on\n",
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )
    lines = Lines()

    async def scenario() -> None:
        director = CheckingDirector(Log(lines), ipvs_factory=lambda: AsyncIPVS(unavailable))
        await director.start(config)
        await asyncio.sleep(0.2)
        assert director.writer.state.converged is False
        await director.stop()

    run(scenario)
    assert any("ip_vs is not available: load the ip_vs module" in line for line in lines.lines)
