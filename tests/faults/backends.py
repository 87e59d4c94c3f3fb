"""Backends for the isolation tests and benchmarks, in a process of their own
(they stand in for other machines: their CPU must not be the checker's).

    python -m tests.faults.backends healthy   # one HTTP server answering 200 "OK"
    python -m tests.faults.backends bad       # one port per kind of bad backend

Prints one JSON line {kind: port} once every server listens, then serves until
stdin closes (so a test that dies takes its backends with it). Every server
listens on 127.0.0.1 on a port the kernel picks.

The bad kinds (each an HTTP server that answers 200 and then misbehaves):

| kind | what it sends |
|---|---|
| chunks1 | a chunked body of 1-byte chunks, as fast as the socket takes them, without end |
| hostile | a 1 MiB body of "status " (a `status.*ok` receive backtracks over it) |
| drip | its status line one byte every 50 ms |
| endless | a close-delimited body without end, 64 KiB at a time |
| headers | header lines without end (never the blank line) |
| longline | one header line without end (never a newline) |
| hung | nothing: accepts, reads, never answers |
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

PRIORITY = -10


def take_priority() -> bool:
    """In a process started with start_new_session: autogroup and nice PRIORITY
    (tests.faults.isolation says why). False when not allowed (not root): the
    run goes on at the normal priority."""
    try:
        Path("/proc/self/autogroup").write_text(f"{PRIORITY}\n")
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
    except OSError:
        return False
    return True


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n"
HOSTILE_BODY = b"status " * (1024 * 1024 // 7)


async def _request(reader: asyncio.StreamReader) -> None:
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return


async def healthy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    writer.write(OK_REPLY)
    await writer.drain()


async def _forever(writer: asyncio.StreamWriter, head: bytes, unit: bytes) -> None:
    writer.write(head)
    while True:
        writer.write(unit)
        await writer.drain()


async def chunks1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    await _forever(writer, head, b"1\r\nx\r\n" * 10_000)


async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(HOSTILE_BODY))
    writer.write(HOSTILE_BODY)
    await writer.drain()


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await _forever(writer, b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 65536)


async def headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await _forever(writer, b"HTTP/1.1 200 OK\r\n", b"X-Endless: header\r\n" * 1000)


async def longline(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await _forever(writer, b"HTTP/1.1 200 OK\r\nX-Long: ", b"a" * 65536)


async def hung(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await asyncio.sleep(3600)


BAD: dict[str, Handler] = {
    "chunks1": chunks1,
    "hostile": hostile,
    "drip": drip,
    "endless": endless,
    "headers": headers,
    "longline": longline,
    "hung": hung,
}


def _guarded(handler: Handler) -> Handler:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the checker went away, or we are stopping
        finally:
            writer.transport.abort()

    return serve


async def main(which: str) -> None:
    take_priority()
    handlers = {"healthy": healthy} if which == "healthy" else BAD
    ports: dict[str, int] = {}
    servers = []
    for kind, handler in handlers.items():
        server = await asyncio.start_server(_guarded(handler), "127.0.0.1", 0, backlog=4096)
        servers.append(server)
        ports[kind] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until our parent goes away


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
