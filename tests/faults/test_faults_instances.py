"""Finding 2: several daemons for one config.

Invariant: never two daemons. 10 concurrent `start` leave exactly one daemon and
`stop` none; a `-d` daemon running makes a forked `start` start nothing.
"""

from __future__ import annotations

import subprocess
import time

from tests.integration.conftest import Sandbox, alive, wait_until


def daemons(sandbox: Sandbox, cfgname: str = "t.cf") -> list[int]:
    """The live ldirectord processes of this sandbox for `cfgname`."""
    out = []
    for pid in sandbox.marked_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = [a.decode() for a in fh.read().split(b"\0") if a]
        except OSError:
            continue
        is_daemon = any(a.endswith("/ldirectord") for a in args) and "unshare" not in args[0]
        if is_daemon and any(a.endswith(cfgname) for a in args) and alive(pid):
            out.append(pid)
    # A daemon's child between fork and exec (a command it runs) still shows the
    # daemon's command line for an instant: it is not a second daemon.
    return [pid for pid in out if parent(pid) not in out]


def parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_faults_finding2_ten_concurrent_starts_leave_one_daemon_and_stop_none(
    sandbox: Sandbox,
) -> None:
    cfg = sandbox.config()
    procs = [
        subprocess.Popen(
            sandbox.ns_argv(sandbox.binary, cfg, "start"),
            env=sandbox.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    results = [(p.wait(30), *p.communicate()) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), results
    time.sleep(0.5)
    running = daemons(sandbox)
    assert len(running) == 1, running
    pid = sandbox.read_pid()
    assert running == [pid]
    refused = [err for _, _, err in results if "not starting a second one" in err]
    for err in refused:
        assert f"pid {pid}" in err or "another process" in err
    res = sandbox.ld(cfg, "stop")
    assert res.rc == 0, res
    wait_until(lambda: not daemons(sandbox), "no daemon left", timeout=5)
    assert sandbox.ld(cfg, "status").rc == 3


def test_faults_finding2_a_debug_daemon_blocks_a_forked_start(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    foreground = sandbox.popen(sandbox.binary, "-d", cfg, "start")
    wait_until(lambda: len(daemons(sandbox)) == 1, "the -d daemon runs")
    (pid,) = daemons(sandbox)
    wait_until(
        lambda: (
            (sandbox.run / "ldirectord.t.cf.lock").exists()
            and (sandbox.run / "ldirectord.t.cf.lock").read_text().strip() == str(pid)
        ),
        "the lock names the -d daemon",
    )
    res = sandbox.ld(cfg, "start")
    assert res.rc == 0
    assert f"is already running (pid {pid} holds /var/run/ldirectord.t.cf.lock)" in res.err
    assert daemons(sandbox) == [pid], "a second daemon was started"
    again = sandbox.ld("-d", cfg, "start")
    assert again.rc == 1, "a foreground start that runs nothing fails"
    foreground.terminate()
    foreground.wait(15)
