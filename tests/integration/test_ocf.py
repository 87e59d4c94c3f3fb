"""The Pacemaker OCF agent from resource-agents, unchanged, driving the drop-in."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, alive, wait_until

pytestmark = pytest.mark.root

AGENT = Path("/usr/lib/ocf/resource.d/heartbeat/ldirectord")


def _require_agent() -> None:
    if not AGENT.is_file():
        pytest.fail(f"{AGENT} is missing: install the Debian package `resource-agents`")


def test_ocf_tester_passes(sandbox: Sandbox) -> None:
    _require_agent()
    for tool, package in (("ocf-tester", "resource-agents"), ("xmllint", "libxml2-utils")):
        # ocf-tester validates the agent's meta-data with xmllint (exit 127 without it).
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is missing: install the Debian package `{package}`")
    cfg = sandbox.config("ld1.cf")
    res = sandbox.call(
        "ocf-tester", "-v", "-n", "ld1",
        "-o", f"configfile={cfg}", "-o", f"ldirectord={sandbox.binary}",
        AGENT,
        timeout=90,
    )  # fmt: skip
    assert res.rc == 0, res.out + res.err
    assert f"{AGENT} passed all tests" in res.out
    # It ends with "stopping a stopped resource": nothing may be left running.
    assert not sandbox.pidfile("ld1.cf").exists()
    assert sandbox.ld(cfg, "status").rc == 3


def agent(sandbox: Sandbox, cfg: Path, action: str) -> int:
    env = {
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESOURCE_INSTANCE": "ld1",
        "OCF_RESKEY_configfile": str(cfg),
        "OCF_RESKEY_ldirectord": str(sandbox.binary),
    }
    assigns = [f"{k}={v}" for k, v in env.items()]
    return sandbox.call("env", *assigns, AGENT, action, timeout=30).rc


def test_ocf_stop_finds_the_daemon_by_its_command_line(sandbox: Sandbox) -> None:
    """With a broken config, status fails (exit 2) and the agent falls back to
    `pgrep -f "$LDIRECTORD $LDIRCONF start"`: our cmdline must match it."""
    _require_agent()
    cfg = sandbox.config("ld1.cf")
    assert agent(sandbox, cfg, "start") == 0
    pid = sandbox.read_pid("ld1.cf")
    assert agent(sandbox, cfg, "monitor") == 0
    cfg.write_text(cfg.read_text() + "\nbogus_directive=1\n")
    assert agent(sandbox, cfg, "monitor") == 1
    assert agent(sandbox, cfg, "stop") == 0
    wait_until(lambda: not alive(pid), "the agent killed the daemon")
    wait_until(lambda: not sandbox.pidfile("ld1.cf").exists(), "the daemon cleaned up (TERM)")


def test_ocf_monitor_maps_stale_pid_to_not_running(sandbox: Sandbox) -> None:
    _require_agent()
    cfg = sandbox.config("ld1.cf")
    proc = subprocess.Popen(["sleep", "30"])
    try:
        sandbox.pidfile("ld1.cf").write_text(f"{proc.pid}\n")
        assert agent(sandbox, cfg, "monitor") == 7
        assert agent(sandbox, cfg, "start") == 0
        assert agent(sandbox, cfg, "monitor") == 0
        assert agent(sandbox, cfg, "stop") == 0
        assert alive(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
