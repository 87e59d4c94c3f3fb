"""execute=: other ldirectord instances that start, stop, reload and report with this one.

`execute = other.cf` runs `<ldirectord> other.cf start` after this instance has
started, `stop` when it stops, `status` with its status, and on reload `stop`
for names no longer listed, `start` for new ones and `reload` (falling back to
`start`) for the rest. Exit codes are only logged, as in the original.

`<ldirectord>` is the program that is running now (not a `$PATH` lookup, as in
the original), so an instance never starts a different implementation than
itself. Names are shell-quoted.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from ldirectord_py.daemon import shell
from ldirectord_py.observe.log import Log


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


class Instances:
    def __init__(self, program: str, log: Log) -> None:
        self.program = program
        self.log = log

    def command(self, name: str, action: str) -> str:
        return f"{shlex.quote(self.program)} {shlex.quote(name)} {action}"

    async def run(self, action: str, names: Iterable[str]) -> None:
        for name in _unique(names):
            await shell.run_async(self.command(name, action), self.log)

    async def reload(self, old: Iterable[str], new: Iterable[str]) -> None:
        before = _unique(old)
        after = _unique(new)
        await self.run("stop", [n for n in before if n not in after])
        for name in [n for n in after if n in before]:
            if await shell.run_async(self.command(name, "reload"), self.log) != 0:
                await shell.run_async(self.command(name, "start"), self.log)
        await self.run("start", [n for n in after if n not in before])

    def status(self, names: Iterable[str]) -> None:
        """`status` of each instance, its output passed through, its exit code ignored."""
        for name in _unique(names):
            shell.run_sync(self.command(name, "status"), self.log)
