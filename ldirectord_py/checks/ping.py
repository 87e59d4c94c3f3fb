"""checktype=ping (and connect on a udp virtual): ICMP / ICMPv6 echo.

Up: an echo reply from the real's address within checktimeout, in up to
`checkcount` attempts (one echo request each, as Net::Ping's icmp mode). The
whole check therefore takes at most checkcount x checktimeout.

One raw socket per address family and event loop is shared by every ping
(replies are told apart by identifier, sequence number and a random token in the
payload), so ten thousand pings cost two file descriptors, not ten thousand. If
raw sockets are not allowed, the kernel's unprivileged ICMP datagram socket is
used instead (net.ipv4.ping_group_range must include the process's group).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import socket
import struct
from typing import TYPE_CHECKING

from ldirectord_py.checks.descriptor import CheckDescriptor, attempts
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
ICMP6_FILTER = 1
ICMP_FILTER = 1
SOL_RAW = 255
SO_RCVBUFFORCE = 33
RCVBUF = 4 * 1024 * 1024


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


class Pinger:
    """Echo requests over one socket of one family, replies dispatched to waiters."""

    def __init__(self, family: int, loop: asyncio.AbstractEventLoop) -> None:
        self.family = family
        self.loop = loop
        proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
        try:
            self.sock = socket.socket(family, socket.SOCK_RAW, proto)
            self.raw = True
        except PermissionError:
            self.sock = socket.socket(family, socket.SOCK_DGRAM, proto)
            self.raw = False
        self.sock.setblocking(False)
        # a burst of replies (check_now over thousands of reals) must not overflow
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
                break
            except OSError:
                continue
        if family == socket.AF_INET and self.raw:
            # let only echo replies through (Linux ICMP_FILTER: a set bit drops a type)
            mask = ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF
            with contextlib.suppress(OSError):
                self.sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", mask))
        if family == socket.AF_INET6 and self.raw:
            # pass only echo replies to this socket (a set bit blocks a type)
            words = [0xFFFFFFFF] * 8
            words[ICMP6_ECHO_REPLY >> 5] &= ~(1 << (ICMP6_ECHO_REPLY & 31))
            self.sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *words))
        self.ident = os.getpid() & 0xFFFF
        self.seq = itertools.count(1)
        self.waiters: dict[tuple[int, bytes], tuple[str, asyncio.Future[None]]] = {}
        loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._dispatch(data, addr[0])

    def _dispatch(self, data: bytes, source: str) -> None:
        if self.family == socket.AF_INET and self.raw:
            if len(data) < 20:
                return
            data = data[(data[0] & 0x0F) * 4 :]
        if len(data) < 16:
            return
        kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", data[:8])
        want = ICMP6_ECHO_REPLY if self.family == socket.AF_INET6 else ICMP_ECHO_REPLY
        if kind != want or (self.raw and ident != self.ident):
            return
        key = (seq, data[8:16])
        entry = self.waiters.get(key)
        if entry is None:
            return
        address, fut = entry
        if _same_address(self.family, address, source) and not fut.done():
            fut.set_result(None)

    async def ping(self, address: str, timeout: float) -> None:
        """One echo; returns on the reply, raises TimeoutError after `timeout`."""
        seq = next(self.seq) & 0xFFFF
        token = os.urandom(8)
        payload = token + b"ldirectord-py".ljust(48, b".")
        kind = ICMP6_ECHO_REQUEST if self.family == socket.AF_INET6 else ICMP_ECHO_REQUEST
        header = struct.pack("!BBHHH", kind, 0, 0, self.ident, seq)
        packet = header + payload
        if self.family == socket.AF_INET:  # the kernel sums ICMPv6 itself
            packet = struct.pack("!BBHHH", kind, 0, _checksum(packet), self.ident, seq) + payload
        fut: asyncio.Future[None] = self.loop.create_future()
        key = (seq, token)
        self.waiters[key] = (address, fut)
        try:
            await self.loop.sock_sendto(self.sock, packet, (address, 0))
            async with asyncio.timeout(timeout):
                await fut
        finally:
            self.waiters.pop(key, None)


def _same_address(family: int, want: str, got: str) -> bool:
    if want == got:
        return True
    try:
        return socket.inet_pton(family, want) == socket.inet_pton(family, got.split("%")[0])
    except OSError:
        return False


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    family = socket.AF_INET6 if spec.family == 6 else socket.AF_INET
    p = runtime.pinger(family)
    tries = max(1, spec.checkcount)
    for attempt in range(1, tries + 1):
        try:
            await p.ping(spec.address, spec.checktimeout)
        except TimeoutError:
            continue
        except OSError as e:
            kind = FailureKind.UNREACHABLE if e.errno in _UNREACHABLE else FailureKind.OTHER
            raise CheckFailed(f"ping failed: {e.strerror or e}", kind) from e
        return "echo reply" if attempt == 1 else f"echo reply (attempt {attempt})"
    raise CheckFailed(
        f"no echo reply ({tries} x {_secs(spec.checktimeout)})", FailureKind.NO_ANSWER
    )


_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH})


def _secs(value: float) -> str:
    return f"{value:g}s"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="ping",
    check=check,
    deadline=attempts,
    fd_cost=0,  # one shared socket per family (the runtime's)
    slotted=False,
    checktypes=("ping",),
)
