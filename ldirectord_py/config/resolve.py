"""Name resolution for the parser, behind a small interface so tests stay pure.

The original resolves every host and service name while parsing (getaddrinfo in
the family of the line, getservbyname with the virtual's protocol); so do we,
but never for longer than a bound: an unresponsive resolver would otherwise hold
a start or a reload for the C library's timeout per name (10 s with glibc's
defaults). A lookup that has not answered within `LOOKUP_TIMEOUT`, or once the
parse has spent `PARSE_BUDGET` waiting, counts as unresolved, so the file is
rejected with the original's "could not resolve" wording and, on a reload, the
running configuration stays in effect. Numeric addresses never reach the resolver.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from ldirectord_py.config.model import Family


class Resolver(Protocol):
    def host(self, name: str, family: Family) -> str | None:
        """The numeric address of `name` in `family` (IPv6 without brackets), or None."""

    def service(self, name: str, protocol: str) -> int | None:
        """getservbyname(name, protocol); protocol "" means any. None if unknown."""


LOOKUP_TIMEOUT = 3.0
"""Seconds one host or service lookup may take before it counts as unresolved."""
PARSE_BUDGET = 10.0
"""Seconds one parse may spend waiting for lookups in all; after that, names not
yet looked up count as unresolved at once."""
MAX_LOOKUP_THREADS = 4
"""Lookups running at once. A lookup that timed out keeps its thread until the C
library gives up; when every thread is stuck so, further names fail at once
instead of piling up threads."""

T = TypeVar("T")


class _LookupThreads:
    """Blocking lookups in threads of their own, waited for with a timeout."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    def call(self, fn: Callable[[], T], timeout: float) -> tuple[bool, T | None]:
        """(answered, value): answered is False when no slot was free or the
        lookup did not finish within `timeout` (it is then left to finish alone)."""
        if timeout <= 0 or not self._slots.acquire(blocking=False):
            return False, None
        done = threading.Event()
        box: list[T] = []

        def run() -> None:
            try:
                box.append(fn())
            finally:
                self._slots.release()
                done.set()

        threading.Thread(target=run, name="ldirectord-lookup", daemon=True).start()
        if not done.wait(timeout):
            return False, None
        return bool(box), box[0] if box else None


_THREADS = _LookupThreads(MAX_LOOKUP_THREADS)


class SystemResolver:
    """The C library's resolver, as the original uses it, with a time bound.

    One instance serves one parse: it remembers answers (a name used by a
    thousand reals is looked up once) and how long the parse has waited."""

    def __init__(
        self, lookup_timeout: float = LOOKUP_TIMEOUT, budget: float = PARSE_BUDGET
    ) -> None:
        self.lookup_timeout = lookup_timeout
        self.budget_left = budget
        self.timed_out: list[str] = []
        """Names that counted as unresolved because the resolver did not answer."""
        self._hosts: dict[tuple[str, Family], str | None] = {}
        self._services: dict[tuple[str, str], int | None] = {}

    def host(self, name: str, family: Family) -> str | None:
        key = (name, family)
        if key not in self._hosts:
            numeric = _numeric_host(name, family)
            self._hosts[key] = (
                numeric if numeric is not None else self._bounded(name, lambda: _host(name, family))
            )
        return self._hosts[key]

    def service(self, name: str, protocol: str) -> int | None:
        key = (name, protocol)
        if key not in self._services:
            self._services[key] = self._bounded(name, lambda: _service(name, protocol))
        return self._services[key]

    def _bounded(self, name: str, lookup: Callable[[], T]) -> T | None:
        started = time.monotonic()
        answered, value = _THREADS.call(lookup, min(self.lookup_timeout, self.budget_left))
        self.budget_left -= time.monotonic() - started
        if not answered:
            self.timed_out.append(name)
            return None
        return value


def _numeric_host(name: str, family: Family) -> str | None:
    """A numeric address in `family`, parsed without asking any resolver. The usual
    form is read by inet_pton, in Python: each call into the C library's resolver
    hands the interpreter lock to the loop and back (bench/README.md, "The reload,
    fourth pass"); the forms only the C library reads (`127.1`, a scope) still go there."""
    if not name:
        return None
    af = socket.AF_INET6 if family == 6 else socket.AF_INET
    try:
        return socket.inet_ntop(af, socket.inet_pton(af, name))
    except (OSError, ValueError):
        pass
    try:
        infos = socket.getaddrinfo(name, 0, af, 0, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return _numeric_text(infos, af)


def _host(name: str, family: Family) -> str | None:
    af = socket.AF_INET6 if family == 6 else socket.AF_INET
    try:
        # An empty name means the loopback address to the C library (and so to
        # the original, which accepts `fallback=` that way).
        infos = socket.getaddrinfo(name or None, 0, af)
    except (OSError, UnicodeError, ValueError):
        return None
    return _numeric_text(infos, af)


def _numeric_text(infos: Sequence[tuple[object, ...]], af: int) -> str | None:
    if not infos:
        return None
    sockaddr = infos[0][4]
    assert isinstance(sockaddr, tuple)
    try:
        host, _ = socket.getnameinfo(
            (sockaddr[0], 0, *sockaddr[2:]) if af == socket.AF_INET6 else (sockaddr[0], 0),
            socket.NI_NUMERICHOST | socket.NI_NUMERICSERV,
        )
    except OSError:
        return None
    return host


def _service(name: str, protocol: str) -> int | None:
    try:
        if protocol:
            return socket.getservbyname(name, protocol)
        return socket.getservbyname(name)
    except (OSError, UnicodeError, ValueError):
        return None


class StaticResolver:
    """A fixed table of names, for tests and for validating configs offline.

    Numeric addresses resolve as the C library would (inet_pton); service names
    fall back to the system's /etc/services unless `services` is given.
    """

    def __init__(
        self,
        hosts: Mapping[str, tuple[str | None, str | None]],
        services: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self._hosts = {name.lower(): addresses for name, addresses in hosts.items()}
        self._services = None if services is None else dict(services)

    def host(self, name: str, family: Family) -> str | None:
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        try:
            return socket.inet_ntop(af, socket.inet_pton(af, name))
        except (OSError, ValueError):
            pass
        if family == 4:
            try:  # getaddrinfo accepts the short forms inet_aton does ("127.1")
                return socket.inet_ntoa(socket.inet_aton(name))
            except (OSError, ValueError):
                pass
        if not name:
            return "::1" if family == 6 else "127.0.0.1"
        # Host names match case-insensitively, as in /etc/hosts and DNS.
        v4, v6 = self._hosts.get(name.lower(), (None, None))
        return v6 if family == 6 else v4

    def service(self, name: str, protocol: str) -> int | None:
        if self._services is None:
            return _service(name, protocol)
        for key in ((name, protocol), (name, "")):
            if key in self._services:
                return self._services[key]
        if not protocol:
            for (n, _), port in self._services.items():
                if n == name:
                    return port
        return None
