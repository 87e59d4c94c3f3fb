"""checktype=external and external-perl: run a program with the original's four
arguments, `<vip|fwmark> <vport> <rip> <rport>`, without a shell.

external execs `checkcommand` directly; external-perl runs `/usr/bin/perl
checkcommand` (the original compiles the file into a sub inside its own process;
a separate perl process gives the same exit-status contract without sharing the
daemon's interpreter). Up: exit status 0 within checktimeout. At the deadline
the program's process group gets SIGTERM, then SIGKILL after KILL_GRACE seconds
if it is still there; the result is "down" at the deadline either way, and the
child is reaped in the background. Standard input, output and error are
/dev/null, as in the daemonized original.

The child is watched through a pidfd (Linux >= 5.3), so no thread or
SIGCHLD handler is involved and thousands may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING

from ldirectord_py.checks.descriptor import CheckDescriptor, checktimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

PERL = "/usr/bin/perl"
KILL_GRACE = 2.0


def _spawn(argv: list[str]) -> int:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        return os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(devnull)


def _status(pid: int) -> int | None:
    """The exit code if the child has ended (a signal N gives 128+N)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -1  # reaped elsewhere (a waitpid(-1) child watcher): unknown
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _wait(pid: int, pidfd: int) -> int:
    loop = asyncio.get_running_loop()
    while True:
        code = _status(pid)
        if code is not None:
            return code
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pidfd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(pidfd)


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _reap(pid: int, pidfd: int) -> None:
    """After the deadline: TERM, wait KILL_GRACE, KILL, and always reap."""
    try:
        _killpg(pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(KILL_GRACE):
                await _wait(pid, pidfd)
                return
        except TimeoutError:
            pass
        _killpg(pid, signal.SIGKILL)
        await _wait(pid, pidfd)
    finally:
        os.close(pidfd)


async def run(argv: list[str], runtime: CheckRuntime) -> int:
    """Run argv; return its exit code. On cancellation (the deadline) the child is
    terminated and reaped in the background."""
    try:
        pid = _spawn(argv)
    except OSError as e:
        raise CheckFailed(f"exec {argv[0]} failed: {e.strerror}", FailureKind.OTHER) from e
    pidfd = os.pidfd_open(pid)
    try:
        code = await _wait(pid, pidfd)
    except BaseException:
        runtime.reap(_reap(pid, pidfd))
        raise
    # the group may still hold children of the check: they are its own business,
    # as with the original, which only ever signalled the direct child.
    os.close(pidfd)
    return code


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    argv = [spec.checkcommand, *spec.external_args]
    if spec.checktype == "external-perl":
        argv = [PERL, *argv]
    code = await run(argv, runtime)
    if code != 0:
        raise CheckFailed(f"exit status {code}", FailureKind.EXIT_STATUS)
    return "exit status 0"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="external",
    check=check,
    deadline=checktimeout,
    fd_cost=2,  # the pidfd, and /dev/null while spawning
    slotted=False,
    checktypes=("external", "external-perl"),
)
