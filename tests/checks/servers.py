"""Test servers for tests/checks, on asyncio, loopback only.

Two kinds:

- **Adversarial** servers (hung, drip, reset, garbage, endless): behaviours no real
  daemon can be made to show on demand. They are what the deadline and the read
  caps are tested against.
- **Protocol-faithful** servers for services where a unit test needs control a real
  daemon does not give (exact bytes on the wire, chunked/close-delimited bodies,
  redirects, a reply with a wrong authenticator) or where Debian has no daemon:
  Oracle's TNS listener (no Debian package), SIP (a SIP server such as Kamailio
  or Asterisk is far heavier than the one OPTIONS exchange checked), NNTP
  (INN needs a news spool and days of setup for one greeting line) and
  simpletcp (by definition any line protocol). Each follows the RFC of its
  protocol for the messages the check sends. Services that have a real daemon
  are also tested against it in test_real_daemons.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

HOST = "127.0.0.1"


def free_port(host: str = HOST, kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on (bound and released at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    port: int
    host: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def tcp_server(
    handler: Handler, host: str = HOST, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Served]:
    """A TCP server; every client connection is aborted when the block ends."""
    writers: set[asyncio.StreamWriter] = set()
    served = Served(0, host)

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        served.connections += 1
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # the loop is closing: a test server just stops
        finally:
            writers.discard(writer)
            writer.transport.abort()

    server = await asyncio.start_server(wrapped, host, 0, ssl=tls, limit=1 << 20)
    served.port = server.sockets[0].getsockname()[1]
    try:
        yield served
    finally:
        server.close()
        for w in list(writers):
            w.transport.abort()
        await asyncio.sleep(0)


# --- adversarial behaviours -------------------------------------------------


async def hung(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never answer (reads whatever comes, to keep the window open)."""
    while await reader.read(65536):
        pass
    await asyncio.sleep(3600)


def drip(data: bytes, every: float = 0.1) -> Handler:
    """Send `data` one byte per `every` seconds, over and over, forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(every)

    return handler


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and reset the connection at once (RST, not FIN)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


GARBAGE = b"\x00\xff\xfe garbage \x13\x37 \x80\x81\r\n\x1b[0m nonsense \x7f\r\n" * 4


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer with bytes that are no protocol at all, then keep the line open."""
    writer.write(GARBAGE)
    await writer.drain()
    while await reader.read(65536):
        writer.write(GARBAGE)
        await writer.drain()
    await asyncio.sleep(3600)


def endless(prefix: bytes, unit: bytes) -> Handler:
    """Send `prefix`, then `unit` as fast as the client reads, forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(prefix)
        chunk = unit * max(1, 65536 // max(1, len(unit)))
        while True:
            writer.write(chunk)
            await writer.drain()

    return handler


def after_lines(n: int, then: Handler, greeting: bytes = b"") -> Handler:
    """Send a greeting, answer `n` request lines with `250 ok`-style lines, then
    behave as `then` (for a drip or a hang in the middle of a dialogue)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if greeting:
            writer.write(greeting)
        for _ in range(n):
            await reader.readline()
        await then(reader, writer)

    return handler


# --- HTTP ---------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]


