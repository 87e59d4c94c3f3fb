"""The daemon's status, as JSON on a Unix socket only root can use.

The socket sits next to the pid file: `/var/run/ldirectord.<CFGNAME>.sock`
(mode 0600). A client connects, shuts its sending side (or sends a command
line, below) and reads one JSON document; the daemon closes the connection.
`ldirectordctl list --health` reads it to show each real's check state next to
the kernel's table.

The same socket takes commands (`ldirectordctl drain`, `check-now`, `reload`):
the client sends one JSON line `{"command": NAME, "args": {...}}` and reads one
JSON reply. A client that sends nothing (and shuts its side) gets the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from ldirectord_py.daemon.pidfile import RUN_DIR

Snapshot = Callable[[], dict[str, Any]]
CommandHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
CLIENT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 2.0
"""How long the daemon waits for a client's request line before giving up on it."""


def socket_path(cfgname: str, run_dir: str | None = None) -> str:
    return os.path.join(RUN_DIR if run_dir is None else run_dir, f"ldirectord.{cfgname}.sock")


class StatusServer:
    def __init__(
        self, path: str, snapshot: Snapshot, handler: CommandHandler | None = None
    ) -> None:
        self.path = path
        self.snapshot = snapshot
        self.handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old = os.umask(0o177)  # created 0600: the status names every real
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path)
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
            except (TimeoutError, ValueError):
                line = b""
            reply = await self._answer(line)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (OSError, ValueError, TypeError):
            pass
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        if not line.strip():
            return self.snapshot()
        try:
            request = json.loads(line)
            command = request["command"]
            args = request.get("args") or {}
            if not isinstance(command, str) or not isinstance(args, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": 'bad request: expected {"command": NAME, "args": {}}'}
        if command == "status":
            return self.snapshot()
        if self.handler is None:
            return {"ok": False, "error": f"unknown command {command!r}"}
        try:
            return await self.handler(command, args)
        except Exception as exc:  # a command must never take the daemon down
            return {"ok": False, "error": f"{command} failed: {exc}"}


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


def all_status_sockets(run_dir: str | None = None) -> list[str]:
    run_dir = RUN_DIR if run_dir is None else run_dir
    return sorted(glob.glob(os.path.join(run_dir, "ldirectord.*.sock")))


class NoDaemon(Exception):
    """No running daemon answers where the caller asked (the message says where)."""


def daemon_statuses(
    config: str | None, run_dir: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(socket path, status) of the daemon for `config` (a name or a path, as the
    pid file's name is derived from it), or of every running daemon."""
    run_dir = RUN_DIR if run_dir is None else run_dir
    if config is not None:
        name = os.path.basename(config)
        paths = [socket_path(name, run_dir)]
    else:
        paths = all_status_sockets(run_dir)
        if not paths:
            raise NoDaemon(f"no ldirectord-py daemon is running (no status socket in {run_dir})")
    out = []
    for path in paths:
        try:
            out.append((path, read_status(path)))
        except PermissionError as exc:
            raise NoDaemon(f"{path}: permission denied (the status socket is root's)") from exc
        except FileNotFoundError as exc:
            raise NoDaemon(f"{path}: no such socket: is the daemon for it running?") from exc
        except (OSError, ValueError) as exc:
            if config is not None:
                raise NoDaemon(f"{path}: the daemon does not answer: {exc}") from exc
    if not out:
        raise NoDaemon(f"no ldirectord-py daemon answers on {', '.join(paths)}")
    return out
