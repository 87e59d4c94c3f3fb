"""checktype=connect: a TCP connect to the check port, closed at once.

Up: the three-way handshake completes within checktimeout. For a udp virtual the
original pings instead (see ping.py); the connect step of a combined check on a
udp virtual is a UDP socket connect(), which only fails on a local error (no
route), exactly as the original's.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

from ldirectord_py.checks import net, ping
from ldirectord_py.checks.descriptor import CheckDescriptor, checktimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    if spec.checkport is None or spec.checkport <= 0:
        raise CheckFailed("no check port", FailureKind.OTHER)
    family = socket.AF_INET6 if spec.family == 6 else socket.AF_INET
    kind = socket.SOCK_DGRAM if spec.protocol == "udp" else socket.SOCK_STREAM
    address = (spec.address, spec.checkport)
    # a bare non-blocking socket: no transport or stream objects for a check that
    # sends nothing (several times cheaper than asyncio.open_connection)
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK)
    try:
        if net.literal_family(spec.address) != family:
            # a name: resolved off the loop
            await asyncio.get_running_loop().sock_connect(sock, address)
        else:
            # connect(2) directly and wait for writability in the checks' own epoll
            # set: the cheapest path, as this runs thousands of times a second
            await net.connect_bare(sock, address, runtime.poller)
    finally:
        sock.close()
    return "udp socket connected" if kind == socket.SOCK_DGRAM else "connected"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="connect",
    check=check,
    deadline=checktimeout,
    fd_cost=1,
    slotted=True,
    checktypes=("connect",),
    udp=ping.DESCRIPTOR,
)
