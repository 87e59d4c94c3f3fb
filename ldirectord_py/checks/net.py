"""Small, careful stream helpers shared by the banner-exchange checks.

Every read is capped: lines at LINE_LIMIT bytes, bodies and files at BODY_LIMIT.
Connections are always torn down with abort(), so a check never leaves a socket
behind waiting for a peer that does not answer (the deadline stays hard).

Every read is also paced: a reader whose data is already buffered (in the kernel
or in user space) returns without waiting, so a backend that sends fast enough
(a body of 1-byte chunks, a megabyte of headers) would keep one check running
on the loop while every other check waits. Both readers here (BareStream and the
StreamReader that `stream()` makes) therefore yield to the loop once they have
handed out PACE_CREDIT worth of bytes and calls (each call counts PACE_CALL_COST
bytes) without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import select
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Protocol

from ldirectord_py.checks.result import CheckFailed, FailureKind

LINE_LIMIT = 64 * 1024
BODY_LIMIT = 1024 * 1024
# Pacing: yield to the loop after 4 KiB, or 64 small reads, handed out without
# waiting. A healthy reply (a few hundred bytes, a dozen lines) never yields.
PACE_CREDIT = 4 * 1024
PACE_CALL_COST = 64


class Reader(Protocol):
    """What the readers below read from: asyncio.StreamReader or BareStream."""

    async def readline(self) -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...
    async def read(self, n: int) -> bytes: ...


@functools.lru_cache(maxsize=1)
def insecure_tls() -> ssl.SSLContext:
    """TLS without certificate or hostname verification, as the original's checks
    (IP-addressed backends rarely have certificates for their addresses)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def sni_name(name: str | None) -> str | None:
    """A name fit for SNI: hostnames only, never IP literals (as IO::Socket::SSL)."""
    if not name:
        return None
    host = name.strip("[]")
    if ":" in host or host.replace(".", "").isdigit():
        return None
    return host


class PacedStreamReader(asyncio.StreamReader):
    """asyncio.StreamReader that yields to the loop every PACE_CREDIT of reads
    served from its buffer (the stock one only yields when its buffer is empty)."""

    _spent = 0

    async def _pace(self, size: int) -> None:
        self._spent += size + PACE_CALL_COST
        if self._spent >= PACE_CREDIT:
            self._spent = 0
            await asyncio.sleep(0)

    async def readline(self) -> bytes:
        data = await super().readline()
        await self._pace(len(data))
        return data

    async def readexactly(self, n: int) -> bytes:
        data = await super().readexactly(n)
        await self._pace(len(data))
        return data

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        await self._pace(len(data))
        return data


async def _open_paced(
    host: str, port: int, ssl_context: ssl.SSLContext | None, server_hostname: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio.open_connection with a PacedStreamReader."""
    loop = asyncio.get_running_loop()
    reader = PacedStreamReader(limit=LINE_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(
        lambda: protocol, host, port, ssl=ssl_context, server_hostname=server_hostname
    )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


@contextlib.asynccontextmanager
async def stream(
    host: str,
    port: int | None,
    *,
    tls: bool = False,
    server_hostname: str | None = None,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A TCP (optionally TLS) connection that is always aborted on exit."""
    if port is None or port <= 0:
        raise CheckFailed("no check port", FailureKind.OTHER)
    reader, writer = await _open_paced(
        host,
        port,
        insecure_tls() if tls else None,
        (sni_name(server_hostname) or "") if tls else None,
    )
    try:
        yield reader, writer
    finally:
        writer.transport.abort()


async def start_tls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server_hostname: str | None
) -> None:
    """Upgrade an open stream to TLS in place (STARTTLS-style)."""
    await writer.start_tls(insecure_tls(), server_hostname=sni_name(server_hostname) or "")


async def readline(reader: Reader, what: str = "reply") -> bytes:
    """One line (with its terminator); EOF before any byte is a failure."""
    try:
        line = await reader.readline()
    except (asyncio.LimitOverrunError, ValueError) as e:
        raise CheckFailed(f"{what} line too long", FailureKind.MALFORMED) from e
    if not line:
        raise CheckFailed(f"connection closed before {what}", FailureKind.CLOSED)
    return line


async def read_capped(reader: Reader, limit: int = BODY_LIMIT) -> tuple[bytes, bool]:
    """Read to EOF or `limit` bytes; returns (data, truncated)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await reader.read(min(65536, limit - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), True


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


class Datagram:
    """A connected UDP socket driven by the event loop; always closed on exit."""

    def __init__(self, family: int) -> None:
        self.sock = socket.socket(
            socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_DGRAM
        )
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()

    async def __aenter__(self) -> Datagram:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sock.close()

    async def connect(self, host: str, port: int | None) -> None:
        if port is None or port <= 0:
            raise CheckFailed("no check port", FailureKind.OTHER)
        await self.loop.sock_connect(self.sock, (host, port))

    def local(self) -> tuple[str, int]:
        addr = self.sock.getsockname()
        return str(addr[0]), int(addr[1])

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def recv(self) -> bytes:
        return await self.loop.sock_recv(self.sock, 65535)


# ---------------------------------------------------------------- bare sockets
#
# The hot checks (connect, plain http) run thousands of times a second. They use
# bare non-blocking sockets watched by a private epoll set, which the event loop
# watches as one descriptor: a readiness wait costs one epoll_ctl and one future,
# with no per-socket selector key, handle or transport, and a socket leaves the set
# by itself when it is closed. Every wait is an ordinary future, so cancellation
# (the check's deadline) works as everywhere else; the caller closes the socket.

IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN)
_ONESHOT = select.EPOLLONESHOT
READ = select.EPOLLIN | select.EPOLLRDHUP
WRITE = select.EPOLLOUT
_BATCH = 1024


@functools.lru_cache(maxsize=65536)
def literal_family(address: str) -> int | None:
    """AF_INET or AF_INET6 for an IP literal, None for anything else (a name)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        return family
    return None