class HttpServer:
    """An HTTP/1.1 origin server and forward proxy with paths that exercise every
    body framing. It records each request it parses."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        method, target, _version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        self.requests.append(HttpRequest(method, target, headers))
        path = target
        if target.startswith("http://"):  # proxy form: answer as the origin would
            path = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        await self.route(method, path, headers, writer)

    async def route(
        self, method: str, path: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> None:
        def respond(status: str, body: bytes, extra: str = "", length: bool = True) -> None:
            head = f"HTTP/1.1 {status}\r\nServer: test\r\n{extra}"
            if length:
                head += f"Content-Length: {len(body)}\r\n"
            writer.write((head + "\r\n").encode() + (b"" if method == "HEAD" else body))

        if path == "/ok":
            respond("200 OK", b"<html>hello world</html>\n")
        elif path == "/host":
            respond("200 OK", f"host={headers.get('host', '')}".encode())
        elif path == "/ua":
            respond("200 OK", f"ua={headers.get('user-agent', '')}".encode())
        elif path.startswith("/status/"):
            code = path.split("/")[2]
            respond(f"{code} Status", b"status page")
        elif path == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"6;ext=1\r\nhello \r\n5\r\nchunk\r\n0\r\nTrailer: x\r\n\r\n"
            )
        elif path == "/close":
            writer.write(b"HTTP/1.0 200 OK\r\n\r\nclose delimited body")
            await writer.drain()
            writer.close()
            return
        elif path == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            respond("200 OK", b"after continue")
        elif path == "/redirect":
            respond("302 Found", b"", "Location: /ok\r\n")
        elif path == "/redirect-loop":
            respond("302 Found", b"", "Location: /redirect-loop\r\n")
        elif path == "/huge":
            body = b"NEEDLE" + b"a" * (5 * 1024 * 1024) + b"TAILMARK"
            respond("200 OK", body)
        elif path == "/endless":
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nBEGIN")
            while True:
                writer.write(b"x" * 65536)
                await writer.drain()
        elif path == "/endless-chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nBEGIN\r\n")
            while True:
                writer.write(b"10000\r\n" + b"y" * 65536 + b"\r\n")
                await writer.drain()
        elif path == "/truncated":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial body")
            await writer.drain()
            writer.close()
            return
        elif path == "/drip-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while True:
                writer.write(b"z")
                await writer.drain()
                await asyncio.sleep(0.1)
        elif path == "/http09":
            writer.write(b"hello world without a status line\n")
            await writer.drain()
            writer.close()
            return
        else:
            respond("404 Not Found", b"not found")
        await writer.drain()
        await asyncio.sleep(3600)  # keep-alive style: the client must not wait for EOF


# --- SMTP, POP, IMAP, NNTP, FTP ---------------------------------------------------


async def smtp_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """RFC 5321: greeting, EHLO with a multi-line reply, QUIT."""
    writer.write(b"220-test.invalid ESMTP\r\n220 ready\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"250-test.invalid\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif verb == b"HELO":
            writer.write(b"250 test.invalid\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            return
        else:
            writer.write(b"500 what\r\n")
        await writer.drain()


async def smtp_helo_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An old SMTP server that refuses EHLO (RFC 821) but accepts HELO."""
    writer.write(b"220 old smtp\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"502 command not implemented\r\n")
        elif verb == b"HELO":
            writer.write(b"250 hello\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
        await writer.drain()


async def smtp_busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"421 too busy\r\n")
    await writer.drain()


def pop_server(user: str = "", password: str = "") -> Handler:
    """RFC 1939: +OK greeting, USER/PASS, QUIT."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK POP3 ready\r\n")
        got_user = ""
        while line := await reader.readline():
            verb, _, arg = line.decode().strip().partition(" ")
            verb = verb.upper()
            if verb == "USER":
                got_user = arg
                writer.write(b"+OK\r\n")
            elif verb == "PASS":
                ok = got_user == user and arg == password
                writer.write(b"+OK logged in\r\n" if ok else b"-ERR auth failed\r\n")
            elif verb == "QUIT":
                writer.write(b"+OK bye\r\n")
            else:
                writer.write(b"-ERR\r\n")
            await writer.drain()

    return handler


def imap_server(user: str = "", password: str = "") -> Handler:
    """RFC 3501: * OK greeting, LOGIN with quoted strings, LOGOUT."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
        while line := await reader.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            cmd, _, args = rest.partition(" ")
            if cmd.upper() == "LOGIN":

                def q(t: str) -> str:  # RFC 3501 quoted string
                    return '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'

                want = f"{q(user)} {q(password)}"
                if args == want:
                    writer.write(b"* CAPABILITY IMAP4rev1\r\n" + f"{tag} OK done\r\n".encode())
                else:
                    writer.write(f"{tag} NO [AUTHENTICATIONFAILED] no\r\n".encode())
            elif cmd.upper() == "LOGOUT":
                writer.write(b"* BYE\r\n" + f"{tag} OK bye\r\n".encode())
            else:
                writer.write(f"{tag} BAD\r\n".encode())
            await writer.drain()

    return handler


def nntp_server(greeting: bytes = b"200 news.test.invalid ready\r\n") -> Handler:
    """RFC 3977: the greeting is all the check reads."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        await reader.read()

    return handler


class FtpServer:
    """RFC 959 with passive mode (PASV, and EPSV from RFC 2428): USER/PASS, CWD,
    TYPE, RETR of in-memory files, QUIT."""

    def __init__(
        self, files: dict[str, bytes], user: str = "anonymous", password: str = ""
    ) -> None:
        self.files = files
        self.user = user
        self.password = password
        self.commands: list[str] = []
        self.endless_data = False

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test ftp\r\n")
        user = ""
        data_server: asyncio.Server | None = None
        data_conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None
        host = writer.get_extra_info("sockname")[0]
        try:
            while line := await reader.readline():
                text = line.decode().strip()
                self.commands.append(text)
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                if verb == "USER":
                    user = arg
                    writer.write(b"331 password please\r\n")
                elif verb == "PASS":
                    ok = user == self.user and (not self.password or arg == self.password)
                    writer.write(b"230 logged in\r\n" if ok else b"530 login incorrect\r\n")
                elif verb in ("CWD", "TYPE"):
                    writer.write(b"250 ok\r\n" if verb == "CWD" else b"200 ok\r\n")
                elif verb in ("PASV", "EPSV"):
                    loop = asyncio.get_running_loop()
                    data_conn = loop.create_future()
                    data_server = await asyncio.start_server(_data_handler(data_conn), host, 0)
                    port = data_server.sockets[0].getsockname()[1]
                    if verb == "EPSV":
                        writer.write(
                            f"229 Entering Extended Passive Mode (|||{port}|)\r\n".encode()
                        )
                    else:
                        h = host.replace(".", ",")
                        writer.write(
                            f"227 Entering Passive Mode ({h},{port >> 8},{port & 255})\r\n".encode()
                        )
                elif verb == "RETR":
                    if arg not in self.files and not self.endless_data:
                        writer.write(b"550 no such file\r\n")
                    elif data_conn is None:
                        writer.write(b"425 use PASV first\r\n")
                    else:
                        writer.write(b"150 opening data connection\r\n")
                        await writer.drain()
                        _r, w = await data_conn
                        if self.endless_data:
                            while True:
                                w.write(b"d" * 65536)
                                await w.drain()
                        w.write(self.files[arg])
                        await w.drain()
                        w.close()
                        writer.write(b"226 transfer complete\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 bye\r\n")
                else:
                    writer.write(b"502 not implemented\r\n")
                await writer.drain()
        finally:
            if data_server is not None:
                data_server.close()


def _data_handler(
    fut: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
) -> Handler:
    async def on_data(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not fut.done():
            fut.set_result((r, w))
        await asyncio.sleep(3600)

    return on_data


# --- SIP, simpletcp -----------------------------------------------------------


def sip_reply(request: bytes, status: bytes = b"SIP/2.0 200 OK") -> bytes:
    """RFC 3261 response to a request: Via, From, To, Call-ID and CSeq copied."""
    lines = request.split(b"\r\n")
    copied = [
        ln
        for ln in lines[1:]
        if ln.split(b":", 1)[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")
    ]
    return b"\r\n".join([status, *copied, b"Content-Length: 0", b"", b""])


class SipUdp(asyncio.DatagramProtocol):
    """A SIP UA answering OPTIONS over UDP."""

    def __init__(self, status: bytes = b"SIP/2.0 200 OK", mode: str = "reply") -> None:
        self.status = status
        self.mode = mode  # reply | silent | garbage
        self.requests: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.requests.append(data)
        assert self.transport is not None
        if self.mode == "reply":
            self.transport.sendto(sip_reply(data, self.status), addr)
        elif self.mode == "garbage":
            self.transport.sendto(GARBAGE, addr)


def sip_tcp(status: bytes = b"SIP/2.0 200 OK") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = b""
        while (line := await reader.readline()) not in (b"\r\n", b""):
            request += line
        writer.write(sip_reply(request + b"\r\n", status))
        await writer.drain()
        await asyncio.sleep(3600)

    return handler


def line_server(replies: dict[bytes, bytes]) -> Handler:
    """simpletcp: read to EOF (the check shuts down its write side), then answer
    the request's reply line by line."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()
        writer.write(replies.get(request, b"unknown request\n"))
        await writer.drain()

    return handler


@contextlib.asynccontextmanager
async def udp_server(protocol: asyncio.DatagramProtocol, host: str = HOST) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(host, 0))
    try:
        yield int(transport.get_extra_info("sockname")[1])
    finally:
        transport.close()


