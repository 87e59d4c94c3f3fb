"""One daemon per config: an exclusive `flock` held for the daemon's whole life.

The lock file `/var/run/ldirectord.<CFGNAME>.lock` sits beside the pid file,
whose name and content stay the original's (init scripts, systemd and the OCF
agent read it). The pid file says *which* daemon runs; the lock makes sure at
most one does, in every mode (forked, `-d`, `supervised`, systemd): `start`
takes the lock before it forks, the daemon inherits it, and the kernel drops it
when the daemon's process ends, however it ends (SIGKILL included), so a stale
lock cannot exist. The file holds the pid of the daemon that holds the lock,
so a refused `start` can name it.

The file is opened with O_NOFOLLOW: a symlink planted at its name is refused,
never followed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from ldirectord_py.runpaths import RunPaths


class InstanceLock:
    def __init__(self, cfgname: str, run_dir: str | None = None) -> None:
        self.path = RunPaths(cfgname, run_dir).lock
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another process holds it.
        Raises OSError when the file cannot be opened (a symlink, /run read-only)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        return True

    def record(self, pid: int) -> None:
        """Write the holder's pid (best effort: the lock, not the text, excludes)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{pid}\n".encode(), 0)

    def holder(self) -> int | None:
        """The pid written by the process that holds (or last held) the lock."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        return int(text) if text.isdigit() and int(text) > 0 else None

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