class Poller:
    """One epoll set per event loop for the bare sockets of checks (one-shot
    registrations: each wait arms the descriptor once)."""

    __slots__ = ("_ep", "_waiters", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ep = select.epoll()
        self._waiters: dict[int, asyncio.Future[int]] = {}
        loop.add_reader(self._ep.fileno(), self._dispatch)

    def _dispatch(self) -> None:
        waiters = self._waiters
        while True:
            events = self._ep.poll(0, _BATCH)
            for fd, mask in events:
                fut = waiters.pop(fd, None)
                if fut is not None and not fut.done():
                    fut.set_result(mask)
            if len(events) < _BATCH:
                return

    async def wait(self, fd: int, mask: int, armed: bool) -> int:
        """Wait until `fd` is ready for `mask`; `armed`: the descriptor has been
        waited on before (it is in the set, disarmed). Returns the events."""
        if armed:
            self._ep.modify(fd, mask | _ONESHOT)
        else:
            self._ep.register(fd, mask | _ONESHOT)
        fut: asyncio.Future[int] = self.loop.create_future()
        self._waiters[fd] = fut
        try:
            return await fut
        except BaseException:
            if self._waiters.get(fd) is fut:
                del self._waiters[fd]
            raise

    def fileno(self) -> int:
        return self._ep.fileno()

    def close(self) -> None:
        self._ep.close()


async def connect_bare(sock: socket.socket, address: tuple[str, int], poll: Poller) -> None:
    """connect(2) a non-blocking socket to an IP literal; raises OSError on failure."""
    err = sock.connect_ex(address)
    if err in IN_PROGRESS:
        await poll.wait(sock.fileno(), WRITE, False)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))


class BareStream:
    """A TCP connection on a bare socket with the reading methods of
    asyncio.StreamReader that the checks use (readline, readexactly, read), the
    same limits and exceptions. The socket is closed by `close()` (always call it).
    Paced like PacedStreamReader: `spent` counts what was handed out since the
    last wait; the async readers yield when it reaches PACE_CREDIT and
    readline_nowait then answers None (so its caller takes the async path)."""

    __slots__ = ("armed", "buf", "eof", "fd", "limit", "poll", "sock", "spent")

    def __init__(self, family: int, poll: Poller, limit: int = LINE_LIMIT) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        self.fd = self.sock.fileno()
        self.poll = poll
        self.buf = bytearray()
        self.eof = False
        self.armed = False
        self.limit = limit
        self.spent = 0

    def close(self) -> None:
        self.sock.close()

    async def _pace(self, size: int) -> None:
        self.spent += size + PACE_CALL_COST
        if self.spent >= PACE_CREDIT:
            self.spent = 0
            await asyncio.sleep(0)

    async def connect(self, address: tuple[str, int]) -> None:
        err = self.sock.connect_ex(address)
        if err in IN_PROGRESS:
            await self._wait(WRITE)
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))

    async def _wait(self, mask: int) -> None:
        await self.poll.wait(self.fd, mask, self.armed)
        self.armed = True
        self.spent = 0  # waited: the loop ran meanwhile

    async def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                await self._wait(WRITE)
                continue
            view = view[sent:]
        # the reply takes a round trip: wait for it instead of trying recv first
        await self._wait(READ)

    async def _fill(self) -> None:
        """At least one more byte in the buffer, or eof set (a recv that finds
        data waiting does not yield: the pacing does)."""
        if self.spent >= PACE_CREDIT:
            self.spent = 0
            await asyncio.sleep(0)
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                await self._wait(READ)
                continue
            if data:
                self.buf += data
                self.spent += len(data)
            else:
                self.eof = True
            return

    def readline_nowait(self) -> bytes | None:
        """A whole line already buffered (within the limit), else None."""
        if self.spent >= PACE_CREDIT:
            return None
        buf = self.buf
        i = buf.find(b"\n")
        if i < 0 or i > self.limit:
            return None
        line = bytes(buf[: i + 1])
        del buf[: i + 1]
        self.spent += i + 1 + PACE_CALL_COST
        return line

    async def readline(self) -> bytes:
        start = 0
        while True:
            buf = self.buf
            i = buf.find(b"\n", start)
            if i >= 0:
                if i > self.limit:
                    del buf[: i + 1]
                    raise ValueError("Separator is found, but chunk is longer than limit")
                line = bytes(buf[: i + 1])
                del buf[: i + 1]
                await self._pace(len(line))
                return line
            if len(buf) > self.limit:
                buf.clear()
                raise ValueError("Separator is not found, and chunk exceed the limit")
            if self.eof:
                line = bytes(buf)
                buf.clear()
                return line
            start = len(buf)
            await self._fill()

    async def readexactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                partial = bytes(self.buf)
                self.buf.clear()
                raise asyncio.IncompleteReadError(partial, n)
            await self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        await self._pace(n)
        return data

    async def read(self, n: int) -> bytes:
        """Up to n (> 0) bytes; b"" at end of file."""
        if not self.buf and not self.eof:
            await self._fill()
        if n >= len(self.buf):
            data = bytes(self.buf)
            self.buf.clear()
        else:
            data = bytes(self.buf[:n])
            del self.buf[:n]
        await self._pace(len(data))
        return data