# --- RADIUS ---------------------------------------------------------------------


class RadiusServer(asyncio.DatagramProtocol):
    """RFC 2865: decodes User-Name and User-Password with the shared secret and
    answers Access-Accept or Access-Reject with a correct Response Authenticator.
    `mode` makes it misbehave: silent, garbage, wrong-secret, wrong-id."""

    def __init__(self, secret: bytes, users: dict[str, str], mode: str = "ok") -> None:
        self.secret = secret
        self.users = users
        self.mode = mode
        self.seen: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        code, ident, length = struct.unpack("!BBH", data[:4])
        auth = data[4:20]
        attrs = data[20:length]
        name, hidden = "", b""
        pos = 0
        while pos + 2 <= len(attrs):
            kind, alen = attrs[pos], attrs[pos + 1]
            value = attrs[pos + 2 : pos + alen]
            if kind == 1:
                name = value.decode()
            elif kind == 2:
                hidden = value
            pos += max(alen, 2)
        password = b""
        last = auth
        for i in range(0, len(hidden), 16):
            key = hashlib.md5(self.secret + last).digest()
            block = hidden[i : i + 16]
            password += bytes(a ^ b for a, b in zip(block, key, strict=False))
            last = block
        pw = password.rstrip(b"\0").decode("latin-1")
        self.seen.append((name, pw))
        if self.mode == "silent":
            return
        if self.mode == "garbage":
            self.transport.sendto(GARBAGE, addr)
            return
        reply_code = 2 if self.users.get(name) == pw else 3
        rid = (ident + 1) & 0xFF if self.mode == "wrong-id" else ident
        secret = b"not-the-secret" if self.mode == "wrong-secret" else self.secret
        head = struct.pack("!BBH", reply_code, rid, 20)
        authenticator = hashlib.md5(head + auth + secret).digest()
        self.transport.sendto(head + authenticator, addr)
        del code


