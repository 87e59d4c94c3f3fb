"""The pid file `/var/run/ldirectord.<CFGNAME>.pid` and the test for a live instance.

Init scripts, systemd (`PIDFile=`), the OCF agent and Heartbeat all look at this
file, so its name, its content (`PID\\n`) and the meaning of each state are the
original's:

* **running**: the file names a live ldirectord instance of this config;
* **stale**: the file has a first line, but it names no such instance;
* **absent**: no file, an unreadable one, or an empty one.

Liveness (quirk 15, tightened on purpose): the original counts the pid as running
when `/proc/PID/cmdline` contains the substring `ldirectord` anywhere. We require
that too, and in addition that one of the process's arguments, after its last
`/`, is exactly CFGNAME. The daemon's own cmdline always satisfies this:
`... ldirectord CFG start` has CFG (whose last component is CFGNAME), and the
one-argument form `... /usr/sbin/ldirectord start` has CFGNAME `ldirectord`. So
a recycled pid that now belongs to an unrelated process, or to an ldirectord
instance of another config, is stale rather than signalled. A Perl ldirectord
running the same config passes the test, so mixed upgrades keep working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum

from ldirectord_py.daemon.runfiles import replace_file
from ldirectord_py.runpaths import RunPaths


class PidStatus(Enum):
    RUNNING = "running"
    STALE = "stale"
    ABSENT = "absent"


@dataclass(frozen=True)
class PidState:
    status: PidStatus
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.status is PidStatus.RUNNING


def process_is_instance(pid: int, cfgname: str) -> bool:
    """True if `pid` is alive and its cmdline marks it as ldirectord for CFGNAME."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return False
    # The original matches only the first "line" of cmdline; args rarely hold newlines.
    if b"ldirectord" not in raw.split(b"\n", 1)[0]:
        return False
    args = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a]
    return any(arg.rsplit("/", 1)[-1] == cfgname for arg in args)


class PidFile:
    """One instance's pid file."""

    def __init__(self, cfgname: str, run_dir: str | None = None) -> None:
        self.cfgname = cfgname
        self.path = RunPaths(cfgname, run_dir).pid

    def read(self) -> PidState:
        try:
            with open(self.path, "rb") as fh:
                first = fh.readline()
        except OSError:
            return PidState(PidStatus.ABSENT)
        if not first:
            return PidState(PidStatus.ABSENT)
        text = first.removesuffix(b"\n")
        # Only a plain positive number can name a process; anything else (including
        # "0", "-1" or "self", which kill() or /proc would happily accept) is stale.
        if not text.isdigit() or int(text) == 0:
            return PidState(PidStatus.STALE)
        pid = int(text)
        if process_is_instance(pid, self.cfgname):
            return PidState(PidStatus.RUNNING, pid)
        return PidState(PidStatus.STALE, pid)

    def write(self, pid: int) -> None:
        """Replace the file atomically, so a reader never sees it empty or half-written;
        never through a planted symlink, and nothing left behind on failure (runfiles)."""
        replace_file(self.path, f"{pid}\n".encode(), f".ldirectord.{self.cfgname}.pid.{pid}.tmp")

    def remove_if_owned(self, pid: int) -> bool:
        """Remove the file only if it still names `pid`: an instance never deletes
        the pid file of another one (the original's quirk 1, fixed)."""
        try:
            with open(self.path, "rb") as fh:
                first = fh.readline().removesuffix(b"\n")
        except OSError:
            return False
        if first != str(pid).encode():
            return False
        try:
            os.unlink(self.path)
        except OSError:
            return False
        return True
