"""Reload paths: SIGHUP / `reload` with good and broken files, autoreload and callback.

With no data plane yet, the visible effect of a new config is its `logfile`: once
a reload has taken effect, the daemon's next lines go to the new file.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, alive, wait_until

pytestmark = pytest.mark.root


def terminated_in(sandbox: Sandbox, pid: int, log: Path) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid) and not sandbox.pidfile().exists(), "daemon stopped")
    assert f"|t.cf|{pid}] Linux Director Daemon terminated on signal: TERM" in sandbox.log_text(log)


def callback_script(sandbox: Sandbox) -> tuple[Path, Path]:
    calls = sandbox.root / "callback.calls"
    script = sandbox.root / "callback.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(0o755)
    return script, calls


def test_sighup_with_a_good_config_takes_effect(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    new_log = sandbox.root / "new.log"
    sandbox.config(log=new_log)
    os.kill(pid, signal.SIGHUP)
    wait_until(
        lambda: (
            f"|t.cf|{pid}] Reloading Linux Director Daemon config on signal" in sandbox.log_text()
        ),
        "the reload is logged (to the log in effect when it began)",
    )
    terminated_in(sandbox, pid, new_log)
    assert "terminated" not in sandbox.log_text()


def test_reload_command_signals_the_daemon(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    new_log = sandbox.root / "new.log"
    sandbox.config(log=new_log)
    res = sandbox.ld(cfg, "reload")
    assert (res.rc, res.out, res.err) == (0, "", "")
    # The reload command itself already parsed the new file, so it logs there.
    assert "Invoking ldirectord invoked as:" in sandbox.log_text(new_log)
    wait_until(lambda: "Reloading" in sandbox.log_text(), "the daemon reloads")
    terminated_in(sandbox, pid, new_log)


def test_sighup_with_a_broken_config_keeps_the_old_one_whole(sandbox: Sandbox) -> None:
    """Quirk 10, fixed: the broken file sets logfile on line 2 before failing on
    line 9; the original would keep that half-parsed global, we keep none of it."""
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    other_log = sandbox.root / "other.log"
    sandbox.config(log=other_log)
    cfg.write_text(cfg.read_text() + "\nbogus_directive=1\n")
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: "not reloaded" in sandbox.log_text(), "the failed reload is logged")
    log = sandbox.log_text()
    assert re.search(
        rf"\|t\.cf\|{pid}\] Error \[{pid}\] reading file {re.escape(str(cfg))} at line 9: "
        r"Unknown command bogus_directive=1\n",
        log,
    ), log
    assert (
        f"Configuration not reloaded, the running configuration stays in effect: {cfg}:9: " in log
    )
    assert alive(pid) and sandbox.read_pid() == pid
    terminated_in(sandbox, pid, sandbox.log)
    assert "terminated" not in sandbox.log_text(other_log)


def test_failed_apply_keeps_the_old_config(sandbox: Sandbox) -> None:
    """A data plane that fails to apply the new config: logged, old config stays."""
    sandbox.extra_env = {"LDTEST_DIRECTOR": "fail-reload"}
    cfg = sandbox.config()
    assert sandbox.driver(cfg, "start").rc == 0
    pid = sandbox.read_pid()
    other_log = sandbox.root / "other.log"
    sandbox.config(log=other_log)
    os.kill(pid, signal.SIGHUP)
    wait_until(
        lambda: (
            "Error while reloading: RuntimeError: scripted reload failure" in sandbox.log_text()
        ),
        "the failure is logged in the old log",
    )
    terminated_in(sandbox, pid, sandbox.log)


def test_autoreload_rereads_a_changed_file_and_runs_the_callback(sandbox: Sandbox) -> None:
    script, calls = callback_script(sandbox)
    globals_ = f'autoreload=yes\ncallback="{script}"\n'
    cfg = sandbox.config(globals_=globals_)
    pid = sandbox.start(cfg)
    new_log = sandbox.root / "new.log"
    sandbox.config(globals_=globals_, log=new_log)
    wait_until(lambda: calls.exists(), "the callback runs", timeout=5)
    assert calls.read_text() == f"{cfg}\n", "callback gets the full config path"
    log = sandbox.log_text()
    assert f"|t.cf|{pid}] Configuration file '{cfg}' has changed on disk\n" in log
    assert f"|t.cf|{pid}]  - reread new configuration\n" in log
    terminated_in(sandbox, pid, new_log)


def test_without_autoreload_a_change_is_reported_and_ignored(sandbox: Sandbox) -> None:
    script, calls = callback_script(sandbox)
    globals_ = f'callback="{script}"\n'
    cfg = sandbox.config(globals_=globals_)
    pid = sandbox.start(cfg)
    sandbox.config(globals_=globals_, log=sandbox.root / "new.log")
    wait_until(lambda: calls.exists(), "the callback runs", timeout=5)
    assert calls.read_text() == f"{cfg}\n"
    log = sandbox.log_text()
    assert f"Configuration file '{cfg}' has changed on disk\n" in log
    assert f"|t.cf|{pid}]  - ignore new configuration\n" in log
    terminated_in(sandbox, pid, sandbox.log)


def test_nothing_fires_without_a_change(sandbox: Sandbox) -> None:
    script, calls = callback_script(sandbox)
    globals_ = f'autoreload=yes\ncallback="{script}"\n'
    cfg = sandbox.config(globals_=globals_)
    pid = sandbox.start(cfg)
    # Touching the file without changing its content is not a change either.
    os.utime(cfg)
    time.sleep(1.5)  # at least one config check (every second) has passed
    assert not calls.exists()
    assert "has changed" not in sandbox.log_text()
    # ...while a real change is seen, once.
    sandbox.config(globals_=globals_ + "# changed\n")
    wait_until(lambda: calls.exists(), "the callback runs")
    time.sleep(1.2)
    assert calls.read_text() == f"{cfg}\n"
    assert sandbox.log_text().count("has changed on disk") == 1
    assert alive(pid)


def test_autoreload_with_a_broken_file_then_fixed(sandbox: Sandbox) -> None:
    globals_ = "autoreload=yes\n"
    cfg = sandbox.config(globals_=globals_)
    pid = sandbox.start(cfg)
    good = cfg.read_text()
    cfg.write_text(good + "\nbogus_directive=1\n")
    wait_until(lambda: "not reloaded" in sandbox.log_text(), "the broken file is reported")
    assert alive(pid)
    new_log = sandbox.root / "new.log"
    sandbox.config(globals_=globals_, log=new_log)
    wait_until(lambda: sandbox.log_text().count("has changed on disk") == 2, "fixed file seen")
    terminated_in(sandbox, pid, new_log)


def test_relative_config_can_be_reloaded(sandbox: Sandbox) -> None:
    """The daemon runs in `/`; the original then cannot re-read a relative CONFIG."""
    sandbox.config("t.cf", directory=sandbox.cwd)
    res = sandbox.ld("t.cf", "start")
    assert res.rc == 0
    pid = sandbox.read_pid()
    new_log = sandbox.root / "new.log"
    sandbox.config("t.cf", directory=sandbox.cwd, log=new_log)
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: "Reloading" in sandbox.log_text(), "reload begins")
    terminated_in(sandbox, pid, new_log)
