"""Step the calling thread into a network namespace, without a new process.

In the emulated guest every process start costs a good part of a second, so the
lab writes sysctls, reads /proc/net/ip_vs, probes sockets and starts `ip -batch`
from inside a namespace through setns(2) on its own thread: files under
/proc/sys/net and /proc/net, sockets, and child processes all belong to the
namespace the thread is in at that moment. Only the calling thread moves; it is
always moved back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """The calling thread in namespace `netns` (made by `ip netns add`) for the block."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / netns, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def write_sysctls(netns: str, settings: dict[str, str]) -> None:
    """`sysctl -w` for a namespace: {"net.ipv4.ip_forward": "1", ...}."""
    with inside(netns):
        for key, value in settings.items():
            Path("/proc/sys", *key.split(".")).write_text(value)
