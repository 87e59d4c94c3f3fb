"""ftp: log in, `CWD /`, `TYPE I`, passive mode, `RETR <request>`, match `receive`.

What is sent (as Net::FTP in the original): USER `login` and PASS `passwd`
(the parser defaults them to `anonymous` / `ldirectord@<hostname>`), CWD /,
TYPE I, PASV (EPSV for IPv6), RETR with the request as written (leading `/`
included), QUIT. The data connection goes to the control connection's peer
address with the port the server named (not to an address the server names).

Up: the fetched content (up to 1 MiB) matches `receive`, within negotiatetimeout.
With an empty receive the transfer must complete (final 2xx reply); the original
reused Perl's last successful pattern there, which is unpredictable. Differences:
the greeting and the login must succeed (the original carried on after a failed
login and matched the empty content); CWD and TYPE failures are ignored, as there.
"""

from __future__ import annotations

import asyncio
import re
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net, regex
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind
from ldirectord_py.checks.smtp import read_reply

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

_PASV = re.compile(rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)")
_EPSV = re.compile(rb"\((.)\1\1(\d+)\1\)")


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, what: str
) -> tuple[int, bytes]:
    await net.send(writer, (line + "\r\n").encode("utf-8"))
    return await read_reply(reader, what)


async def _login(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, spec: CheckSpec
) -> None:
    login = spec.login or "anonymous"
    passwd = spec.passwd
    if login == "anonymous" and not passwd:
        passwd = "-anonymous@"  # Net::FTP's default
    code, _ = await _command(reader, writer, f"USER {login}", "USER reply")
    if code == 331:
        code, _ = await _command(reader, writer, f"PASS {passwd}", "PASS reply")
    if code // 100 != 2:
        raise CheckFailed(f"login failed ({code})", FailureKind.LOGIN)


async def _passive_port(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, family: int
) -> int:
    if family == 6:
        code, text = await _command(reader, writer, "EPSV", "EPSV reply")
        m = _EPSV.search(text)
        if code != 229 or not m:
            raise CheckFailed(f"EPSV failed ({code})", FailureKind.OTHER)
        return int(m.group(2))
    code, text = await _command(reader, writer, "PASV", "PASV reply")
    m = _PASV.search(text)
    if code != 227 or not m:
        raise CheckFailed(f"PASV failed ({code})", FailureKind.OTHER)
    return int(m.group(5)) * 256 + int(m.group(6))


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    empty_receive = spec.receive == ""
    try:
        pattern = None if empty_receive else regex.compile_receive(spec.receive)
    except regex.BadPattern as e:
        raise CheckFailed(f"bad receive regex: {e}", FailureKind.MALFORMED) from e
    async with net.stream(spec.address, spec.checkport) as (reader, writer):
        code, _ = await read_reply(reader, "greeting")
        if code // 100 != 2:
            raise CheckFailed(f"greeting {code}", FailureKind.OTHER)
        await _login(reader, writer, spec)
        await _command(reader, writer, "CWD /", "CWD reply")
        await _command(reader, writer, "TYPE I", "TYPE reply")
        port = await _passive_port(reader, writer, spec.family)
        async with net.stream(spec.address, port) as (data_reader, _data_writer):
            code, _ = await _command(reader, writer, f"RETR {spec.request}", "RETR reply")
            if code // 100 not in (1, 2):
                raise CheckFailed(f"RETR failed ({code})", FailureKind.OTHER)
            content, truncated = await net.read_capped(data_reader)
        completed = False
        if not truncated and code // 100 == 1:
            code, _ = await read_reply(reader, "transfer reply")
            completed = code // 100 == 2
        elif code // 100 == 2:
            completed = True
        if completed:
            await net.send(writer, b"QUIT\r\n")
    if pattern is None:
        if not completed:
            raise CheckFailed("transfer did not complete", FailureKind.OTHER)
        return f"retrieved {len(content)} bytes"
    if not await regex.matches(pattern, regex.as_bytes_text(content)):
        raise CheckFailed("receive did not match", FailureKind.RECEIVE_MISMATCH)
    return "receive matched"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="ftp",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=2,  # control and data connections
    slotted=False,
    services=("ftp",),
    default_ports=MappingProxyType({"ftp": 21}),
)
