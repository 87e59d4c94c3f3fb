"""Work that must not run on the event loop: a thread per call, awaited with a bound.

A reload plans the next engine for tens of thousands of reals, a metrics
scrape renders every series; on the loop either would stop every health check
for that long. A thread is no free lunch, though: a busy one holds the
interpreter lock, which the loop gives up at each system call and then waits
to get back; long pure-Python work is better in a child interpreter (the
reload's parse, daemon/config_read.py) or in slices on the loop. Each call gets a daemon
thread of its own (not the loop's default executor, which the loop joins when
it closes: a thread stuck in a blocking call must never hold up the daemon's
exit). On timeout the caller gets TimeoutError and the thread is left to finish
alone; its result is dropped.

While such a thread runs, the interpreter's thread switch interval is short
(`SWITCH_INTERVAL`): the loop thread gives up the interpreter lock at every
system call and must wait that long to get it back from a busy thread; at the
default 5 ms a loop making thousands of connects a second would be starved
(the convoy effect). And the thread runs at a lower CPU priority than the loop's.

What a reload retires (the old engine, configuration and status book) cannot
be freed in a thread: freeing holds the interpreter lock whatever the thread.
`release_in_slices` frees it on the loop instead, a few objects at a time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import os
import sys
import threading
import time
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


RELEASE_SLICE = 0.002
"""Seconds of freeing between two yields to the loop."""
RELEASE_PAUSE = 0.5
"""First wait before objects still referenced elsewhere are tried again (doubled
each time nothing could be freed, up to RELEASE_PAUSE_MAX)."""
RELEASE_PAUSE_MAX = 8.0
RELEASE_GIVE_UP = 120.0
"""After this long, what is still referenced elsewhere is let go as it is: it is
shared with live objects, so letting go only drops a count."""
_CONTAINERS = (tuple, list, dict, set, frozenset)
_ONLY_OURS = 2
"""sys.getrefcount() of an object that one local variable alone holds (the
argument counts one)."""
_releases: set[asyncio.Task[None]] = set()


def release_in_slices(*roots: object) -> asyncio.Task[None]:
    """Free `roots` (an old engine, configuration, status book) on the loop a few
    objects at a time, rather than in one piece wherever its last reference goes.

    Freeing a structure of hundreds of thousands of objects is one cascade of
    deallocations in C: in whichever thread it happens, it holds the interpreter
    lock and so stops the loop for its whole length. Here each object is freed
    alone, its children first taken over by the release (so they survive their
    parent for a moment and are freed alone in turn), with a yield to the loop
    every RELEASE_SLICE seconds. Only this package's data is taken apart
    (builtin containers, its own classes), never functions, modules or the
    loop's objects. What is still referenced elsewhere (by a caller's local, a
    cache, the new engine) is not walked: it is tried again later, so callers
    may drop their references in any order."""
    task = asyncio.get_running_loop().create_task(_release(list(roots)), name="release")
    _releases.add(task)
    task.add_done_callback(_releases.discard)
    return task


async def _release(roots: list[object]) -> None:
    loop = asyncio.get_running_loop()
    queue: collections.deque[object] = collections.deque(roots)
    roots.clear()
    shared: dict[int, object] = {}
    give_up = loop.time() + RELEASE_GIVE_UP
    pause = RELEASE_PAUSE
    clock = time.perf_counter
    while True:
        freed = seen = 0
        slice_end = clock() + RELEASE_SLICE
        while queue:
            obj = queue.popleft()
            if not _ours(obj):
                pass  # an atom (str, number, ...) or not ours: only a count dropped
            elif sys.getrefcount(obj) > _ONLY_OURS:
                shared.setdefault(id(obj), obj)
            else:
                # the children, unfiltered (a C call however big the container),
                # are looked at one by one as they come out of the queue
                queue.extend(gc.get_referents(obj))
                freed += 1
            del obj  # the last reference, unless it is shared: freed here, alone
            seen += 1
            if seen & 127 == 0 and clock() > slice_end:
                await asyncio.sleep(0)
                slice_end = clock() + RELEASE_SLICE
        if not shared or loop.time() >= give_up:
            return
        if not freed:
            await asyncio.sleep(pause)
            pause = min(pause * 2, RELEASE_PAUSE_MAX)
        queue.extend(shared.values())
        shared.clear()


def _ours(obj: object) -> bool:
    """Data worth taking apart object by object (and harmless to hold a while)."""
    kind = type(obj)
    if kind in _CONTAINERS:
        return gc.is_tracked(obj)
    module = getattr(kind, "__module__", "")
    return isinstance(module, str) and (
        module.startswith("ldirectord_py.") or module == "ipaddress"
    )
