"""Work that must not run on the event loop: a thread per call, awaited with a bound.

A reload parses a file that may name unresolvable hosts or be a FIFO nobody
writes, and plans the next engine for tens of thousands of reals; on the loop
either would stop every health check for that long. Each call gets a daemon
thread of its own (not the loop's default executor, which the loop joins when
it closes: a thread stuck in a blocking call must never hold up the daemon's
exit). On timeout the caller gets TimeoutError and the thread is left to finish
alone; its result is dropped.

While such a thread runs, the interpreter's thread switch interval is short
(`SWITCH_INTERVAL`): the loop thread gives up the interpreter lock at every
system call and must wait that long to get it back from a busy thread; at the
default 5 ms a loop making thousands of connects a second would be starved
(the convoy effect). And the thread runs at a lower CPU priority than the loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
SWITCH_INTERVAL = 0.00001
THREAD_NICENESS = 10
"""Added to the worker thread's nice value: on a busy machine the loop's thread
gets the CPU first (Linux applies setpriority to a single thread)."""


class _ShortSwitch:
    """The short switch interval while at least one thread of ours runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = sys.getswitchinterval()

    def enter(self) -> None:
        with self._lock:
            if self._running == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._running += 1

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                sys.setswitchinterval(self._saved)


_SWITCH = _ShortSwitch()


async def in_thread(work: Callable[[], T], timeout: float, name: str) -> T:
    """`work()` in a thread of its own; its exception is raised here."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(
                os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + THREAD_NICENESS
            )
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting coroutine
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(deliver, None, exc)
            return
        finally:
            _SWITCH.leave()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, result, None)

    _SWITCH.enter()
    try:
        threading.Thread(target=run, name=name, daemon=True).start()
    except BaseException:
        _SWITCH.leave()
        raise
    return await asyncio.wait_for(asyncio.shield(future), timeout)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection while a thread builds a big structure (a
    parsed configuration, the next engine): a full pass over a growing heap holds
    the interpreter lock, and so stops the loop's thread too. What was built is
    then put out of the collector's sight at once (a collection of it on the loop
    would cost as much); reference counting still frees it when dropped, only
    reference cycles made meanwhile are never collected."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
