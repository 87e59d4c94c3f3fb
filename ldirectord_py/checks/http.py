"""http, https and http_proxy: a small HTTP/1.1 client on asyncio streams.

What is sent: `<httpmethod> <path> HTTP/1.1` with `Host:` (virtualhost, else the
real's address without port, as the original), `User-Agent`, `Connection: close`.
http_proxy sends the absolute URL of `request` to the proxy at the real's check
port, with the Host of that URL. Redirects (301 302 303 307 308) are followed up to
7 times as LWP does, without the original Host header after the first hop.

Up: the final status is 2xx and `receive` is empty or matches the body. The body
is read whole up to 1 MiB (chunked, content-length or close-delimited); a longer
body is matched on its first 1 MiB (a chunked one on its first 16,384 chunks,
when they average under 64 bytes). HEAD has no body, so a HEAD check with a
non-empty receive only passes if the pattern matches the empty string (in
practice: never, as in the original).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

from ldirectord_py import __version__
from ldirectord_py.checks import net, regex
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

USER_AGENT = f"libwww-perl/6.68 ldirectord-py/{__version__}"
MAX_CHUNKS = 16 * 1024
"""A chunked body is read up to this many chunks, as any body up to 1 MiB: 1 MiB
in chunks of 64 bytes or more reaches the byte limit first. Reading a body of
1-byte chunks to 1 MiB took a core for seconds (three reads per byte)."""
MAX_REDIRECTS = 7
MAX_HEADER_BYTES = 256 * 1024
MAX_HEADERS = 256
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_STATUS = re.compile(rb"^HTTP/\d+\.\d+[ \t]+(\d{3})(?:[ \t\r\n]|$)")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # unbracketed
    port: int
    target: str  # request-target (origin-form)
    authority: str  # host[:port] as a Host header

    @classmethod
    def parse(cls, url: str) -> Target:
        return _parse_target(url)

    @classmethod
    def _parse(cls, url: str) -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise CheckFailed(f"bad URL {url!r}", FailureKind.MALFORMED) from e
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise CheckFailed(f"bad URL {url!r}", FailureKind.MALFORMED)
        default = 443 if scheme == "https" else 80
        host = parts.hostname
        hosttext = f"[{host}]" if ":" in host else host
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        target = quote(target, safe="!#$%&'()*+,/:;=?@[]~")
        authority = hosttext if port in (None, default) else f"{hosttext}:{port}"
        return cls(scheme, host, port or default, target, authority)


@functools.lru_cache(maxsize=16384)
def _parse_target(url: str) -> Target:
    return Target._parse(url)


@functools.lru_cache(maxsize=16384)
def _request(method: str, request_target: str, host: str) -> bytes:
    return (
        f"{method} {request_target} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


async def _line(reader: net.Reader, what: str) -> bytes:
    """The next line: at once when a whole line is buffered in a BareStream."""
    if isinstance(reader, net.BareStream):
        line = reader.readline_nowait()
        if line is not None:
            return line
    return await net.readline(reader, what)


def _header_text(value: bytes) -> str:
    return value.decode("latin-1").strip()


async def _read_head(reader: net.Reader) -> tuple[int, dict[str, str]]:
    # lines already buffered in a BareStream are taken without a coroutine each
    nowait = reader.readline_nowait if isinstance(reader, net.BareStream) else None
    status_line = await _line(reader, "status line")
    m = _STATUS.match(status_line)
    if not m:
        raise CheckFailed("malformed response", FailureKind.MALFORMED)
    status = int(m.group(1))
    headers: dict[str, str] = {}
    total = len(status_line)
    for _ in range(MAX_HEADERS + 1):
        line = nowait() if nowait is not None else None
        if line is None:
            line = await net.readline(reader, "end of headers")
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise CheckFailed("headers too large", FailureKind.MALFORMED)
        if line in (b"\r\n", b"\n"):
            return status, headers
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            if line[:1] in (b" ", b"\t"):
                continue  # obsolete line folding: ignore the continuation
            raise CheckFailed("malformed header", FailureKind.MALFORMED)
        key = name.strip().decode("latin-1").lower()
        text = _header_text(value)
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    raise CheckFailed("too many headers", FailureKind.MALFORMED)


async def _read_chunked(reader: net.Reader, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        if len(chunks) >= MAX_CHUNKS:
            return b"".join(chunks), True  # as a body over 1 MiB: its start is matched
        line = await _line(reader, "chunk size")
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as e:
            raise CheckFailed("malformed chunk", FailureKind.MALFORMED) from e
        if length < 0:
            raise CheckFailed("malformed chunk", FailureKind.MALFORMED)
        if length == 0:
            return b"".join(chunks), False
        take = min(length, limit - size)
        if take > 0:
            chunks.append(await reader.readexactly(take))
            size += take
        if take < length:
            return b"".join(chunks), True
        await _line(reader, "chunk end")


async def read_response(reader: net.Reader, method: str) -> Response:
    """Read one final response (interim 1xx responses are skipped)."""
    for _ in range(8):
        status, headers = await _read_head(reader)
        if 100 <= status < 200:
            continue
        break
    else:
        raise CheckFailed("too many interim responses", FailureKind.MALFORMED)
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b"", False)
    limit = net.BODY_LIMIT
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, truncated = await _read_chunked(reader, limit)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"].split(",")[0])
            except ValueError:
                length = -1
            if length >= 0:
                body = await reader.readexactly(min(length, limit))
                truncated = length > limit
            else:
                body, truncated = await net.read_capped(reader, limit)
        else:
            body, truncated = await net.read_capped(reader, limit)
    except asyncio.IncompleteReadError as e:
        # LWP keeps a response whose body broke off, and matches what arrived.
        body, truncated = e.partial, True
    except (ConnectionResetError, BrokenPipeError):
        body, truncated = b"", True
    return Response(status, headers, body, truncated)


async def fetch(
    url: str,
    method: str,
    host_header: str | None,
    proxy: tuple[str, int | None] | None,
    sni: str | None,
    poller: net.Poller,
) -> Response:
    target = Target.parse(url)
    if proxy is not None and target.scheme == "http":
        connect_host, connect_port = proxy
        request_target = url
        tls = False
    else:
        connect_host, connect_port = target.host, target.port
        request_target = target.target
        tls = target.scheme == "https"
    host = host_header if host_header is not None else target.authority
    request = _request(method, request_target, host)
    family = net.literal_family(connect_host) if not tls else None
    if family is not None:
        return await _fetch_bare(family, connect_host, connect_port, request, method, poller)
    async with net.stream(
        connect_host, connect_port, tls=tls, server_hostname=sni or target.host
    ) as (reader, writer):
        await net.send(writer, request)
        return await read_response(reader, method)


async def _fetch_bare(
    family: int, host: str, port: int | None, request: bytes, method: str, poller: net.Poller
) -> Response:
    """Plain HTTP to an IP literal on a bare socket (no transport or streams)."""
    if port is None or port <= 0:
        raise CheckFailed("no check port", FailureKind.OTHER)
    conn = net.BareStream(family, poller, net.LINE_LIMIT)
    try:
        await conn.connect((host, port))
        await conn.sendall(request)
        return await read_response(conn, method)
    finally:
        conn.close()


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    method = "HEAD" if spec.httpmethod.upper() == "HEAD" else "GET"
    url = spec.url
    proxy: tuple[str, int | None] | None = None
    if spec.service == "http_proxy":
        proxy = (spec.address, spec.checkport)
        host_header: str | None = None
    else:
        host_header = spec.virtualhost if spec.virtualhost else spec.host
    for hop in range(MAX_REDIRECTS + 1):
        response = await fetch(url, method, host_header, proxy, spec.virtualhost, runtime.poller)
        location = response.headers.get("location")
        if response.status in REDIRECTS and location and hop < MAX_REDIRECTS:
            url = urljoin(url, location)
            host_header = None  # LWP drops Host on a redirect
            continue
        break
    if not 200 <= response.status < 300:
        raise CheckFailed(f"status {response.status}", FailureKind.HTTP_STATUS)
    if not regex.is_empty_receive(spec.receive):
        try:
            matched = await regex.search(spec.receive, regex.as_bytes_text(response.body))
        except regex.BadPattern as e:
            raise CheckFailed(f"bad receive regex: {e}", FailureKind.MALFORMED) from e
        if not matched:
            raise CheckFailed("receive did not match", FailureKind.RECEIVE_MISMATCH)
    return f"status {response.status}"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="http",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=True,
    services=("http", "https", "http_proxy"),
    default_ports=MappingProxyType({"http": 80, "https": 443, "http_proxy": 3128}),
)
