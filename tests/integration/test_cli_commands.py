"""Every command in every pid-file state, with the exit codes and output channels of
spec 1.4 (what the OCF agent, Heartbeat v1, LSB and systemd look at).

States: running (our daemon), stale (dead pid), foreign (a live `sleep`), absent,
empty file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, alive, dead_pid, wait_until

pytestmark = pytest.mark.root

STATES = ["running", "stale", "foreign", "absent", "empty"]


@dataclass
class Setup:
    cfg: Path
    state: str
    pid: int | None  # the daemon (running) or the foreign process (foreign)


def arrange(sandbox: Sandbox, state: str) -> Setup:
    cfg = sandbox.config()
    pidfile = sandbox.pidfile()
    pid: int | None = None
    if state == "running":
        pid = sandbox.start(cfg)
    elif state == "stale":
        pidfile.write_text(f"{dead_pid()}\n")
    elif state == "foreign":
        pid = sandbox.foreign_process()
        pidfile.write_text(f"{pid}\n")
    elif state == "empty":
        pidfile.write_text("")
    return Setup(cfg, state, pid)


def stopped(cfg: Path) -> str:
    return f"ldirectord is stopped for {cfg}\n"


def stale(sandbox: Sandbox, cfg: Path) -> str:
    return f"ldirectord stale pid file /var/run/ldirectord.t.cf.pid for {cfg}\n"


def daemon_gone(sandbox: Sandbox, pid: int) -> None:
    wait_until(lambda: not sandbox.pidfile().exists() and not alive(pid), f"daemon {pid} gone")


def assert_untouched(sandbox: Sandbox, s: Setup, before: str | None) -> None:
    """Nothing was started, nothing was signalled, the pid file is as it was."""
    after = sandbox.pidfile().read_text() if sandbox.pidfile().exists() else None
    assert after == before
    if s.state == "foreign":
        assert s.pid is not None and alive(s.pid)
    assert "Starting Linux Director" not in sandbox.log_text()


def snapshot(sandbox: Sandbox) -> str | None:
    return sandbox.pidfile().read_text() if sandbox.pidfile().exists() else None


def assert_new_daemon(sandbox: Sandbox, s: Setup, old: int | None = None) -> int:
    pid = sandbox.read_pid()
    assert sandbox.pidfile().read_text() == f"{pid}\n"
    assert alive(pid) and pid != old
    assert sandbox.ld(s.cfg, "status").rc == 0
    if s.state == "foreign":
        assert s.pid is not None and alive(s.pid), "start must not signal a foreign process"
    return pid


@pytest.mark.parametrize("state", STATES)
def test_status(sandbox: Sandbox, state: str) -> None:
    s = arrange(sandbox, state)
    before = snapshot(sandbox)
    res = sandbox.ld(s.cfg, "status")
    if state == "running":
        assert (res.rc, res.out) == (0, "")
        assert res.err == f"ldirectord for {s.cfg} is running with pid: {s.pid}\n"
    elif state in ("stale", "foreign"):
        assert (res.rc, res.out, res.err) == (1, stopped(s.cfg), stale(sandbox, s.cfg))
    else:
        assert (res.rc, res.out, res.err) == (3, stopped(s.cfg), "")
    assert snapshot(sandbox) == before


@pytest.mark.parametrize("state", STATES)
def test_start(sandbox: Sandbox, state: str) -> None:
    s = arrange(sandbox, state)
    res = sandbox.ld(s.cfg, "start")
    assert (res.rc, res.out, res.err) == (0, "", "")
    if state == "running":
        assert sandbox.read_pid() == s.pid
        assert sandbox.log_text().count("Starting Linux Director") == 1
    else:
        assert_new_daemon(sandbox, s)


@pytest.mark.parametrize("state", STATES)
def test_stop(sandbox: Sandbox, state: str) -> None:
    s = arrange(sandbox, state)
    before = snapshot(sandbox)
    res = sandbox.ld(s.cfg, "stop")
    assert (res.rc, res.out, res.err) == (0, "", "")
    if state == "running":
        assert s.pid is not None
        daemon_gone(sandbox, s.pid)
        assert "Linux Director Daemon terminated on signal: TERM" in sandbox.log_text()
    else:
        assert_untouched(sandbox, s, before)


@pytest.mark.parametrize("command", ["restart", "try-restart"])
@pytest.mark.parametrize("state", STATES)
def test_restart(sandbox: Sandbox, state: str, command: str) -> None:
    s = arrange(sandbox, state)
    before = snapshot(sandbox)
    res = sandbox.ld(s.cfg, command)
    assert (res.rc, res.out, res.err) == (0, "", "")
    if state == "running":
        assert s.pid is not None
        # restart waits for the old daemon to remove its pid file (its last act
        # before the interpreter exits), then starts the new one.
        wait_until(lambda: not alive(s.pid or 0), "the old daemon exits", timeout=2)
        assert_new_daemon(sandbox, s, old=s.pid)
        assert "terminated on signal: TERM" in sandbox.log_text()
    elif command == "restart":
        assert_new_daemon(sandbox, s)
    else:
        assert_untouched(sandbox, s, before)


@pytest.mark.parametrize("command", ["reload", "force-reload"])
@pytest.mark.parametrize("state", STATES)
def test_reload(sandbox: Sandbox, state: str, command: str) -> None:
    s = arrange(sandbox, state)
    before = snapshot(sandbox)
    res = sandbox.ld(s.cfg, command)
    assert (res.out, res.err) == ("", "")
    if state == "running":
        assert res.rc == 0
        wait_until(
            lambda: (
                f"|t.cf|{s.pid}] Reloading Linux Director Daemon config on signal"
                in sandbox.log_text()
            ),
            "the daemon logs the reload",
        )
        assert sandbox.read_pid() == s.pid and alive(s.pid or 0)
    else:
        assert res.rc == 1
        log = sandbox.log_text()
        assert f"ldirectord is stopped for {s.cfg}\n" in log
        assert f"Exiting with exit_status 1: Exiting from ldirectord {command}\n" in log
        assert_untouched(sandbox, s, before)


def test_pid_of_another_instance_counts_as_stale(sandbox: Sandbox) -> None:
    """Tightened liveness (quirk 15): the pid must be ldirectord *for this config*."""
    other = sandbox.config("other.cf")
    other_pid = sandbox.start(other)
    cfg = sandbox.config()
    sandbox.pidfile().write_text(f"{other_pid}\n")
    res = sandbox.ld(cfg, "status")
    assert (res.rc, res.out, res.err) == (1, stopped(cfg), stale(sandbox, cfg))
    assert sandbox.ld(cfg, "stop").rc == 0
    assert sandbox.ld(cfg, "reload").rc == 1
    assert alive(other_pid), "stop/reload must not signal another instance"
    assert sandbox.ld(other, "status").rc == 0


@pytest.mark.parametrize("command", ["status", "reload", "restart", "start"])
def test_broken_config_never_touches_a_running_daemon(sandbox: Sandbox, command: str) -> None:
    """Quirk 1, fixed: exit 2, no signal, and the running daemon's pid file survives.
    (`stop` stops anyway: tests/faults/test_faults_stop.py.)"""
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    good = cfg.read_text()
    cfg.write_text(good + "\nbogus_directive=1\n")
    res = sandbox.ld(cfg, command)
    assert res.rc == 2
    assert res.err.startswith("Error [")
    assert sandbox.read_pid() == pid and alive(pid)
    assert "Reloading" not in sandbox.log_text() and "terminated" not in sandbox.log_text()
    # Logged where the file said to log, as the original does.
    assert "Exiting with exit_status 2: config_error: Configuration Error" in sandbox.log_text()
    cfg.write_text(good)
    res = sandbox.ld(cfg, "status")
    assert (res.rc, res.err) == (0, f"ldirectord for {cfg} is running with pid: {pid}\n")


def test_status_right_after_stop_reports_stopped(sandbox: Sandbox) -> None:
    """ocf-tester's sequence: stop returns at once, the next status must say stopped."""
    cfg = sandbox.config()
    sandbox.start(cfg)
    assert sandbox.ld(cfg, "stop").rc == 0
    assert sandbox.ld(cfg, "status").rc == 3


def test_pid_file_garbage_is_stale(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    for text in ("abc\n", "0\n", "-1\n", "self\n", "\n"):
        sandbox.pidfile().write_text(text)
        res = sandbox.ld(cfg, "status")
        assert (res.rc, res.err) == (1, stale(sandbox, cfg)), text
        assert sandbox.ld(cfg, "stop").rc == 0
