"""Test backends for tests/kernel/test_compat_scenarios.py, and the recorded runs
of the Perl original they are compared with.

`Backends` serves tiny HTTP backends on loopback addresses from one asyncio
loop in a background thread of the test process: switching a backend between
serving, hanging (accepts, never answers) and down (connection refused) is
one loop callback, with no process to spawn -- in the QEMU guest a Python
start costs seconds, which would blur the phase timing the scenarios need.

`Recording` reads one scenario recorded by the compatibility harness
(`tests/data/compat-harness/observed/<scenario>/`, see tests/data/README.md): the ip_vs
table the Perl original had left at the end of each phase (calls.jsonl holds
the shim's simulated table after each mutating ipvsadm call; events.jsonl the
phase boundaries), and the fallbackcommand/callback/check invocations per
phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OBSERVED = REPO / "tests" / "data" / "compat-harness" / "observed"

BODY = b"OK from backend\n"
REPLY = (
    b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY


# ---------------------------------------------------------------------- backends


class _Conn(asyncio.Protocol):
    """One accepted connection: answers the first request (mode "up") or holds the
    connection open without a byte (mode "hang"). A protocol rather than streams:
    no task, reader or timer per connection, which in the software-emulated guest
    is CPU the daemon under test needs for its own checks."""

    __slots__ = ("answer", "buffer", "key", "owner", "transport")

    def __init__(self, owner: Backends, key: tuple[str, int], answer: bool) -> None:
        self.owner, self.key, self.answer = owner, key, answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        owner = self.owner
        owner.connections[self.key] = owner.connections.get(self.key, 0) + 1
        owner._open.setdefault(self.key, set()).add(transport)

    def data_received(self, data: bytes) -> None:
        if not self.answer or self.transport is None:
            return
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.owner.requests[self.key] = self.owner.requests.get(self.key, 0) + 1
            self.transport.write(REPLY)
            self.transport.close()
        elif len(self.buffer) > 65536:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.owner._open.get(self.key, set()).discard(self.transport)


class Backends:
    """HTTP backends on (ip, port) pairs, each `up`, `hang` or `down`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self._open: dict[tuple[str, int], set[asyncio.Transport]] = {}
        self.requests: dict[tuple[str, int], int] = {}  # complete HTTP requests
        self.connections: dict[tuple[str, int], int] = {}  # accepted connections
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro: object, timeout: float = 30.0) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        future.result(timeout)

    def up(self, ip: str, port: int = 8080) -> None:
        """Serve `200 OK` with a body containing "OK" to every request."""
        self._call(self._switch((ip, port), "up"))

    def hang(self, ip: str, port: int = 8080) -> None:
        """Accept connections and never answer."""
        self._call(self._switch((ip, port), "hang"))

    def down(self, ip: str, port: int = 8080) -> None:
        """Close the listening socket (and open connections): connections are refused."""
        self._call(self._switch((ip, port), "down"))

    def later(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` (e.g. another switch) `delay` seconds from now, without waiting."""

        async def run() -> None:
            await asyncio.sleep(delay)
            await asyncio.get_running_loop().run_in_executor(None, action)

        asyncio.run_coroutine_threadsafe(run(), self.loop)

    def close(self) -> None:
        for key in list(self._servers):
            with contextlib.suppress(Exception):
                self._call(self._switch(key, "down"), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _switch(self, key: tuple[str, int], mode: str) -> None:
        old = self._servers.pop(key, None)
        if old is not None:
            old.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.wait_closed(), 0.1)
        for transport in self._open.pop(key, set()):
            transport.close()
        if mode == "down":
            return
        answer = mode == "up"
        server = await self.loop.create_server(
            lambda: _Conn(self, key, answer), key[0], key[1], reuse_address=True, backlog=128
        )
        self._servers[key] = server


# ---------------------------------------------------------------------- recordings


def _phase_of(t: float, starts: list[tuple[str, float]]) -> str:
    name = starts[0][0]
    for phase, start in starts:
        if t >= start:
            name = phase
    return name


@dataclass
class Recording:
    """One scenario as the Perl original ran it."""

    name: str
    phases: list[str]
    tables: dict[str, list[str]]  # end-of-phase table, `ipvsadm -S -n` lines, sorted
    preload: list[list[str]]  # ipvsadm argv the harness ran before starting
    scripts: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str) -> Recording:
        where = OBSERVED / name
        if not (where / "calls.jsonl").is_file() or not (where / "events.jsonl").is_file():
            raise FileNotFoundError(
                f"the recording of the Perl original for scenario {name!r} is missing: "
                f"expected {where}/calls.jsonl and events.jsonl (see tests/data/README.md)"
            )
        events = [json.loads(line) for line in (where / "events.jsonl").open() if line.strip()]
        calls = [json.loads(line) for line in (where / "calls.jsonl").open() if line.strip()]
        starts = [(e["name"], e["t"]) for e in events if e["kind"] == "phase"]
        tables: dict[str, list[str]] = {}
        for i, (phase, _) in enumerate(starts):
            end = starts[i + 1][1] if i + 1 < len(starts) else math.inf
            table: list[str] = []
            for call in calls:
                if "table" in call and call["t"] < end:
                    table = call["table"]
            tables[phase] = sorted(table)
        preload = [c["argv"] for c in calls if c.get("tag") == "preload"]
        scripts: dict[str, dict[str, list[str]]] = {}
        for log in ("fallbackcommand", "callback", "check"):
            path = where / f"{log}.log"
            per_phase: dict[str, list[str]] = {phase: [] for phase, _ in starts}
            if path.is_file():
                for line in path.read_text().splitlines():
                    stamp, _, args = line.partition(" ")
                    per_phase[_phase_of(float(stamp), starts)].append(args)
            scripts[log] = per_phase
        return cls(name, [p for p, _ in starts], tables, preload, scripts)


def relocate(text: str, subnet: int) -> str:
    """Move every 127.0.0.N address of a recording into 127.0.SUBNET.N (each scenario
    gets its own addresses, so all of them run side by side in one daemon)."""
    return re.sub(r"\b127\.0\.0\.(\d+)\b", rf"127.0.{subnet}.\1", text)
