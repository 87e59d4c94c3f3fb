"""The daemon's status, as JSON on a Unix socket only root can use.

The socket sits next to the pid file: `/var/run/ldirectord.<CFGNAME>.sock`
(mode 0600). A client connects, shuts its sending side (or sends a command
line, below) and reads one JSON document; the daemon closes the connection.
`ldirectordctl list --health` reads it to show each real's check state next to
the kernel's table.

The same socket takes commands (`ldirectordctl drain`, `check-now`, `reload`):
the client sends one JSON line `{"command": NAME, "args": {...}}` and reads one
JSON reply. A client that sends nothing (and shuts its side) gets the status.
Anything else -- a line that is not such an object, nested too deep, longer than
`LIMITS.max_request`, or no complete line within `LIMITS.idle_timeout` -- gets
`{"ok": false, "error": ...}` saying what was wrong, never the status instead.

Clients are served within `LIMITS` (see `ldirectord_py.observe.clients`), so
idle or stuck clients cannot hold up the health checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from ldirectord_py.observe.clients import BoundedListener, ClientLimits, Outcome, receive, send

Snapshot = Callable[[], dict[str, Any]]
Document = Callable[[], Awaitable[bytes]]
"""The status document, already encoded (one line of JSON)."""
CommandHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
CLIENT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 2.0
"""How long the daemon waits for a client's request line before giving up on it."""
LIMITS = ClientLimits(
    max_clients=32,
    idle_timeout=REQUEST_TIMEOUT,
    write_timeout=5.0,
    max_request=64 * 1024,
)
LISTEN_BACKLOG = 64
BAD_REQUEST = 'bad request: expected {"command": NAME, "args": {}}'


def error_reply(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}).encode() + b"\n"


class StatusServer:
    def __init__(
        self,
        path: str,
        snapshot: Snapshot,
        handler: CommandHandler | None = None,
        document: Document | None = None,
        limits: ClientLimits = LIMITS,
    ) -> None:
        self.path = path
        self.snapshot = snapshot
        self.handler = handler
        self.document = document
        self.limits = limits
        self._listener: BoundedListener | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # created 0600: the status names every real
        try:
            sock.bind(self.path)
            sock.listen(LISTEN_BACKLOG)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
        self._listener = BoundedListener(sock, self.limits, self._serve)
        self._listener.start()

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, conn: socket.socket) -> None:
        request = await receive(conn, self.limits, b"\n")
        if request.outcome is Outcome.TOO_LARGE:
            reply = error_reply(f"bad request: longer than {self.limits.max_request} bytes")
        elif request.outcome is Outcome.TIMEOUT:
            reply = error_reply(
                f"bad request: no complete line within {self.limits.idle_timeout:g} s "
                "(send a command line, or shut the sending side for the status)"
            )
        else:
            reply = await self._answer(request.data)
        await send(conn, reply, self.limits)

    async def _answer(self, line: bytes) -> bytes:
        if not line.strip():
            return await self._status()
        try:
            request = json.loads(line)
        except RecursionError:
            return error_reply("bad request: JSON nested too deep")
        except ValueError:  # not UTF-8 or not JSON
            return error_reply(BAD_REQUEST)
        if not isinstance(request, dict):
            return error_reply(BAD_REQUEST)
        command = request.get("command")
        args = request.get("args") or {}
        if not isinstance(command, str) or not isinstance(args, dict):
            return error_reply(BAD_REQUEST)
        if command == "status":
            return await self._status()
        if self.handler is None:
            return error_reply(f"unknown command {command!r}")
        try:
            reply = await self.handler(command, args)
            return json.dumps(reply, default=str).encode() + b"\n"
        except Exception as exc:  # a command must never take the daemon down
            return error_reply(f"{command} failed: {exc}")

    async def _status(self) -> bytes:
        try:
            if self.document is not None:
                return await self.document()
            return json.dumps(self.snapshot(), default=str).encode() + b"\n"
        except Exception as exc:
            return error_reply(f"status failed: {type(exc).__name__}: {exc}")


def read_status(path: str, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """One status document from a daemon's socket (raises OSError or ValueError)."""
    return _exchange(path, b"", timeout)


def send_command(
    path: str, command: str, args: dict[str, Any] | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Send one command to a daemon and return its reply (raises OSError, ValueError)."""
    request = json.dumps({"command": command, "args": args or {}}).encode() + b"\n"
    return _exchange(path, request, timeout)


def _exchange(path: str, request: bytes, timeout: float) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        if request:
            sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = json.loads(b"".join(chunks))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a status document")
    return data
