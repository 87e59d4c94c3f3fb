"""Deadlines and loop stalls (deadline.py, stall.py): a hung backend still times
out at its deadline; a stall of the loop is given back, so a reply that arrived
while the loop was held up counts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ldirectord_py.checks import CheckSpec, run_check
from ldirectord_py.checks.stall import TOLERANCE, LoopStall
from tests.checks.conftest import make_spec, run

TIMEOUT = 0.3
UNLOADED_MARGIN = 0.05  # the bound for an unloaded machine
REPLY_DELAY = 0.05  # the freeze starts while the check waits for the reply


@contextlib.contextmanager
def thread_server(reply: bytes | None) -> Iterator[int]:
    """A server in a thread (it answers while the loop is frozen): each
    connection gets `reply` REPLY_DELAY after the request, then end of file;
    or nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    time.sleep(REPLY_DELAY)
                    conn.sendall(reply)
                    conn.shutdown(socket.SHUT_WR)  # the reply is whole

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in held:
            conn.close()


HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n"


def http_spec(port: int) -> CheckSpec:
    return make_spec(
        service="http", checkport=port, url=f"http://127.0.0.1:{port}/", receive="OK",
        negotiatetimeout=TIMEOUT, checktimeout=TIMEOUT,
    )  # fmt: skip


def simpletcp_spec(port: int) -> CheckSpec:
    return make_spec(
        service="simpletcp", checkport=port, request="/PING", receive="OK",
        negotiatetimeout=TIMEOUT, checktimeout=TIMEOUT,
    )  # fmt: skip


SPECS = {"http (slotted deadline)": http_spec, "simpletcp (precise deadline)": simpletcp_spec}


@pytest.mark.parametrize("make", SPECS.values(), ids=SPECS.keys())
def test_hung_backend_times_out_at_its_deadline(make: object) -> None:
    assert callable(make)
    with thread_server(None) as port:
        results = [run(run_check(make(port))) for _ in range(3)]
    for r in results:
        assert not r.ok and r.reason == f"timeout after {TIMEOUT:g}s"
        assert r.latency >= TIMEOUT
    # on an unloaded machine within 50 ms; the best of three, as the machine is shared
    assert min(r.latency for r in results) < TIMEOUT + UNLOADED_MARGIN


async def _check_with_freeze(spec: CheckSpec, freeze: float) -> tuple[bool, str, float]:
    async def freezer() -> None:
        await asyncio.sleep(REPLY_DELAY / 5)  # the check waits for its reply
        time.sleep(freeze)  # the loop stops; the server answers meanwhile

    task = asyncio.create_task(freezer())
    t0 = time.monotonic()
    result = await run_check(spec)
    await task
    return result.ok, result.reason, time.monotonic() - t0


@pytest.mark.parametrize("freeze", [0.5, 1.5])  # past the deadline; past it doubled
@pytest.mark.parametrize("make", SPECS.values(), ids=SPECS.keys())
def test_a_reply_that_came_during_a_freeze_counts(make: object, freeze: float) -> None:
    assert callable(make)
    with thread_server(HTTP_OK) as port:
        ok, reason, elapsed = run(_check_with_freeze(make(port), freeze))
    assert ok, reason
    assert elapsed < freeze + TIMEOUT


@pytest.mark.parametrize("make", SPECS.values(), ids=SPECS.keys())
def test_a_hung_backend_is_down_after_a_freeze_within_twice_its_deadline(make: object) -> None:
    assert callable(make)
    freeze = 0.5
    with thread_server(None) as port:
        ok, reason, elapsed = run(_check_with_freeze(make(port), freeze))
    assert not ok and reason == f"timeout after {TIMEOUT:g}s"
    assert elapsed < freeze + 2 * TIMEOUT + UNLOADED_MARGIN


def test_stall_total_counts_overlapping_late_callbacks_once() -> None:
    async def body() -> None:
        stall = LoopStall(asyncio.get_running_loop())
        assert stall.observe(10.0, 10.0 + TOLERANCE / 2) == 0.0  # on time: no stall
        assert stall.observe(10.0, 12.0) == pytest.approx(2.0)
        assert stall.observe(11.0, 12.5) == pytest.approx(2.5)  # [11, 12] counted already
        assert stall.observe(20.0, 21.0) == pytest.approx(3.5)

    run(body())


def test_stall_tick_sees_a_freeze_between_deadlines() -> None:
    async def body() -> float:
        stall = LoopStall(asyncio.get_running_loop())
        stall.hold()
        await asyncio.sleep(0.06)
        time.sleep(0.4)
        await asyncio.sleep(0.06)
        stall.release()
        return stall.total

    assert 0.3 < run(body()) < 0.6
