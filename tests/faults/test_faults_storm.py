"""A reload storm: 100 SIGHUPs within one second, twice.

Invariant: no resource grows with reloads: after the second storm the daemon
holds as many file descriptors as after the first, its memory has not grown by
more than a little, and it still answers and stops.
"""

from __future__ import annotations

import os
import signal
import time

from tests.integration.conftest import Sandbox, alive, wait_until


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def storm(sandbox: Sandbox, pid: int) -> None:
    before = sandbox.log_text().count("Reloading Linux Director Daemon config on signal")
    started = time.monotonic()
    for _ in range(100):
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.009)
    assert time.monotonic() - started < 1.5
    wait_until(
        lambda: (
            sandbox.log_text().count("Reloading Linux Director Daemon config on signal") > before
        ),
        "the storm is taken",
    )
    time.sleep(2.0)  # let the coalesced reloads finish


def test_faults_a_reload_storm_grows_neither_fds_nor_memory(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    pid = sandbox.start(cfg)
    time.sleep(1.0)
    storm(sandbox, pid)  # warm-up: caches, lazily imported modules
    fds_after_first, rss_after_first = fds(pid), rss_kib(pid)
    storm(sandbox, pid)
    storm(sandbox, pid)
    assert alive(pid)
    print(
        f"reload storm: fds {fds_after_first} -> {fds(pid)}, "
        f"RSS {rss_after_first} -> {rss_kib(pid)} KiB after 200 more SIGHUPs"
    )
    assert fds(pid) == fds_after_first
    grown = rss_kib(pid) - rss_after_first
    assert grown < 2048, f"RSS grew by {grown} KiB over 200 SIGHUPs"
    res = sandbox.ld(cfg, "stop")
    assert res.rc == 0
    assert not alive(pid)
