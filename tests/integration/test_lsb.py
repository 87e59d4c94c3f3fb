"""compat/ldirectord.init, run directly as init systems and operators run it,
against the drop-in in the sandbox (private /run, /etc/ha.d, /var/log)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Result, Sandbox, alive, wait_until

pytestmark = pytest.mark.root

INIT = REPO / "compat" / "ldirectord.init"


def init(sandbox: Sandbox, action: str, cfg: Path | None) -> Result:
    sandbox.extra_env = {
        "LDIRECTORD": str(sandbox.binary),
        "LDIRECTORD_DEFAULTS": str(sandbox.root / "default-ldirectord"),
        "CONFIG_FILE": str(cfg) if cfg else str(sandbox.root / "missing.cf"),
    }
    return sandbox.call("/bin/sh", INIT, *([action] if action else []), timeout=60)


def test_lsb_actions_and_exit_codes(sandbox: Sandbox) -> None:
    cfg = sandbox.config("lsb.cf")
    res = init(sandbox, "status", cfg)
    assert (res.rc, res.out) == (3, f"ldirectord is stopped for {cfg}\n")

    assert init(sandbox, "start", cfg).rc == 0
    pid = sandbox.read_pid("lsb.cf")
    assert alive(pid)
    res = init(sandbox, "status", cfg)
    # The drop-in's own channels pass through: "running" on stderr only.
    assert (res.rc, res.out) == (0, "")
    assert f"ldirectord for {cfg} is running with pid: {pid}" in res.err
    assert init(sandbox, "start", cfg).rc == 0, "start when running: nothing, 0"
    assert sandbox.read_pid("lsb.cf") == pid

    assert init(sandbox, "reload", cfg).rc == 0
    assert init(sandbox, "force-reload", cfg).rc == 0
    wait_until(
        lambda: "Reloading Linux Director Daemon config on signal" in sandbox.log_text(),
        "the daemon reloaded",
    )
    assert sandbox.read_pid("lsb.cf") == pid

    assert init(sandbox, "restart", cfg).rc == 0
    restarted = sandbox.read_pid("lsb.cf")
    assert restarted != pid and alive(restarted) and not alive(pid)
    assert init(sandbox, "try-restart", cfg).rc == 0
    again = sandbox.read_pid("lsb.cf")
    assert again != restarted and alive(again)

    assert init(sandbox, "stop", cfg).rc == 0
    assert not sandbox.pidfile("lsb.cf").exists(), "stop returns once the daemon is gone"
    assert not alive(again)
    assert init(sandbox, "status", cfg).rc == 3
    assert init(sandbox, "stop", cfg).rc == 0, "stopping a stopped service succeeds"
    assert init(sandbox, "try-restart", cfg).rc == 0
    assert not sandbox.pidfile("lsb.cf").exists(), "try-restart starts nothing"
    assert init(sandbox, "reload", cfg).rc == 7, "reload: not running"
    assert init(sandbox, "force-reload", cfg).rc == 7


def test_lsb_stale_pid_file_is_status_1(sandbox: Sandbox) -> None:
    cfg = sandbox.config("lsb.cf")
    proc = subprocess.Popen(["sleep", "30"])
    try:
        sandbox.pidfile("lsb.cf").write_text(f"{proc.pid}\n")
        res = init(sandbox, "status", cfg)
        assert res.rc == 1
        assert "ldirectord stale pid file" in res.err
        assert init(sandbox, "start", cfg).rc == 0
        assert sandbox.read_pid("lsb.cf") != proc.pid
        assert init(sandbox, "stop", cfg).rc == 0
        assert alive(proc.pid), "a foreign process is never signalled"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_lsb_broken_configuration(sandbox: Sandbox) -> None:
    cfg = sandbox.config("lsb.cf")
    assert init(sandbox, "start", cfg).rc == 0
    pid = sandbox.read_pid("lsb.cf")
    cfg.write_text(cfg.read_text() + "\nbogus_directive=1\n")
    res = init(sandbox, "status", cfg)
    assert res.rc == 4, "status unknown"
    assert "bogus_directive" in res.err
    assert init(sandbox, "reload", cfg).rc == 6, "not configured (broken)"
    assert init(sandbox, "restart", cfg).rc == 6
    assert sandbox.read_pid("lsb.cf") == pid and alive(pid), "the daemon is left alone"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid), "the daemon stopped")
    assert init(sandbox, "start", cfg).rc == 6


def test_lsb_not_configured_not_installed_and_usage(sandbox: Sandbox) -> None:
    assert init(sandbox, "status", None).rc == 3
    assert init(sandbox, "stop", None).rc == 0
    res = init(sandbox, "start", None)
    assert res.rc == 6 and "missing.cf" in res.err
    cfg = sandbox.config("lsb.cf")
    res = init(sandbox, "bogus", cfg)
    assert res.rc == 2 and res.err.startswith("Usage: /etc/init.d/ldirectord {start|stop|")
    assert init(sandbox, "", cfg).rc == 2
    sandbox.extra_env["LDIRECTORD"] = str(sandbox.root / "nowhere" / "ldirectord")
    env_call = sandbox.call("/bin/sh", INIT, "start")
    assert env_call.rc == 5
    assert sandbox.call("/bin/sh", INIT, "status").rc == 4


def test_lsb_defaults_file_names_the_configuration(sandbox: Sandbox) -> None:
    cfg = sandbox.config("fromdefaults.cf")
    defaults = sandbox.root / "default-ldirectord"
    defaults.write_text(f"CONFIG_FILE={cfg}\n")
    sandbox.extra_env = {
        "LDIRECTORD": str(sandbox.binary),
        "LDIRECTORD_DEFAULTS": str(defaults),
    }
    assert sandbox.call("/bin/sh", INIT, "start").rc == 0
    assert sandbox.pidfile("fromdefaults.cf").exists()
    assert sandbox.call("/bin/sh", INIT, "stop").rc == 0
    assert not sandbox.pidfile("fromdefaults.cf").exists()


def test_lsb_not_root_is_4(sandbox: Sandbox) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("`setpriv` is missing: install the Debian package `util-linux`")
    cfg = sandbox.config("lsb.cf")
    os.chmod(sandbox.root, 0o755)
    os.chmod(cfg, 0o644)
    env = {
        "PATH": "/usr/bin:/bin",
        "LDIRECTORD": str(sandbox.binary),
        "LDIRECTORD_DEFAULTS": "/nonexistent",
        "CONFIG_FILE": str(cfg),
    }
    res = subprocess.run(
        [
            setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/sh",
            str(INIT),
            "start",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 4, res.stderr
    assert "must be run as root" in res.stderr
