"""The monitorfile actuator: MonitorRecord events appended to their files.

Records are batched per event-loop iteration (one open() per file and batch,
as the original opens the file per line, so a rotated file is followed at once).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from ldirectord_py.engine.events import MonitorRecord
from ldirectord_py.observe.log import localtime_text


class MonitorFiles:
    def __init__(self, report: Callable[[str], None]) -> None:
        """`report` gets the error line when a file cannot be written."""
        self.report = report
        self._lines: dict[str, list[str]] = {}
        self._prefix: tuple[int, int, str] = (-1, -1, "")

    def add(self, record: MonitorRecord) -> None:
        self._lines.setdefault(record.path, []).append(record.text)

    @property
    def pending(self) -> bool:
        return bool(self._lines)

    def flush(self, now: float | None = None) -> None:
        """Append every batched line (`now`: wall time for the prefix)."""
        if not self._lines:
            return
        lines, self._lines = self._lines, {}
        prefix = self.prefix(int(time.time() if now is None else now), os.getpid())
        joint = "\n" + prefix
        for path, texts in lines.items():
            try:
                with open(path, "a") as fh:
                    fh.write(prefix + joint.join(texts) + "\n")
            except OSError as exc:
                # The original dies here; losing monitor lines is the lesser harm.
                self.report(f"Error writing to monitorfile '{path}': {exc.strerror or exc}")

    def prefix(self, now: int, pid: int) -> str:
        """`[localtime] [pid] `, formatted once per second (and per pid)."""
        when, cached_pid, prefix = self._prefix
        if when != now or cached_pid != pid:
            prefix = f"[{localtime_text(now)}] [{pid}] "
            self._prefix = (now, pid, prefix)
        return prefix
