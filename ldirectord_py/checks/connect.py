"""checktype=connect: a TCP connect to the check port, closed at once.

Up: the three-way handshake completes within checktimeout. For a udp virtual the
original pings instead (see ping.py); the connect step of a combined check on a
udp virtual is a UDP socket connect(), which only fails on a local error (no
route), exactly as the original's.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket

from ldirectord_py.checks.result import CheckFailed
from ldirectord_py.checks.spec import CheckSpec

_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN)


@functools.lru_cache(maxsize=65536)
def _is_literal(address: str, family: int) -> bool:
    try:
        socket.inet_pton(family, address)
    except (OSError, ValueError):
        return False
    return True


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def check(spec: CheckSpec) -> str:
    if spec.checkport is None or spec.checkport <= 0:
        raise CheckFailed("no check port")
    family = socket.AF_INET6 if spec.family == 6 else socket.AF_INET
    kind = socket.SOCK_DGRAM if spec.protocol == "udp" else socket.SOCK_STREAM
    address = (spec.address, spec.checkport)
    # a bare non-blocking socket: no transport or stream objects for a check that
    # sends nothing (several times cheaper than asyncio.open_connection)
    with socket.socket(family, kind) as sock:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        if not _is_literal(spec.address, family):
            await loop.sock_connect(sock, address)  # a name: resolved off the loop
        else:
            # connect(2) directly and wait for writability ourselves: the cheapest
            # path through the loop, as this runs thousands of times a second
            err = sock.connect_ex(address)
            if err in _IN_PROGRESS:
                fut: asyncio.Future[None] = loop.create_future()
                fd = sock.fileno()
                loop.add_writer(fd, _wake, fut)
                try:
                    await fut
                finally:
                    loop.remove_writer(fd)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
    return "udp socket connected" if kind == socket.SOCK_DGRAM else "connected"
