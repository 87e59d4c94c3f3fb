"""compat/heartbeat/ldirectord driven the way Heartbeat v1's ResourceManager
drives /etc/ha.d/resource.d/ldirectord for `ldirectord::CFG` in haresources
(reference spec 6.2): `ldirectord CFG start|stop|status`, the status judged on
standard output only with ResourceManager's own patterns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Sandbox, alive, wait_until

pytestmark = pytest.mark.root

WRAPPER = REPO / "compat" / "heartbeat" / "ldirectord"

# ResourceManager's we_own_resource: stdout only, exit status ignored.
OWNED = """
case "$1" in
  *[Nn][Oo][Tt]\\ *[Rr]unning*) echo no ;;
  *[Rr]unning*|*OK*) echo yes ;;
  *) echo no ;;
esac
"""


def owned(stdout: str) -> bool:
    res = subprocess.run(
        ["/bin/sh", "-c", OWNED, "sh", stdout], capture_output=True, text=True, check=True
    )
    return res.stdout.strip() == "yes"


def resource(sandbox: Sandbox, *args: str | Path) -> tuple[int, str, str]:
    sandbox.extra_env = {"LDIRECTORD": str(sandbox.binary)}
    res = sandbox.call(WRAPPER, *args, timeout=60)
    return res.rc, res.out, res.err


def test_haresources_start_status_stop(sandbox: Sandbox) -> None:
    # haresources `node1 IPaddr::... ldirectord::ha.cf`: a bare name, found in /etc/ha.d.
    cfg = sandbox.config("ha.cf", directory=sandbox.ha)
    rc, out, _ = resource(sandbox, "ha.cf", "status")
    assert rc == 3 and not owned(out)
    assert out == "ldirectord is stopped for /etc/ha.d/ha.cf\n"

    rc, out, err = resource(sandbox, "ha.cf", "start")
    assert (rc, out, err) == (0, "", "")
    pid = sandbox.read_pid("ha.cf")
    assert alive(pid)
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        cmdline = fh.read().replace(b"\0", b" ").decode()
    assert f"{sandbox.binary} ha.cf start" in cmdline, "exec'd: the command line is kept"

    rc, out, err = resource(sandbox, "ha.cf", "status")
    # As with the Perl original: "running" goes to stderr, so Heartbeat v1 does not
    # see the resource as owned (and calls start, which is harmless when running).
    assert rc == 0 and out == "" and "is running with pid" in err
    assert not owned(out)
    assert resource(sandbox, "ha.cf", "start")[0] == 0
    assert sandbox.read_pid("ha.cf") == pid

    rc, out, _ = resource(sandbox, "ha.cf", "stop")
    assert rc == 0, "a non-zero stop makes Heartbeat retry"
    wait_until(lambda: not alive(pid) and not sandbox.pidfile("ha.cf").exists(), "stopped")
    assert resource(sandbox, "ha.cf", "stop")[0] == 0
    assert cfg.exists()


def test_wrapper_fails_loudly_for_a_wrong_program_path(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LDIRECTORD": str(tmp_path / "none")}
    res = subprocess.run(
        [str(WRAPPER), "x.cf", "status"], env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 127 and "none" in res.stderr
