"""Detach from the caller (double fork, setsid) and publish the pid before `start` returns.

The OCF agent runs `status` right after `start`, and systemd's `Type=forking`
reads `PIDFile=` as soon as the start command exits. The original leaves a short
window with an empty pid file; we close it: the foreground process waits on a
pipe until the daemon has written its pid file, and only then exits 0.

The process is forked, never re-executed, so `/proc/PID/cmdline` stays the
literal `<ldirectord> <configfile> start` that the OCF agent pgreps for.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable

# How long the foreground process waits for the daemon to report. Writing a pid
# file takes microseconds; this only guards against a daemon that dies silently.
HANDSHAKE_TIMEOUT = 10.0

_OK = b"ok\n"


class DaemonizeError(Exception):
    """The daemon could not be started; the message is what the caller should see."""


def daemonize(publish: Callable[[int], None], keep_fds: tuple[int, ...] = ()) -> bool:
    """Become a daemon; return True in the daemon and False in the foreground process.

    `publish(pid)` runs in the daemon after the second fork (it writes the pid file);
    its OSError is reported back to the foreground process, which raises
    DaemonizeError with the text. The daemon has its cwd at `/`, stdio on
    /dev/null, no other inherited descriptors than `keep_fds` (the instance
    lock), and is a session leader's child.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    _ensure_stdio_open()
    read_end, write_end = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_end)
        try:
            report = _read_report(read_end)
        finally:
            os.close(read_end)
            _reap(first)
        if report == _OK:
            return False
        text = report.decode("utf-8", "replace").strip()
        raise DaemonizeError(text or "the daemon exited before it wrote its pid file")

    # First child: new session, then fork again so the daemon can never reacquire
    # a controlling terminal.
    os.close(read_end)
    try:
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        os.chdir("/")
        _stdio_to_devnull()
        keep = sorted({write_end, *keep_fds})
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, _max_fd())
        try:
            publish(os.getpid())
        except OSError as err:
            _send(write_end, (err.strerror or str(err)).encode())
            os._exit(1)
        _send(write_end, _OK)
    except BaseException:
        os._exit(1)
    return True


def _read_report(fd: int) -> bytes:
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return data
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk


def _send(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _ensure_stdio_open() -> None:
    """A caller may start us with fd 0-2 closed; then the handshake pipe would land
    there and be clobbered by the /dev/null redirection."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)


def _stdio_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _max_fd() -> int:
    try:
        limit = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        limit = 1024
    return limit if limit > 0 else 1024
