"""Where one instance keeps its files in /run: every name in one place.

A leaf module (it imports nothing of this project), so that the daemon, which
writes these files, and the observers and command-line tools, which look for
them, agree on every name without importing each other. The names follow the
original's pid file, `/var/run/ldirectord.<CFGNAME>.pid`: init scripts, the OCF
agent and systemd units know that one; the others sit beside it.

`RUN_DIR` is read when a path is asked for, not when this module is imported, so
that a test can point every user at a directory of its own.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

RUN_DIR = "/var/run"
"""Hard-coded like the original; on Debian /var/run is a symlink to /run."""

PREFIX = "ldirectord."


@dataclass(frozen=True)
class RunPaths:
    """The files of the instance CFGNAME (the config's name after its last `/`)."""

    cfgname: str
    run_dir: str | None = None
    """None: RUN_DIR as it is when a path is asked for."""

    def _file(self, suffix: str) -> str:
        return os.path.join(
            RUN_DIR if self.run_dir is None else self.run_dir, f"{PREFIX}{self.cfgname}.{suffix}"
        )

    @property
    def pid(self) -> str:
        """The original's pid file."""
        return self._file("pid")

    @property
    def lock(self) -> str:
        """Held (flock) by the running daemon: one daemon per config in every mode."""
        return self._file("lock")

    @property
    def socket(self) -> str:
        """The status and control socket (`ldirectordctl`)."""
        return self._file("sock")

    @property
    def drained(self) -> str:
        """The reals drained by `ldirectordctl drain` (they survive a restart)."""
        return self._file("drained")

    @property
    def maintenance(self) -> str:
        """The VIPs in planned maintenance (`ldirectordctl maintenance on`)."""
        return self._file("maintenance")

    @classmethod
    def beside(cls, path: str) -> RunPaths:
        """The instance whose file `path` is (any of the names above)."""
        directory, name = os.path.split(path)
        cfgname = name.removeprefix(PREFIX).rpartition(".")[0]
        return cls(cfgname, directory)


def all_sockets(run_dir: str | None = None) -> list[str]:
    """The control sockets of every instance in the run directory, sorted."""
    directory = RUN_DIR if run_dir is None else run_dir
    return sorted(glob.glob(os.path.join(glob.escape(directory), f"{PREFIX}*.sock")))