# --- LDAP -----------------------------------------------------------------------


def _ber(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(body)]) + body + content


def _ldap_result(tag: int, code: int) -> bytes:
    return _ber(tag, _ber(0x0A, bytes([code])) + _ber(0x04, b"") + _ber(0x04, b""))


class LdapServer:
    """RFC 4511, the four messages the check sends: simple bind (with a user table),
    base-scope search over a set of DNs, unbind."""

    def __init__(self, entries: set[str], users: dict[str, str] | None = None) -> None:
        self.entries = {e.lower(): e for e in entries}
        self.users = users or {}
        self.binds: list[str] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readexactly(2)
            length = head[1]
            if length & 0x80:
                length = int.from_bytes(await reader.readexactly(length & 0x7F), "big")
            body = await reader.readexactly(length)
            # messageID INTEGER
            idlen = body[1]
            msgid = body[2 : 2 + idlen]
            op = body[2 + idlen :]
            tag = op[0]
            oplen = op[1]
            pos = 2
            if oplen & 0x80:
                pos += oplen & 0x7F
            content = op[pos:]
            mid = _ber(0x02, msgid)
            if tag == 0x60:  # bind: version, name, [0] password
                p = 2 + content[1]
                name_len = content[p + 1]
                name = content[p + 2 : p + 2 + name_len].decode()
                q = p + 2 + name_len
                pw = content[q + 2 : q + 2 + content[q + 1]].decode()
                self.binds.append(name)
                ok = name == "" or self.users.get(name) == pw
                writer.write(_ber(0x30, mid + _ldap_result(0x61, 0 if ok else 49)))
            elif tag == 0x63:  # search: base first
                base = content[2 : 2 + content[1]].decode()
                dn = self.entries.get(base.lower())
                out = b""
                if dn is not None:
                    entry = _ber(0x64, _ber(0x04, dn.encode()) + _ber(0x30, b""))
                    out += _ber(0x30, mid + entry)
                out += _ber(0x30, mid + _ldap_result(0x65, 0 if dn else 32))
                writer.write(out)
            elif tag == 0x42:  # unbind
                return
            await writer.drain()


