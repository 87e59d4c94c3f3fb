"""Finding 5: files in /run.

Invariant: no write through a planted link, nothing left behind on failure, and
a /run that is full at start is a failed start (exit 1), never rc=0.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ldirectord_py.daemon.drains import DrainStore
from ldirectord_py.daemon.pidfile import PidFile
from ldirectord_py.daemon.planned_maintenance import MaintenanceStore
from ldirectord_py.engine.drain import DrainKey
from tests.integration.conftest import Sandbox


def test_faults_finding5_the_pid_file_never_follows_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    pidfile = PidFile("t.cf", str(tmp_path))
    (tmp_path / ".ldirectord.t.cf.pid.4242.tmp").symlink_to(victim)
    pidfile.write(4242)
    assert victim.read_text() == "precious\n"
    assert pidfile.read().pid == 4242 or Path(pidfile.path).read_text() == "4242\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ldirectord.t.cf.pid", "victim"]


def test_faults_finding5_the_drain_file_never_follows_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "ldirectord.t.cf.drained"
    (tmp_path / "ldirectord.t.cf.drained.tmp").symlink_to(victim)
    store = DrainStore(str(path))
    assert store.drain(DrainKey.parse("10.0.0.1:80"))
    assert victim.read_text() == "precious\n"
    assert DrainStore(str(path)).keys == {DrainKey.parse("10.0.0.1:80")}


def test_faults_finding5_the_site_maintenance_file_never_follows_a_planted_link(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "ldirectord.t.cf.maintenance"
    (tmp_path / "ldirectord.t.cf.maintenance.tmp").symlink_to(victim)
    MaintenanceStore(str(path)).save({"198.51.100.10/32": 1.0})
    assert victim.read_text() == "precious\n"
    assert MaintenanceStore(str(path)).vips == {"198.51.100.10/32": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, "victim"]


@contextlib.contextmanager
def tiny_tmpfs(where: Path, options: str) -> Iterator[Path]:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill_inodes(where: Path) -> None:
    for n in range(100_000):
        try:
            (where / f"fill{n}").touch()
        except OSError:
            return
    pytest.fail("the tmpfs did not run out of inodes")


def _fill_blocks(where: Path) -> None:
    with open(where / "fill", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()


@pytest.mark.parametrize("full", ["inodes", "blocks"])
def test_faults_finding5_a_full_run_is_a_failed_start(sandbox: Sandbox, full: str) -> None:
    cfg = sandbox.config()
    with tiny_tmpfs(sandbox.run, "size=256k,nr_inodes=64"):
        # the lock file exists (an earlier run left it): only the pid file is new
        (sandbox.run / "ldirectord.t.cf.lock").touch()
        if full == "inodes":
            _fill_inodes(sandbox.run)
        else:
            _fill_blocks(sandbox.run)
        before = set(os.listdir(sandbox.run)) | {"mount"}  # mount(8)'s utab, if it fits
        res = sandbox.ld(cfg, "start")
        assert res.rc == 1, res
        assert res.err == "Can not open /var/run/ldirectord.t.cf.pid\n"
        assert set(os.listdir(sandbox.run)) <= before, "a temporary file was left behind"
        assert sandbox.marked_pids() == [], "no daemon is left behind"
        log = sandbox.log_text()
        assert log.count("Exiting with exit_status 1: Initialisation Error") == 1
