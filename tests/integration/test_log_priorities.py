"""The daemon as the systemd unit runs it (`ldirectord -d`, stderr to the journal):
each line carries its priority as a `<N>` prefix, and the per-check `-d` lines stay
out of the journal; on a terminal (or pipe) the original's plain lines and the
per-check lines appear."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, wait_until

pytestmark = pytest.mark.root


def _foreground(sandbox: Sandbox, err: Path) -> subprocess.Popen[str]:
    cfg = sandbox.config()
    return sandbox.popen(
        "/bin/sh", "-c", 'exec "$0" -d "$1" start 2>>"$2"', sandbox.binary, cfg, err
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_under_the_journal_lines_carry_their_priority(sandbox: Sandbox) -> None:
    err = sandbox.root / "journal"
    err.write_text("")
    info = os.stat(err)
    sandbox.extra_env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
    proc = _foreground(sandbox, err)
    wait_until(lambda: "Starting Linux Director" in err.read_text(), "the daemon to start")
    wait_until(lambda: "ip_vs is not available" in err.read_text(), "the dataplane's word")
    _stop(proc)
    lines = err.read_text().splitlines()
    logged = [line for line in lines if line.startswith("<")]
    assert any(line.startswith("<6>Starting Linux Director") for line in logged), lines
    # said once at start, as a warning (the ip_vs writer's problems are warnings)
    said = [line for line in lines if "ip_vs is not available" in line]
    assert said == ["<4>ip_vs is not available: load the ip_vs module"], lines
    assert not any("DEBUG2: Checking" in line for line in lines), lines


def test_on_a_pipe_the_lines_are_plain_and_each_check_is_announced(sandbox: Sandbox) -> None:
    err = sandbox.root / "stderr"
    err.write_text("")
    sandbox.extra_env.pop("JOURNAL_STREAM", None)
    proc = _foreground(sandbox, err)
    wait_until(lambda: "DEBUG2: Checking negotiate: real server=" in err.read_text(), "a check")
    _stop(proc)
    text = err.read_text()
    assert "(virtual=tcp:127.0.0.100:8080)" in text
    assert not any(line.startswith("<") for line in text.splitlines())


def test_a_refused_reload_is_an_error_in_the_journal(sandbox: Sandbox) -> None:
    """`journalctl -p warning` must show a reload that did not happen."""
    err = sandbox.root / "journal"
    err.write_text("")
    info = os.stat(err)
    sandbox.extra_env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
    proc = _foreground(sandbox, err)
    wait_until(lambda: "Starting Linux Director" in err.read_text(), "the daemon to start")
    with open(sandbox.root / "t.cf", "a") as f:  # the file _foreground started it with
        f.write("bogus=1\n")
    os.kill(proc.pid, signal.SIGHUP)
    wait_until(lambda: "Configuration not reloaded" in err.read_text(), "the refusal")
    _stop(proc)
    lines = err.read_text().splitlines()
    assert any(line.startswith("<3>Error ") and "bogus=1" in line for line in lines), lines
    assert any(line.startswith("<4>Configuration not reloaded") for line in lines), lines
