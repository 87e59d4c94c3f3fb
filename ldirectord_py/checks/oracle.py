"""oracle: a TNS-level connect to the listener for the SID `database`.

What is sent: a TNS CONNECT packet (protocol version 314) whose connect data is
`(DESCRIPTION=(CONNECT_DATA=(SID=<database>)(CID=(PROGRAM=ldirectord)(HOST=...)(USER=ldirectord)))(ADDRESS=(PROTOCOL=TCP)(HOST=<rip>)(PORT=<port>)))`.
A RESEND is answered by sending the packet again (at most 3 times).

Up: the listener ACCEPTs the connection (TNS packet type 2) or REDIRECTs it to a
dispatcher (type 5), within negotiatetimeout. Down: REFUSE (type 4; the reason
carries the listener's ERR code, e.g. 12505 "SID not known") or anything else.

What this verifies: the listener is up and hands connections for that SID to a
running instance. What it does not (and the original's DBD::Oracle check did):
log in as `login` and run `request`. That needs Oracle's TTC protocol with its
authentication, which no library speaks without an Oracle client install except
python-oracledb's thin mode, a large dependency that cannot be tested here
without an Oracle server.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from types import MappingProxyType
from typing import TYPE_CHECKING

from ldirectord_py.checks import net
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec

CONNECT, ACCEPT, REFUSE, REDIRECT, RESEND = 1, 2, 4, 5, 11
VERSION = 314
DATA_OFFSET = 58
MAX_PACKET = 64 * 1024


def connect_data(spec: CheckSpec) -> bytes:
    host = socket.gethostname() or "localhost"
    return (
        f"(DESCRIPTION=(CONNECT_DATA=(SID={spec.database})"
        f"(CID=(PROGRAM=ldirectord)(HOST={host})(USER=ldirectord)))"
        f"(ADDRESS=(PROTOCOL=TCP)(HOST={spec.address})(PORT={spec.checkport})))"
    ).encode("ascii", "replace")


def connect_packet(data: bytes) -> bytes:
    body = struct.pack(
        "!HHHHHHHHHHIBB",
        VERSION,  # version
        300,  # lowest compatible version
        0x0C41,  # global service options
        8192,  # session data unit
        32767,  # maximum transmission data unit
        0x7F08,  # NT protocol characteristics
        0,  # line turnaround
        1,  # value of 1 in hardware byte order
        len(data),  # connect data length
        DATA_OFFSET,  # connect data offset
        0,  # maximum receivable connect data
        0x41,  # connect flags 0
        0x41,  # connect flags 1
    )
    body += b"\0" * (DATA_OFFSET - 8 - len(body))
    length = 8 + len(body) + len(data)
    return struct.pack("!HHBBH", length, 0, CONNECT, 0, 0) + body + data


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(8)
    length, _checksum, kind, _flags, _hsum = struct.unpack("!HHBBH", header)
    if length < 8 or length > MAX_PACKET:
        raise CheckFailed("malformed TNS packet", FailureKind.MALFORMED)
    return kind, await reader.readexactly(length - 8)


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    packet = connect_packet(connect_data(spec))
    async with net.stream(spec.address, spec.checkport) as (reader, writer):
        for _ in range(3):
            await net.send(writer, packet)
            kind, body = await read_packet(reader)
            if kind != RESEND:
                break
        if kind == ACCEPT:
            return "listener accepted"
        if kind == REDIRECT:
            return "listener redirected"
        if kind == REFUSE:
            m = re.search(rb"\(ERR=(\d+)\)", body)
            raise CheckFailed(
                f"listener refused (ERR={m.group(1).decode()})" if m else "listener refused",
                FailureKind.OTHER,
            )
        raise CheckFailed(f"unexpected TNS packet type {kind}", FailureKind.MALFORMED)


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="oracle",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("oracle",),
    default_ports=MappingProxyType({"oracle": 1521}),
)
