"""Name resolution for the parser, behind a small interface so tests stay pure.

The original resolves every host and service name while parsing (getaddrinfo in
the family of the line, getservbyname with the virtual's protocol); so do we.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Protocol

from ldirectord_py.config.model import Family


class Resolver(Protocol):
    def host(self, name: str, family: Family) -> str | None:
        """The numeric address of `name` in `family` (IPv6 without brackets), or None."""

    def service(self, name: str, protocol: str) -> int | None:
        """getservbyname(name, protocol); protocol "" means any. None if unknown."""


class SystemResolver:
    """The C library's resolver, as the original uses it."""

    def host(self, name: str, family: Family) -> str | None:
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        try:
            # An empty name means the loopback address to the C library (and so to
            # the original, which accepts `fallback=` that way).
            infos = socket.getaddrinfo(name or None, 0, af)
        except (OSError, UnicodeError, ValueError):
            return None
        if not infos:
            return None
        sockaddr = infos[0][4]
        try:
            host, _ = socket.getnameinfo(
                (sockaddr[0], 0, *sockaddr[2:]) if af == socket.AF_INET6 else (sockaddr[0], 0),
                socket.NI_NUMERICHOST | socket.NI_NUMERICSERV,
            )
        except OSError:
            return None
        return host

    def service(self, name: str, protocol: str) -> int | None:
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
            return SystemResolver().service(name, protocol)
        for key in ((name, protocol), (name, "")):
            if key in self._services:
                return self._services[key]
        if not protocol:
            for (n, _), port in self._services.items():
                if n == name:
                    return port
        return None
