"""External commands (execute= instances, callback) run as the original runs them:
one string through `/bin/sh -c`, environment inherited, exit status only logged.

The daemon awaits them without blocking its event loop, and with a bound, so a
hung helper can delay a reload or a stop but never wedge the daemon. Each runs
in a process group of its own: a command that times out, or is still running
when the daemon's stop bound runs out, is killed with everything it started
(`kill_running`), never left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

from ldirectord_py.observe.log import Log

# Generous: an `ldirectord other.cf start` returns in well under a second.
COMMAND_TIMEOUT = 60.0

_running_groups: set[int] = set()
"""Process groups of the commands running now (the daemon kills them on stop)."""


def kill_running() -> int:
    """SIGKILL every running command's process group; returns how many. Safe from
    any thread (the stop bound's timer calls it when the loop is stuck)."""
    killed = 0
    for pgid in list(_running_groups):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
    return killed


def describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exit status {returncode}"


def run_sync(command: str, log: Log) -> int:
    """Run and wait, with stdout/stderr passed through (used by `status`)."""
    log.debug_detail(f"Running system({command})")
    try:
        returncode = subprocess.run(["/bin/sh", "-c", command], check=False).returncode
    except OSError as err:
        log.err(f"system({command}) failed: {err.strerror or err}")
        return 127
    if returncode != 0:
        log.err(f"system({command}) failed: {describe_status(returncode)}")
    return returncode


async def run_async(command: str, log: Log, timeout: float = COMMAND_TIMEOUT) -> int:
    """Run and await; a command that outlives `timeout` is killed and counts as failed."""
    import asyncio  # here, not at the top: `status` and friends never need the loop

    log.debug_detail(f"Running system({command})")
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, start_new_session=True
        )
    except OSError as err:
        log.err(f"system({command}) failed: {err.strerror or err}")
        return 127
    _running_groups.add(proc.pid)
    try:
        returncode = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        log.err(f"system({command}) failed: still running after {timeout:g} seconds, killed")
        return -1
    except asyncio.CancelledError:
        # The daemon is stopping and its bound ran out: the command goes with it.
        _kill_group(proc.pid)
        log.warning(f"system({command}) killed: the daemon is stopping")
        raise
    finally:
        _running_groups.discard(proc.pid)
    if returncode != 0:
        log.err(f"system({command}) failed: {describe_status(returncode)}")
    return returncode


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)
