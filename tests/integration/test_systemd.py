"""compat/ldirectord.service: `systemd-analyze verify` passes, and the daemon run
as the unit runs it speaks sd_notify to a fake NOTIFY_SOCKET (no systemd needed):
READY=1, RELOADING=1/READY=1 on the unit's ExecReload, watchdog pings, STOPPING=1
-- and the pings stop while the health checks are stalled."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Sandbox, wait_until
from tests.unit.test_sdnotify import FakeSystemd

pytestmark = pytest.mark.root

UNITS = ("ldirectord.service", "ldirectord@.service")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(REPO / "compat" / name)
    return parser


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("`systemd-analyze` is missing: install the Debian package `systemd`")
    binary = Path(sys.executable).parent / "ldirectord"
    units = tmp_path / "units"
    units.mkdir()
    for name in UNITS:
        text = (REPO / "compat" / name).read_text()
        # The drop-in as installed here, so that verify checks our program exists.
        (units / name).write_text(text.replace("/usr/sbin/ldirectord", str(binary)))
    # Documentation=man:...: verify runs man(1); give it the pages we ship.
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    for page in REPO.glob("man/*.8"):
        shutil.copy(page, man8)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"), SYSTEMD_LOG_LEVEL="notice")
    instance = units / "ldirectord@web.cf.service"  # the template, instantiated
    os.symlink(units / "ldirectord@.service", instance)
    for target in (units / "ldirectord.service", instance):
        res = subprocess.run(
            [analyze, "verify", "--man=yes", str(target)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        # Debian's unit for the Perl original sits in /lib and draws a KillMode=none
        # warning of its own whenever the name ldirectord.service is loaded.
        ours = [
            line
            for line in (res.stdout + res.stderr).splitlines()
            if line.strip() and not line.startswith("/lib/systemd/system/ldirectord.service:")
        ]
        assert (res.returncode, ours) == (0, []), res.stderr


def test_unit_contract() -> None:
    for name in UNITS:
        service = unit(name)["Service"]
        assert service["Type"] == "notify"
        assert service["NotifyAccess"] == "main"
        argv = shlex.split(service["ExecStart"])
        assert argv[:2] == ["/usr/sbin/ldirectord", "-d"] and argv[-1] == "start"
        reload = shlex.split(service["ExecReload"])
        assert reload[:2] == ["/usr/sbin/ldirectord", "-d"] and reload[-1] == "reload"
        assert reload[2:-1] == argv[2:-1], "ExecReload names the config as ExecStart does"
        assert int(service["WatchdogSec"]) > 0
        assert service["KillMode"] == "mixed"
        assert service["Restart"] == "on-failure"
        assert "AF_NETLINK" in service["RestrictAddressFamilies"]
        assert "PIDFile" not in service, "-d writes no pid file"
    assert shlex.split(unit("ldirectord@.service")["Service"]["ExecStart"])[2] == "%I"


@pytest.fixture
def notify_socket(sandbox: Sandbox) -> Iterator[tuple[str, FakeSystemd]]:
    """An abstract socket, as systemd's: those belong to a network namespace, so it
    is bound in the sandbox's, where the daemon runs."""
    name = f"ldirectord-systemd-test-{uuid.uuid4().hex}"
    fake = sandbox.in_netns(lambda: FakeSystemd("\0" + name))
    yield "@" + name, fake
    fake.close()


def exec_start(config: Path, binary: Path, key: str = "ExecStart") -> list[str]:
    """The unit's ExecStart (or `key`) as systemd would run it for
    LDIRECTORD_CONFIG=config."""
    words = shlex.split(unit("ldirectord.service")["Service"][key])
    out = []
    for word in words:
        if word == "$LDIRECTORD_CONFIG":
            out.append(str(config))
        else:
            out.append(str(binary) if word == "/usr/sbin/ldirectord" else word)
    return out


