"""Generic netlink requests over one AF_NETLINK socket: framing, sequence numbers,
acknowledgements, multipart dumps, batches and the kernel's error answers.

It knows nothing of ip_vs: it sends a command with attributes already encoded
and hands back the payloads of the replies (generic netlink header removed);
`ipvs/codec.py` gives them meaning. Every failure is an IPVSError naming the
action: a refusal with the kernel's errno (and its own words, with extended
acknowledgements), a socket error, or MalformedReply for a message that breaks
netlink's framing.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
from collections.abc import Iterator, Sequence
from enum import IntEnum, IntFlag
from typing import Protocol

from ldirectord_py.ipvs.errors import IPVSError, MalformedReply
from ldirectord_py.ipvs.nlattr import TEXT, U16, Attr, AttrTable

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3

_NLMSG = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_GENL = struct.Struct("=BBH")  # command, version, reserved
_ERROR_CODE = struct.Struct("=i")


class MessageType(IntEnum):
    """Netlink's own message types (linux/netlink.h); families use numbers above."""

    NOOP = 1
    ERROR = 2
    DONE = 3
    OVERRUN = 4


class MessageFlags(IntFlag):
    REQUEST = 0x01
    MULTI = 0x02
    ACK = 0x04
    DUMP = 0x300
    # on an ERROR message: the request was cut from it; attributes follow it
    CAPPED = 0x100
    ACK_TLVS = 0x200


class ControlAttrs(AttrTable):
    """CTRL_ATTR_* of the generic netlink controller (linux/genetlink.h)."""

    PREFIX = "CTRL_ATTR_"
    family_id = Attr(1, U16)
    family_name = Attr(2, TEXT)


class ErrorAttrs(AttrTable):
    """NLMSGERR_ATTR_* after an extended acknowledgement."""

    PREFIX = "NLMSGERR_ATTR_"
    msg = Attr(1, TEXT)


class NetlinkSocket(Protocol):
    """What the transport needs of a socket (a test gives it a scripted kernel)."""

    def send(self, data: bytes, /) -> int: ...

    def recv_into(self, buffer: bytearray, /) -> int: ...

    def close(self) -> None: ...


