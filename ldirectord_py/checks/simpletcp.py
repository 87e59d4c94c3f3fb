"""simpletcp: send `request`, then read lines until one matches `receive`.

What is sent: `request` without its first character (the `/` the parser puts
there) and with each literal `\\n` turned into a newline; then the write side is
shut down. Over the virtual's protocol: tcp (also for fwmark virtuals), or one
datagram for udp (replies are then read datagram by datagram).

Up: a reply line matches `receive` within negotiatetimeout; with an empty
receive, any line (the original's empty pattern reuses Perl's last successful
pattern: unpredictable; "any line" is the documented choice). Reads are capped
at 1 MiB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldirectord_py.checks import net, regex
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


def payload(spec: CheckSpec) -> bytes:
    return spec.request[1:].replace("\\n", "\n").encode("utf-8")


def _matcher(spec: CheckSpec) -> regex.Receive | None:
    if spec.receive == "":
        return None
    try:
        return regex.compile_receive(spec.receive)
    except regex.BadPattern as e:
        raise CheckFailed(f"bad receive regex: {e}", FailureKind.MALFORMED) from e


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    pattern = _matcher(spec)
    seen = 0
    if spec.protocol == "udp":
        async with net.Datagram(spec.family) as sock:
            await sock.connect(spec.address, spec.checkport)
            await sock.send(payload(spec))
            while seen < net.BODY_LIMIT:
                data = await sock.recv()
                seen += len(data)
                for line in _lines(data):
                    if pattern is None or await regex.matches(pattern, regex.as_bytes_text(line)):
                        return "receive matched"
        raise CheckFailed("receive did not match", FailureKind.RECEIVE_MISMATCH)
    async with net.stream(spec.address, spec.checkport) as (reader, writer):
        await net.send(writer, payload(spec))
        if writer.can_write_eof():
            writer.write_eof()
        while seen < net.BODY_LIMIT:
            try:
                line = await reader.readline()
            except (ValueError, LookupError):
                line = await reader.read(net.LINE_LIMIT)  # an over-long line, in pieces
            if not line:
                break
            seen += len(line)
            if pattern is None or await regex.matches(pattern, regex.as_bytes_text(line)):
                return "receive matched"
    if seen == 0:
        raise CheckFailed("no reply", FailureKind.NO_ANSWER)
    raise CheckFailed("receive did not match", FailureKind.RECEIVE_MISMATCH)


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="simpletcp",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("simpletcp",),
)