def wait_for(fake: FakeSystemd, key: str, timeout: float = 15.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = fake.receive(timeout=deadline - time.monotonic())
        if key in message:
            return message
    raise AssertionError(f"no {key} notification")


def test_daemon_under_the_unit_notifies(
    sandbox: Sandbox, notify_socket: tuple[str, FakeSystemd]
) -> None:
    address, fake = notify_socket
    env_dump = sandbox.root / "callback-env"
    callback = sandbox.root / "callback.sh"
    callback.write_text(f"#!/bin/sh\nenv > {env_dump}\n")
    callback.chmod(0o755)
    cfg = sandbox.config("sd.cf", globals_=f'callback="{callback}"\n')
    sandbox.extra_env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}
    proc = sandbox.popen(*exec_start(cfg, sandbox.binary))
    ready = wait_for(fake, "READY")
    assert ready == {"READY": "1", "STATUS": "Checking 1 virtual services, 1 real servers"}
    assert not sandbox.pidfile("sd.cf").exists(), "foreground: no pid file, as under -d"
    time.sleep(1.2)
    assert sum(1 for m in fake.pending() if m == {"WATCHDOG": "1"}) >= 2, "pings every 0.5 s"

    # ExecReload, as systemd runs it: it waits for the daemon's verdict.
    reload = exec_start(cfg, sandbox.binary, "ExecReload")
    done = sandbox.call(*reload)
    assert done.rc == 0, done
    reloading = wait_for(fake, "RELOADING")
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    ready = wait_for(fake, "READY")
    assert ready["READY"] == "1"
    assert ready["STATUS"] == (
        "Checking 1 virtual services, 1 real servers; "
        "last reload (control socket) applied: virtuals +0 -0 ~0, reals +0 -0 ~0"
    )

    # A change on disk runs the callback, which must not inherit systemd's variables:
    # they were consumed, so commands the daemon runs cannot notify in its name.
    cfg.write_text(cfg.read_text() + "# touched\n")
    wait_until(env_dump.exists, "the callback ran")
    wait_until(lambda: "PATH=" in env_dump.read_text(), "the callback wrote its environment")
    assert "NOTIFY_SOCKET" not in env_dump.read_text()
    assert "WATCHDOG_USEC" not in env_dump.read_text()

    # A broken file: still READY (the old configuration runs), the STATUS says why.
    good = cfg.read_text()
    cfg.write_text(good + "\nbogus_directive=1\n")
    os.kill(proc.pid, signal.SIGHUP)
    wait_for(fake, "RELOADING")
    after = wait_for(fake, "READY")
    assert "configuration not reloaded" in after["STATUS"], after
    # ExecReload fails on it: here `ldirectord reload` refuses the file itself
    # (exit 2, the original's message); a reload that only the daemon refuses is
    # in tests/integration/test_foreground_control.py.
    done = sandbox.call(*reload)
    assert done.rc == 2 and "bogus_directive" in done.err, done
    cfg.write_text(good)

    proc.send_signal(signal.SIGTERM)
    assert wait_for(fake, "STOPPING") == {"STOPPING": "1", "STATUS": "Stopping on signal TERM"}
    assert proc.wait(timeout=20) == 0


STALLING_DIRECTOR = """
import os, sys, time
from ldirectord_py.cli import ldirectord as cli

class Stalling:
    def __init__(self, log=None):
        self.last = None
    async def start(self, config):
        pass
    async def reload(self, config):
        pass
    async def stop(self):
        pass
    def status(self):
        if not os.path.exists(os.environ["STALL_FILE"]):
            self.last = time.monotonic()
        return {"status": "running", "virtuals": [], "last_result_at": self.last}

sys.exit(cli.run("ldirectord", sys.argv[1:], director_factory=Stalling))
"""


def test_watchdog_goes_unfed_while_checks_stall(
    sandbox: Sandbox, notify_socket: tuple[str, FakeSystemd]
) -> None:
    address, fake = notify_socket
    # limit = max(3 x checkinterval, checkinterval + timeout, watchdog) = 3 s
    cfg = sandbox.config(
        "stall.cf", globals_="checktimeout=1\nnegotiatetimeout=1\n"
    )  # fmt: skip
    stall = sandbox.root / "stall"
    sandbox.extra_env = {
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "1000000",
        "STALL_FILE": str(stall),
        "PYTHONPATH": str(REPO),
    }
    proc = sandbox.popen(sys.executable, "-c", STALLING_DIRECTOR, "-d", cfg, "start")
    wait_for(fake, "READY")
    time.sleep(1.0)
    assert {"WATCHDOG": "1"} in fake.pending()

    stall.touch()
    stalled = wait_for(fake, "STATUS", timeout=10)
    assert stalled["STATUS"].startswith("Health checks stalled: no check has completed for")
    assert "(limit 3)" in stalled["STATUS"]
    time.sleep(1.5)
    assert {"WATCHDOG": "1"} not in fake.pending(), "no ping while stalled"

    stall.unlink()
    resumed = wait_for(fake, "STATUS", timeout=5)
    assert resumed["STATUS"].startswith("Checking 1 virtual services")
    time.sleep(1.0)
    assert {"WATCHDOG": "1"} in fake.pending()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    err = proc.stderr.read() if proc.stderr else ""
    assert "Not answering the systemd watchdog: no check has completed" in err
    assert "Answering the systemd watchdog again" in err


def test_ldirectordctl_reload_as_exec_reload_override(
    sandbox: Sandbox, notify_socket: tuple[str, FakeSystemd]
) -> None:
    """compat/README.md's alternative ExecReload: waits, and fails on a refused file."""
    address, fake = notify_socket
    cfg = sandbox.config("ctl.cf")
    sandbox.extra_env = {"NOTIFY_SOCKET": address}
    proc = sandbox.popen(*exec_start(cfg, sandbox.binary))
    wait_for(fake, "READY")
    ctl = Path(sys.executable).parent / "ldirectordctl"
    res = sandbox.call(ctl, "reload", "--config", cfg.name)
    assert res.rc == 0, res
    assert wait_for(fake, "RELOADING")["RELOADING"] == "1"
    assert wait_for(fake, "READY")["READY"] == "1"
    cfg.write_text(cfg.read_text() + "\nbogus_directive=1\n")
    res = sandbox.call(ctl, "reload", "--config", cfg.name)
    assert res.rc == 1 and "bogus_directive" in res.err, res
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
