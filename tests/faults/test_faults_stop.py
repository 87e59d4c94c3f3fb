"""Finding 3: `stop` does not always stop.

Invariant: stop means stopped. `stop` works from the pid file even when the
config is now broken, its log unwritable or its path a FIFO (it says so and
stops anyway); hung commands are killed by process group within the stop bound;
cleanup steps are independent; `stop` exits 0 only when the daemon is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.conftest import Sandbox, alive, wait_until


def gone(pid: int, timeout: float = 12.0) -> None:
    wait_until(lambda: not alive(pid), f"pid {pid} gone", timeout=timeout)


def test_faults_finding3_stop_with_a_broken_config_stops_anyway(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    cfg.write_text(cfg.read_text() + "\nbogus_directive=1\n")
    res = sandbox.ld(cfg, "stop")
    assert res.rc == 0, res
    assert "stopping the running daemon anyway" in res.err
    assert not alive(pid)
    assert not sandbox.pidfile().exists()
    assert "terminated on signal: TERM" in sandbox.log_text()


def test_faults_finding3_stop_with_an_unwritable_log_stops_anyway(sandbox: Sandbox) -> None:
    log = sandbox.root / "logs" / "ld.log"
    log.parent.mkdir()
    cfg = sandbox.config(log=log)
    pid = sandbox.start(cfg)
    log.unlink()
    log.mkdir()  # the log path is now a directory: no one can write it
    res = sandbox.ld(cfg, "stop")
    assert res.rc == 0, res
    assert "stopping the running daemon anyway" in res.err
    assert not alive(pid)


def test_faults_finding6_config_replaced_by_a_fifo_blocks_nothing(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    cfg.unlink()
    os.mkfifo(cfg)
    time.sleep(2.5)  # two autoreload polls
    os.kill(pid, signal.SIGHUP)
    wait_until(
        lambda: f"{cfg} is not a regular file" in sandbox.log_text(), "the reload is refused"
    )
    status = sandbox.call(Path(sys.executable).parent / "ldirectordctl", "status", "-c", "t.cf")
    assert status.rc == 0, status  # the loop answers
    res = sandbox.ld(cfg, "stop", timeout=20)
    assert res.rc == 0, res
    assert "stopping the running daemon anyway" in res.err
    assert not alive(pid)


def test_faults_finding3_a_hung_fallbackcommand_is_killed_within_the_stop_bound(
    sandbox: Sandbox,
) -> None:
    marker = sandbox.root / "fallback.pid"
    script = sandbox.root / "fallback.sh"
    script.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 1000\n")
    script.chmod(0o755)
    # the only real (nothing listens on it) is down: the fallbackcommand runs
    cfg = sandbox.config(globals_=f'fallbackcommand="{script}"\n')
    pid = sandbox.start(cfg)
    wait_until(lambda: marker.exists() and marker.read_text().strip(), "the fallback runs", 15)
    hung = int(marker.read_text())
    assert alive(hung)
    started = time.monotonic()
    res = sandbox.ld(cfg, "stop", timeout=30)
    took = time.monotonic() - started
    assert res.rc == 0, res
    print(f"stop with a hung fallbackcommand: rc {res.rc} after {took:.1f} s")
    assert took < 10.5, f"stop took {took:.1f} s"
    assert not alive(pid)
    wait_until(lambda: not alive(hung), "the hung command killed with its group", 3)
    assert "killed: the daemon is stopping" in sandbox.log_text()
    res = sandbox.ld(cfg, "status")
    assert res.rc == 3


def test_faults_finding3_an_unremovable_socket_skips_no_cleanup(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    sock = sandbox.run / "ldirectord.t.cf.sock"
    wait_until(sock.exists, "the control socket")
    sock.unlink()
    sock.mkdir()  # unlink() of the socket path now fails
    (sock / "keep").write_text("x")
    res = sandbox.ld(cfg, "stop")
    assert res.rc == 0, res
    assert not alive(pid)
    log = sandbox.log_text()
    assert "terminated on signal: TERM" in log
    assert not sandbox.pidfile().exists(), "the pid file was removed all the same"


def test_faults_finding3_stop_exits_1_while_the_daemon_is_still_there(sandbox: Sandbox) -> None:
    """A process that ignores TERM (the bound is the daemon's own; this one has none)."""
    cfg = sandbox.config()
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
            "/usr/sbin/ldirectord",
            str(cfg),
            "start",
        ],
        env=sandbox.env(),
    )
    try:
        time.sleep(0.3)
        sandbox.pidfile().write_text(f"{stubborn.pid}\n")
        res = sandbox.ld(cfg, "stop", timeout=30)
        assert res.rc == 1, res
        assert f"(pid {stubborn.pid}) did not stop within 10 seconds" in res.err
        assert stubborn.poll() is None
    finally:
        stubborn.kill()
        stubborn.wait()
