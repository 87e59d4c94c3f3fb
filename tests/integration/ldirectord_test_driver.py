"""`ldirectord` with a scripted Director plugged into the daemon seam.

Checks and ip_vs arrive with later issues; these directors stand in for them to
exercise the lifecycle around a data plane that is slow, hangs or fails. The
file name contains "ldirectord", so the pid-file liveness test accepts the
daemon exactly as it accepts the real command.

    LDTEST_DIRECTOR   slow-stop | hang-stop | fail-reload | fail-start
    LDTEST_MARKS      a file each director step appends a line to
    LDTEST_STOP_WAIT  overrides restart's wait bound (seconds)
"""

from __future__ import annotations

import asyncio
import os
import sys

from ldirectord_py.cli import ldirectord as cli
from ldirectord_py.config import Config
from ldirectord_py.daemon import lifecycle


def mark(text: str) -> None:
    path = os.environ.get("LDTEST_MARKS")
    if path:
        with open(path, "a") as fh:
            fh.write(text + "\n")


class ScriptedDirector:
    def __init__(self, log: object = None) -> None:
        self.kind = os.environ.get("LDTEST_DIRECTOR", "")

    async def start(self, config: Config) -> None:
        mark("start")
        if self.kind == "fail-start":
            raise RuntimeError("scripted start failure")

    async def reload(self, config: Config) -> None:
        mark(f"reload {config.settings.logfile}")
        if self.kind == "fail-reload":
            raise RuntimeError("scripted reload failure")

    def status(self) -> dict[str, object]:
        return {"status": "running", "virtuals": [], "director": self.kind}

    async def stop(self) -> None:
        mark("stop begins")
        if self.kind == "slow-stop":
            await asyncio.sleep(1.0)
        elif self.kind == "hang-stop":
            await asyncio.sleep(3600)
        mark("stop done")


def main() -> int:
    wait = os.environ.get("LDTEST_STOP_WAIT")
    if wait:
        lifecycle.STOP_WAIT_TIMEOUT = float(wait)
    return cli.run(sys.argv[0], sys.argv[1:], director_factory=ScriptedDirector)


if __name__ == "__main__":
    sys.exit(main())
