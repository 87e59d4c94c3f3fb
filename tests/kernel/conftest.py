"""Fixtures for tests/kernel: tests against a real kernel ip_vs.

These tests run as root against a kernel that has ip_vs. The machines this
project is built on have none, so `make test-kernel` runs pytest through
scripts/ipvs-vm/run, which boots a throw-away QEMU guest with Debian's stock
kernel (or runs on the host directly where the host kernel has ip_vs). Run
anywhere else, every test here fails: it never skips.

- ``ip_vs_kernel`` (session, autouse): asserts the kernel has ip_vs and we are
  root; gives the version line of /proc/net/ip_vs.
- ``ipvsadm`` (session): an ``Ipvsadm`` helper that runs the system's ipvsadm.
- ``ipvs_table`` (per test): a flushed ip_vs table before and after the test,
  and the ``Ipvsadm`` helper to change and read it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

PROC_IP_VS = Path("/proc/net/ip_vs")
HOW_TO_RUN = "tests/kernel must run under scripts/ipvs-vm/run (make test-kernel)"


class Ipvsadm:
    """Runs the system's ipvsadm (Debian package ipvsadm) against the kernel table."""

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ipvsadm with ARGS; return the completed process, whatever its status."""
        return subprocess.run(
            [self.path, *args], capture_output=True, text=True, timeout=60, check=False
        )

    def __call__(self, *args: str) -> str:
        """Run ipvsadm with ARGS, fail the test unless it succeeds, return its stdout."""
        proc = self.run(*args)
        if proc.returncode != 0:
            pytest.fail(
                f"ipvsadm {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}",
                pytrace=False,
            )
        return proc.stdout

    def rules(self) -> list[str]:
        """The table as `ipvsadm -S -n` saves it: one line per service and per real."""
        return self("-S", "-n").splitlines()

    def flush(self) -> None:
        self("-C")


@pytest.fixture(scope="session", autouse=True)
def ip_vs_kernel() -> str:
    """Fail (never skip) unless this kernel has ip_vs and we may program it."""
    if not PROC_IP_VS.exists():
        pytest.fail(
            f"{HOW_TO_RUN}: this kernel ({os.uname().release}) has no ip_vs "
            f"({PROC_IP_VS} does not exist)",
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail(f"{HOW_TO_RUN}: programming ip_vs needs root", pytrace=False)
    return PROC_IP_VS.read_text().splitlines()[0]


@pytest.fixture(scope="session")
def ipvsadm(ip_vs_kernel: str) -> Ipvsadm:
    path = shutil.which("ipvsadm") or shutil.which("ipvsadm", path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail("ipvsadm is not installed: install ipvsadm (make deps)", pytrace=False)
    return Ipvsadm(path)


def proc_ip_vs_table() -> list[str]:
    """The services and reals in /proc/net/ip_vs (below its three header lines).

    Reading it costs nothing, where each process spawned in the guest costs a
    fraction of a second.
    """
    return PROC_IP_VS.read_text().splitlines()[3:]


@pytest.fixture
def ipvs_table(ipvsadm: Ipvsadm) -> Iterator[Ipvsadm]:
    """A fresh, flushed ip_vs table for one test; flushed again afterwards."""
    ipvsadm.flush()
    assert proc_ip_vs_table() == [], "ipvsadm -C left services in the table"
    yield ipvsadm
    if proc_ip_vs_table():
        ipvsadm.flush()
