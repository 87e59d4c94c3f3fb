"""Small, careful stream helpers shared by the banner-exchange checks.

Every read is capped: lines at LINE_LIMIT bytes, bodies and files at BODY_LIMIT.
Connections are always torn down with abort(), so a check never leaves a socket
behind waiting for a peer that does not answer (the deadline stays hard).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import AsyncIterator

from ldirectord_py.checks.result import CheckFailed

LINE_LIMIT = 64 * 1024
BODY_LIMIT = 1024 * 1024


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
        raise CheckFailed("no check port")
    reader, writer = await asyncio.open_connection(
        host,
        port,
        limit=LINE_LIMIT,
        ssl=insecure_tls() if tls else None,
        server_hostname=(sni_name(server_hostname) or "") if tls else None,
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


async def readline(reader: asyncio.StreamReader, what: str = "reply") -> bytes:
    """One line (with its terminator); EOF before any byte is a failure."""
    try:
        line = await reader.readline()
    except (asyncio.LimitOverrunError, ValueError) as e:
        raise CheckFailed(f"{what} line too long") from e
    if not line:
        raise CheckFailed(f"connection closed before {what}")
    return line


async def read_capped(reader: asyncio.StreamReader, limit: int = BODY_LIMIT) -> tuple[bytes, bool]:
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
            raise CheckFailed("no check port")
        await self.loop.sock_connect(self.sock, (host, port))

    def local(self) -> tuple[str, int]:
        addr = self.sock.getsockname()
        return str(addr[0]), int(addr[1])

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def recv(self) -> bytes:
        return await self.loop.sock_recv(self.sock, 65535)
