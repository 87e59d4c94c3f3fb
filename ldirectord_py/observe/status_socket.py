"""The daemon's status, as JSON on a Unix socket only root can use.

The socket sits next to the pid file: `/var/run/ldirectord.<CFGNAME>.sock`
(mode 0600). A client connects and reads one JSON document; the daemon closes
the connection. `ldirectordctl list --health` reads it to show each real's
check state next to the kernel's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from ldirectord_py.daemon.pidfile import RUN_DIR

Snapshot = Callable[[], dict[str, Any]]
CLIENT_TIMEOUT = 5.0


def socket_path(cfgname: str, run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, f"ldirectord.{cfgname}.sock")


class StatusServer:
    def __init__(self, path: str, snapshot: Snapshot) -> None:
        self.path = path
        self.snapshot = snapshot
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
            writer.write(json.dumps(self.snapshot(), default=str).encode() + b"\n")
            await writer.drain()
        except (OSError, ValueError, TypeError):
            pass
        finally:
            writer.close()


def read_status(path: str, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """One status document from a daemon's socket (raises OSError or ValueError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = json.loads(b"".join(chunks))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a status document")
    return data


def all_status_sockets(run_dir: str = RUN_DIR) -> list[str]:
    return sorted(glob.glob(os.path.join(run_dir, "ldirectord.*.sock")))


class NoDaemon(Exception):
    """No running daemon answers where the caller asked (the message says where)."""


def daemon_statuses(config: str | None, run_dir: str = RUN_DIR) -> list[tuple[str, dict[str, Any]]]:
    """(socket path, status) of the daemon for `config` (a name or a path, as the
    pid file's name is derived from it), or of every running daemon."""
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