def open_socket(timeout: float) -> socket.socket:
    """A generic netlink socket with a large receive buffer and, where the kernel
    has them, capped and extended acknowledgements."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_GENERIC)
    try:
        sock.settimeout(timeout)
        sock.bind((0, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            # optional: without them errors just carry the whole request back
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_NETLINK, option, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class GenericNetlink:
    """Requests to one generic netlink family, one at a time (not thread-safe:
    replies are matched to requests by sequence number on a shared socket).

    The family's number is looked up when it is made; IPVSError with ENOENT (or
    EOPNOTSUPP on old kernels) means the kernel has no such family.
    """

    def __init__(
        self, family: bytes, version: int, sock: NetlinkSocket, buffer_size: int = 1 << 20
    ) -> None:
        self._socket = sock
        self._version = version
        self._buffer = bytearray(buffer_size)
        self._sequence = 0
        self.family_id = GENL_ID_CTRL
        self.family_id = self._resolve(family)

    def close(self) -> None:
        self._socket.close()

    # requests ------------------------------------------------------------------
    def request(
        self, command: int, attributes: bytes, action: str, *, dump: bool = False, ack: bool = False
    ) -> list[bytes]:
        """Send one request; the payloads of its replies, in order.

        A dump ends with DONE, an acknowledged request with its ACK, a plain get
        with its single answer.
        """
        flags = MessageFlags.REQUEST
        if dump:
            flags |= MessageFlags.DUMP
        if ack:
            flags |= MessageFlags.ACK
        message, sequence = self._message(self.family_id, command, attributes, flags)
        return self._exchange(message, sequence, self.family_id, not (dump or ack), action)

    def request_each(self, requests: Sequence[tuple[int, bytes, str]]) -> list[IPVSError | None]:
        """Send (command, attributes, action) requests in one write, each acknowledged;
        for each, None or its refusal. The kernel handles them in order and answers
        each, so one refusal does not stop the rest."""
        results: list[IPVSError | None] = [None] * len(requests)
        if not requests:
            return results
        flags = MessageFlags.REQUEST | MessageFlags.ACK
        messages = []
        pending: dict[int, int] = {}
        for index, (command, attributes, _action) in enumerate(requests):
            message, sequence = self._message(self.family_id, command, attributes, flags)
            messages.append(message)
            pending[sequence] = index
        first_action = requests[0][2]
        self._send(b"".join(messages), first_action)
        for kind, reply_flags, sequence, payload in self._messages(first_action):
            if kind != MessageType.ERROR or sequence not in pending:
                continue
            index = pending.pop(sequence)
            action = requests[index][2]
            code = _error_code(payload, action)
            if code:
                results[index] = IPVSError(action, code, _extended_error(reply_flags, payload))
            if not pending:
                break
        return results

    # framing ---------------------------------------------------------------------
    def _next_sequence(self) -> int:
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF or 1
        return self._sequence

    def _message(
        self, family: int, command: int, attributes: bytes, flags: int
    ) -> tuple[bytes, int]:
        sequence = self._next_sequence()
        body = _GENL.pack(command, self._version, 0) + attributes
        header = _NLMSG.pack(_NLMSG.size + len(body), family, flags, sequence, 0)
        return header + body, sequence

    def _resolve(self, name: bytes) -> int:
        action = f"look up the {name.decode(errors='replace')} netlink family"
        attributes = ControlAttrs.family_name.wrap(name + b"\0")
        message, sequence = self._message(
            GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attributes, MessageFlags.REQUEST
        )
        replies = self._exchange(message, sequence, GENL_ID_CTRL, True, action)
        if len(replies) != 1:
            raise MalformedReply(action, f"{len(replies)} answers to one family lookup")
        try:
            return ControlAttrs.decode(replies[0]).require(ControlAttrs.family_id)
        except MalformedReply as e:
            raise e.during(action) from None

    def _send(self, data: bytes, action: str) -> None:
        try:
            self._socket.send(data)
        except OSError as e:
            raise IPVSError(action, e.errno or errno.EIO) from None

    def _messages(self, action: str) -> Iterator[tuple[int, int, int, bytes]]:
        """Netlink messages as they arrive: (type, flags, sequence, payload).

        Payloads are copied out of the receive buffer, which the next read reuses.
        """
        header_size = _NLMSG.size
        while True:
            try:
                size = self._socket.recv_into(self._buffer)
            except TimeoutError:
                raise IPVSError(action, errno.ETIMEDOUT) from None
            except OSError as e:
                raise IPVSError(action, e.errno or errno.EIO) from None
            view = memoryview(self._buffer)[:size]
            offset = 0
            while offset < size:
                if size - offset < header_size:
                    raise MalformedReply(action, f"{size - offset} stray bytes after a message")
                length, kind, flags, sequence, _port = _NLMSG.unpack_from(view, offset)
                if length < header_size or offset + length > size:
                    raise MalformedReply(
                        action,
                        f"a message claims {length} bytes with {size - offset} left in the read",
                    )
                yield kind, flags, sequence, bytes(view[offset + header_size : offset + length])
                offset += (length + 3) & ~3

    def _exchange(
        self, message: bytes, sequence: int, reply_type: int, single_answer: bool, action: str
    ) -> list[bytes]:
        self._send(message, action)
        replies: list[bytes] = []
        for kind, flags, seq, payload in self._messages(action):
            if seq != sequence:
                continue
            if kind == MessageType.ERROR:
                code = _error_code(payload, action)
                if code:
                    raise IPVSError(action, code, _extended_error(flags, payload))
                return replies
            if kind == MessageType.DONE:
                code = _error_code(payload, action) if payload else 0
                if code:
                    raise IPVSError(action, code)
                return replies
            if kind != reply_type:
                continue  # NOOP, OVERRUN: nothing to hand back
            if len(payload) < _GENL.size:
                raise MalformedReply(action, f"a reply of {len(payload)} bytes has no genl header")
            replies.append(payload[_GENL.size :])
            if single_answer and not flags & MessageFlags.MULTI:
                return replies
        raise AssertionError("unreachable")  # _messages reads until an error or timeout


def _error_code(payload: bytes, action: str) -> int:
    """The positive errno of an ERROR (0: an acknowledgement) or DONE message."""
    if len(payload) < _ERROR_CODE.size:
        raise MalformedReply(action, f"an error message of {len(payload)} bytes has no code")
    code = -int(_ERROR_CODE.unpack_from(payload)[0])
    if code < 0:
        raise MalformedReply(action, f"an error message with a positive code {-code}")
    return code


def _extended_error(flags: int, payload: bytes) -> str | None:
    """The kernel's own words for an error (extended ACK), when it gave readable ones."""
    if not flags & MessageFlags.ACK_TLVS:
        return None
    # error code, then the request's header (its payload is cut by NETLINK_CAP_ACK)
    if len(payload) < 4 + _NLMSG.size:
        return None
    inner_length = _NLMSG.unpack_from(payload, 4)[0]
    offset = 4 + (_NLMSG.size if flags & MessageFlags.CAPPED else inner_length)
    if offset > len(payload):
        return None
    try:
        return ErrorAttrs.decode(payload, offset).get(ErrorAttrs.msg)
    except MalformedReply:
        return None  # the error stands; only its wording is unreadable