# --- DNS ---------------------------------------------------------------------------


class DnsServer(asyncio.DatagramProtocol):
    """RFC 1035 authoritative answers from a table (via dnspython's wire format);
    modes: ok, silent, garbage, servfail, truncate (TC bit set over UDP)."""

    def __init__(self, a: dict[str, str], ptr: dict[str, str], mode: str = "ok") -> None:
        self.a = a
        self.ptr = ptr
        self.mode = mode
        self.queries: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def answer(self, wire: bytes, udp: bool) -> bytes | None:
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        q = dns.message.from_wire(wire)
        question = q.question[0]
        name = question.name.to_text()
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        r = dns.message.make_response(q)
        if self.mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
            return r.to_wire()
        if udp and self.mode == "truncate":
            r.flags |= dns.flags.TC
            return r.to_wire()
        if question.rdtype == dns.rdatatype.A and name in self.a:
            r.answer.append(dns.rrset.from_text(name, 60, "IN", "A", self.a[name]))
        elif question.rdtype == dns.rdatatype.PTR and name in self.ptr:
            r.answer.append(dns.rrset.from_text(name, 60, "IN", "PTR", self.ptr[name]))
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
        return r.to_wire()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        if self.mode == "silent":
            return
        if self.mode == "garbage":
            self.transport.sendto(GARBAGE, addr)
            return
        reply = self.answer(data, udp=True)
        if reply is not None:
            self.transport.sendto(reply, addr)

    def tcp_handler(self) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                n = int.from_bytes(await reader.readexactly(2), "big")
                reply = self.answer(await reader.readexactly(n), udp=False)
                assert reply is not None
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()

        return handler


# --- Oracle TNS ---------------------------------------------------------------------


def tns_listener(sids: set[str], resend_first: bool = False) -> Handler:
    """An Oracle Net listener's answer to CONNECT: ACCEPT for a known SID,
    REFUSE with ERR=12505 otherwise, optionally RESEND first (as 11g+ listeners
    do). Packet layout as in Oracle Net: 8-byte header, then the body."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while True:
            header = await reader.readexactly(8)
            length, _c, kind, _f, _h = struct.unpack("!HHBBH", header)
            body = await reader.readexactly(length - 8)
            if kind != 1:
                return
            if first and resend_first:
                first = False
                writer.write(struct.pack("!HHBBH", 8, 0, 11, 0, 0))
                await writer.drain()
                continue
            data_len, data_off = struct.unpack("!HH", body[16:20])
            data = body[data_off - 8 : data_off - 8 + data_len].decode()
            sid = data.split("(SID=", 1)[1].split(")", 1)[0] if "(SID=" in data else ""
            if sid in sids:
                accept = struct.pack("!HHHHHH", 314, 0, 8192, 32767, 0, 0) + b"\0" * 12
                writer.write(struct.pack("!HHBBH", 8 + len(accept), 0, 2, 0, 0) + accept)
            else:
                msg = b"(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR=12505)(ERROR_STACK=(ERROR=(CODE=12505))))"
                refuse = struct.pack("!BBH", 0x22, 0x22, len(msg)) + msg
                writer.write(struct.pack("!HHBBH", 8 + len(refuse), 0, 4, 0, 0) + refuse)
            await writer.drain()
            await asyncio.sleep(3600)

    return handler


def hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.md5).digest()
