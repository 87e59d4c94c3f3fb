"""The fallbackcommand actuator: CommandRequested events run one at a time, in order.

The original runs them synchronously in its loop; a queue keeps the order
without holding up the checks. On stop, queued commands get a short while to
finish, then the one running is killed with its process group.
"""

from __future__ import annotations

import asyncio
import contextlib

from ldirectord_py.daemon import shell
from ldirectord_py.engine.events import CommandRequested
from ldirectord_py.observe.log import Log


class CommandQueue:
    def __init__(self, log: Log) -> None:
        self.log = log
        self._queue: asyncio.Queue[CommandRequested] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="commands")

    @property
    def started(self) -> bool:
        return self._task is not None

    def put(self, command: CommandRequested) -> None:
        self._queue.put_nowait(command)

    async def _run(self) -> None:
        while True:
            command = await self._queue.get()
            try:
                await shell.run_async(command.command, self.log)
            finally:
                self._queue.task_done()

    async def drain(self, wait: float) -> None:
        """Let queued commands finish, for `wait` seconds: a hung one is killed
        (with its process group) so that the stop stays within its bound."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), wait)
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
