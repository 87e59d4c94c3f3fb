"""Serving local clients (the control socket, the metrics port) within fixed bounds.

Whoever can connect must not be able to take the daemon's memory, file
descriptors, threads or event loop away from the health checks. So each
listener here:

* serves at most `max_clients` connections at a time, all on the event loop
  (no thread per connection), and all listeners together hold at most the
  clients' share of the file descriptors (`checks.fds.client_fd_allowance()`,
  so clients can never take the descriptors the checks need); further
  connections are not accepted and wait in the kernel's listen backlog,
  costing the daemon no descriptor and no memory;
* gives a client `idle_timeout` seconds to send its whole request, and reads at
  most `max_request` bytes of it;
* sends each client one reply, from the reply's own bytes (a document served to
  many clients is shared, never copied per client), and drops a client that
  takes more than `write_timeout` seconds to accept the next part of it.

The limits themselves are documented in docs/observability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from ldirectord_py.checks import fds

SEND_CHUNK = 256 * 1024
"""Bytes handed to the kernel per write; `write_timeout` applies to each."""
ACCEPT_RETRY = 0.1
"""Pause after accept() failed for want of descriptors, instead of spinning."""


@dataclass(frozen=True)
class ClientLimits:
    max_clients: int
    idle_timeout: float
    write_timeout: float
    max_request: int


class Outcome(Enum):
    COMPLETE = "complete"
    """The terminator arrived within the limits."""
    END = "end"
    """The client shut its side before sending the terminator."""
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Request:
    outcome: Outcome
    data: bytes
    """Up to and including the terminator (COMPLETE), or what arrived."""


async def receive(conn: socket.socket, limits: ClientLimits, terminator: bytes) -> Request:
    """Read one request: up to `terminator`, end of input, the size limit or the
    idle timeout, whichever comes first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.idle_timeout
    buffer = bytearray()
    searched = 0
    while True:
        found = buffer.find(terminator, max(0, searched - len(terminator) + 1))
        if found >= 0:
            end = found + len(terminator)
            if end > limits.max_request:
                return Request(Outcome.TOO_LARGE, b"")
            return Request(Outcome.COMPLETE, bytes(buffer[:end]))
        if len(buffer) > limits.max_request:
            return Request(Outcome.TOO_LARGE, b"")
        searched = len(buffer)
        remaining = deadline - loop.time()
        if remaining <= 0:
            return Request(Outcome.TIMEOUT, bytes(buffer))
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(conn, 65536), remaining)
        except TimeoutError:
            return Request(Outcome.TIMEOUT, bytes(buffer))
        if not chunk:
            return Request(Outcome.END, bytes(buffer))
        buffer += chunk


async def send(conn: socket.socket, data: bytes, limits: ClientLimits) -> None:
    """Send `data` without copying it; raises TimeoutError (or OSError) when the
    client stops reading."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    for start in range(0, len(view), SEND_CHUNK):
        await asyncio.wait_for(
            loop.sock_sendall(conn, view[start : start + SEND_CHUNK]), limits.write_timeout
        )


class ClientDescriptors:
    """The descriptors every listener's clients hold, together, kept within an
    allowance (by default the clients' share of RLIMIT_NOFILE, read at each
    accept so that a raised limit counts at once)."""

    def __init__(self, allowance: Callable[[], int] | None = None) -> None:
        self._allowance = allowance
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def allowance(self) -> int:
        return self._allowance() if self._allowance is not None else fds.client_fd_allowance()

    def try_take(self) -> bool:
        if self.in_use < self.allowance and not any(not w.done() for w in self._waiters):
            self.in_use += 1
            return True
        return False

    async def take(self) -> None:
        """One descriptor, waiting (first come, first served) until one is free."""
        if self.try_take():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give_back()  # handed over just as we were cancelled
            else:
                self._wake()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(future)

    def give_back(self) -> None:
        self.in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_use < self.allowance:
            future = self._waiters.popleft()
            if future.done() or future.get_loop().is_closed():
                continue
            self.in_use += 1
            future.set_result(None)


CLIENT_DESCRIPTORS = ClientDescriptors()
"""Shared by the control socket and the metrics port (one process, one limit)."""

Serve = Callable[[socket.socket], Awaitable[None]]


class BoundedListener:
    """An accept loop that never holds more than `limits.max_clients` clients, nor
    more descriptors than `descriptors` has left for all listeners' clients."""

    def __init__(
        self,
        sock: socket.socket,
        limits: ClientLimits,
        serve: Serve,
        descriptors: ClientDescriptors = CLIENT_DESCRIPTORS,
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.limits = limits
        self.descriptors = descriptors
        self._serve = serve
        self._slots = asyncio.Semaphore(limits.max_clients)
        self._accepting: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        """Connections being served now."""
        return len(self._clients)

    def start(self) -> None:
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop())

    def abort(self) -> None:
        """Stop at once, from code that cannot wait (clients are cancelled)."""
        for task in (self._accepting, *self._clients):
            if task is not None:
                task.cancel()
        self._accepting = None
        self.sock.close()

    async def close(self) -> None:
        tasks = [t for t in (self._accepting, *self._clients) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._accepting = None
        self.sock.close()

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                await self.descriptors.take()
            except BaseException:
                self._slots.release()
                raise
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:
                self._give_back()
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    await asyncio.sleep(ACCEPT_RETRY)
                continue
            except BaseException:
                self._give_back()
                raise
            conn.setblocking(False)
            task = loop.create_task(self._client(conn))
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)

    async def _client(self, conn: socket.socket) -> None:
        try:
            await self._serve(conn)
        except (OSError, TimeoutError):
            pass  # the client went away or stopped reading: nothing to tell it
        finally:
            conn.close()
            self._give_back()

    def _give_back(self) -> None:
        self.descriptors.give_back()
        self._slots.release()
