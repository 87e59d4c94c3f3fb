"""The daemon as init systems and operators see it: detaching, signals, foreground
modes, execute= instances, and resilience of the lifecycle around the data plane."""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, alive, read_until, wait_until

pytestmark = pytest.mark.root

LOCALTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode()


def gone(sandbox: Sandbox, pid: int, cfgname: str = "t.cf") -> None:
    wait_until(
        lambda: not sandbox.pidfile(cfgname).exists() and not alive(pid),
        f"daemon {pid} exited and removed its pid file",
    )


def test_start_returns_with_the_pid_file_written(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    res = sandbox.ld(cfg, "start")
    assert (res.rc, res.out, res.err) == (0, "", "")
    # No polling: the file is complete when start returns (systemd PIDFile=, OCF status).
    text = sandbox.pidfile().read_text()
    assert re.fullmatch(r"[1-9]\d*\n", text)
    pid = int(text)
    assert alive(pid)
    # The OCF agent's `pgrep -f "$LDIRECTORD $LDIRCONF start"` must find it.
    assert f"{sandbox.binary} {cfg} start" in cmdline(pid)
    # A proper daemon: own session (no controlling terminal), cwd /, stdio on /dev/null.
    assert os.getsid(pid) != os.getsid(0)
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
    log = sandbox.log_text()
    assert re.search(r"\|t\.cf\|\d+\] Starting Linux Director v1\.186-ha as daemon\n", log)


def test_start_fails_clearly_when_the_pid_file_cannot_be_written(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    sandbox.extra_env = {"LDTEST_RUN_RO": "1"}  # /run mounted read-only
    res = sandbox.ld(cfg, "start")
    assert (res.rc, res.out) == (1, "")
    assert res.err == "Can not open /var/run/ldirectord.t.cf.pid\n"
    assert "Exiting with exit_status 1: Initialisation Error" in sandbox.log_text()
    assert sandbox.marked_pids() == [], "no daemon is left behind"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_terminating_signal_stops_cleanly(sandbox: Sandbox, sig: signal.Signals) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    os.kill(pid, sig)
    gone(sandbox, pid)
    name = sig.name.removeprefix("SIG")
    assert f"|t.cf|{pid}] Linux Director Daemon terminated on signal: {name}\n" in (
        sandbox.log_text()
    )


def test_two_quick_terms_still_clean_up(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGTERM)
    gone(sandbox, pid)
    assert sandbox.log_text().count("terminated on signal: TERM") == 1


def test_second_term_during_a_slow_stop_does_not_abort_cleanup(sandbox: Sandbox) -> None:
    """Quirk 9, fixed: the original dies with `Exit Handler Repeatedly Called`."""
    marks = sandbox.root / "marks"
    sandbox.extra_env = {"LDTEST_DIRECTOR": "slow-stop", "LDTEST_MARKS": str(marks)}
    cfg = sandbox.config()
    assert sandbox.driver(cfg, "start").rc == 0
    pid = sandbox.read_pid()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: marks.exists() and "stop begins" in marks.read_text(), "stop begins")
    os.kill(pid, signal.SIGTERM)
    gone(sandbox, pid)
    assert marks.read_text() == "start\nstop begins\nstop done\n"
    log = sandbox.log_text()
    assert "Received signal TERM while stopping; finishing the cleanup first" in log
    assert log.count("Linux Director Daemon terminated on signal: TERM") == 1


def test_sigpipe_is_ignored(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    os.kill(pid, signal.SIGPIPE)
    res = sandbox.ld(cfg, "status")
    assert (res.rc, res.err) == (0, f"ldirectord for {cfg} is running with pid: {pid}\n")


def test_supervised_stays_in_the_foreground_without_pid_file(sandbox: Sandbox) -> None:
    cfg = sandbox.config(globals_="supervised=yes\n")
    proc = sandbox.popen(sandbox.binary, cfg, "start")
    assert proc.stdout is not None
    match, _ = read_until(
        proc.stdout, rf"^\[{LOCALTIME}\] Starting Linux Director v1\.186-ha with pid: (\d+)$"
    )
    assert int(match.group(1)) == proc.pid
    assert not sandbox.pidfile().exists()
    # Kept quirk 8: no pid file, so `status` says stopped.
    assert sandbox.ld(cfg, "status").rc == 3
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert re.search(
        rf"^\[{LOCALTIME}\] Linux Director Daemon terminated on signal: TERM$", out, re.M
    )
    assert "Starting" not in sandbox.log_text(), "supervised logs go to stdout, not the file"


def test_debug_stays_in_the_foreground_logging_to_stderr(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    proc = sandbox.popen(sandbox.binary, "-d", cfg, "start")
    assert proc.stderr is not None
    match, _ = read_until(proc.stderr, r"^Starting Linux Director v1\.186-ha with pid: (\d+)$")
    assert int(match.group(1)) == proc.pid
    assert not sandbox.pidfile().exists()
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert "Linux Director Daemon terminated on signal: TERM\n" in err
    assert sandbox.log_text() == "", "-d logs to stderr only"


def test_ctrl_c_stops_a_foreground_instance(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    proc = sandbox.popen(sandbox.binary, "-d", cfg, "start")
    assert proc.stderr is not None
    read_until(proc.stderr, r"^Starting Linux Director")
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "terminated on signal: INT" in err


def test_execute_instances_follow_the_parent(sandbox: Sandbox) -> None:
    child_log = sandbox.root / "child.log"
    child = sandbox.config("child.cf", log=child_log)
    parent = sandbox.config(globals_=f"execute={child}\n")
    parent_pid = sandbox.start(parent)
    wait_until(lambda: sandbox.pidfile("child.cf").exists(), "the execute= instance started")
    child_pid = sandbox.read_pid("child.cf")
    assert alive(child_pid) and f"{child} start" in cmdline(child_pid)

    # status reports the parent, then the child's own status passes through.
    res = sandbox.ld(parent, "status")
    assert res.rc == 0
    assert res.err == (
        f"ldirectord for {parent} is running with pid: {parent_pid}\n"
        f"ldirectord for {child} is running with pid: {child_pid}\n"
    )

    # reload: the child is reloaded too.
    assert sandbox.ld(parent, "reload").rc == 0
    wait_until(
        lambda: (
            f"|child.cf|{child_pid}] Reloading Linux Director Daemon config on signal"
            in sandbox.log_text(child_log)
        ),
        "the child reloads with its parent",
    )

    # stop: the child stops with its parent.
    assert sandbox.ld(parent, "stop").rc == 0
    gone(sandbox, parent_pid)
    gone(sandbox, child_pid, "child.cf")


def test_execute_instance_dropped_on_reload_is_stopped(sandbox: Sandbox) -> None:
    child = sandbox.config("child.cf", log=sandbox.root / "child.log")
    parent = sandbox.config(globals_=f"execute={child}\n")
    parent_pid = sandbox.start(parent)
    wait_until(lambda: sandbox.pidfile("child.cf").exists(), "the execute= instance started")
    child_pid = sandbox.read_pid("child.cf")
    sandbox.config()  # the same file without execute=
    os.kill(parent_pid, signal.SIGHUP)
    gone(sandbox, child_pid, "child.cf")
    assert alive(parent_pid)


def test_a_failing_data_plane_is_logged_and_the_daemon_keeps_running(sandbox: Sandbox) -> None:
    sandbox.extra_env = {"LDTEST_DIRECTOR": "fail-start"}
    cfg = sandbox.config()
    assert sandbox.driver(cfg, "start").rc == 0
    pid = sandbox.read_pid()
    wait_until(
        lambda: "Error while starting: RuntimeError: scripted start failure" in sandbox.log_text(),
        "the failure is logged",
    )
    res = sandbox.driver(cfg, "status")
    assert res.rc == 0
    assert sandbox.driver(cfg, "stop").rc == 0
    gone(sandbox, pid)


def test_restart_gives_up_on_a_daemon_that_does_not_stop(sandbox: Sandbox) -> None:
    """The original polls forever; we stop waiting after a bound and say so."""
    sandbox.extra_env = {"LDTEST_DIRECTOR": "hang-stop", "LDTEST_STOP_WAIT": "1"}
    cfg = sandbox.config()
    assert sandbox.driver(cfg, "start").rc == 0
    pid = sandbox.read_pid()
    res = sandbox.driver(cfg, "restart", timeout=10)
    assert res.rc == 1
    assert res.err == (
        f"ldirectord for {cfg} (pid {pid}) did not stop within 1 seconds; "
        "not starting a second one\n"
    )
    assert sandbox.read_pid() == pid and alive(pid)
    assert sandbox.log_text().count("Starting Linux Director") == 1


def test_restart_does_not_wait_for_a_pid_file_left_by_a_killed_daemon(sandbox: Sandbox) -> None:
    marks = sandbox.root / "marks"
    sandbox.extra_env = {"LDTEST_DIRECTOR": "hang-stop", "LDTEST_MARKS": str(marks)}
    cfg = sandbox.config()
    assert sandbox.driver(cfg, "start").rc == 0
    pid = sandbox.read_pid()
    os.kill(pid, signal.SIGTERM)  # now hangs in stop
    wait_until(lambda: marks.exists() and "stop begins" in marks.read_text(), "stop hangs")
    os.kill(pid, signal.SIGKILL)  # dies without removing its pid file
    wait_until(lambda: not alive(pid), "killed")
    assert sandbox.pidfile().exists()
    sandbox.extra_env = {}
    res = sandbox.ld(cfg, "restart", timeout=10)
    assert res.rc == 0
    assert sandbox.read_pid() != pid


def test_syslog_facility(sandbox: Sandbox) -> None:
    """A logfile that does not start with / is a syslog facility (ident ldirectord,
    option pid, priority info), for the CLI and for the daemon after it detached."""
    sock_path = sandbox.root / "devlog.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(5)
    sandbox.devlog = sock_path
    messages: list[str] = []

    def receive_until(text: str) -> None:
        while not any(text in m for m in messages):
            messages.append(server.recv(4096).decode().rstrip("\0"))

    try:
        cfg = sandbox.root / "t.cf"
        cfg.write_text(sandbox.config().read_text().replace(f'"{sandbox.log}"', '"local0"'))
        assert sandbox.ld(cfg, "status").rc == 3
        receive_until("Exiting with exit_status 3")
        # <134> = facility local0 (16) * 8 + priority info (6)
        assert re.fullmatch(
            rf"<134>.*ldirectord\[\d+\]: Invoking ldirectord invoked as: .* "
            rf"{re.escape(str(cfg))} status ",
            messages[0],
        ), messages
        assert messages[1].startswith("<134>")
        assert messages[1].endswith("Exiting with exit_status 3: Exiting from ldirectord status")
        pid = sandbox.start(cfg)
        os.kill(pid, signal.SIGTERM)
        receive_until("terminated on signal")
    finally:
        server.close()
    assert any(
        m.startswith("<134>")
        and m.endswith(f"ldirectord[{pid}]: Linux Director Daemon terminated on signal: TERM")
        for m in messages
    ), messages


def test_log_file_is_reopened_for_every_line(sandbox: Sandbox) -> None:
    """logrotate without postrotate: a moved-away log is recreated on the next line."""
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    rotated = Path(str(sandbox.log) + ".1")
    sandbox.log.rename(rotated)
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: "Reloading" in sandbox.log_text(), "the daemon writes the new file")
    assert "Reloading" not in rotated.read_text()
