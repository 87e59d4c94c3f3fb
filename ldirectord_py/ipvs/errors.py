"""What the ip_vs backend raises: a kernel refusal, a missing ip_vs, a reply it cannot read.

All three are IPVSError (an OSError with the errno), so a caller handles a
malformed reply the way it handles a refusal: log it, keep what runs, retry.
"""

from __future__ import annotations

import errno
import os

UNAVAILABLE_MESSAGE = "ip_vs is not available: load the ip_vs module"


class IPVSError(OSError):
    """A kernel refusal, naming what was attempted and the errno.

    str(): `add destination 10.0.0.1:80 to TCP 192.0.2.1:80: File exists (EEXIST)`.
    """

    def __init__(self, action: str, code: int, detail: str | None = None) -> None:
        name = errno.errorcode.get(code, str(code))
        text = f"{action}: {os.strerror(code)} ({name})"
        if detail:
            text += f": {detail}"
        super().__init__(code, text)
        self.action = action
        self.detail = detail

    def __str__(self) -> str:
        return str(self.strerror)


class IPVSUnavailable(IPVSError):
    """The running kernel has no ip_vs (the IPVS generic netlink family is missing)."""

    def __init__(self) -> None:
        super().__init__("ip_vs", errno.ENOENT)
        self.strerror = UNAVAILABLE_MESSAGE


class MalformedReply(IPVSError):
    """A reply that breaks the protocol: an attribute of the wrong length or type,
    a required one missing, a message cut short. `detail` names the attribute.

    str(): `read services: Protocol error (EPROTO): malformed reply:
    IPVS_SVC_ATTR_PORT is 3 bytes, expected 2`.
    """

    def __init__(self, action: str, problem: str) -> None:
        super().__init__(action, errno.EPROTO, f"malformed reply: {problem}")
        self.problem = problem

    def during(self, action: str) -> MalformedReply:
        """The same problem, named by what the caller was doing."""
        return MalformedReply(action, self.problem)
