"""`maintenancedir`: which reals an operator has taken out by creating a file.

A file named `<ip>:<port>`, `<ip>`, `<fqdn>:<port>`, `<fqdn>`, `<short>:<port>`
or `<short>` forces the real down without checking it (spec 5.11). The original
reads the directory and does a reverse DNS lookup before every check; here the
directory listing is re-read only when its mtime changes, and a real's names are
looked up only when the directory holds a name that is not an address -- then off
the event loop, and remembered for a minute.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable

NAME_TTL = 60.0
_SHORT_NAME = re.compile(r"([a-z][a-z0-9\-]+)\.")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _names_entry(entry: str) -> bool:
    """True for an entry that names a host rather than an address (`web1:80`)."""
    host = entry
    with_port = re.fullmatch(r"(.*):(\d+)", entry)
    if with_port and (with_port.group(1).startswith("[") or ":" not in with_port.group(1)):
        host = with_port.group(1)
    return not _is_address(host)


def reverse_names(address: str) -> tuple[str, ...]:
    """The real's name from a reverse lookup, and its first label (as the original's
    pattern takes it), or nothing."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr: tuple[str, int] | tuple[str, int, int, int] = (
        (address, 0, 0, 0) if family == socket.AF_INET6 else (address, 0)
    )
    try:
        fqdn, _ = socket.getnameinfo(sockaddr, socket.NI_NAMEREQD)
    except OSError:
        return ()
    short = _SHORT_NAME.match(fqdn)
    return (fqdn, short.group(1)) if short else (fqdn,)


class MaintenanceDirectory:
    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        resolve: Callable[[str], tuple[str, ...]] = reverse_names,
    ) -> None:
        self.path = path
        self.clock = clock
        self.resolve = resolve
        self._mtime: int | None = None
        self._entries: frozenset[str] = frozenset()
        self._by_name = False
        self._names: dict[str, tuple[tuple[str, ...], float]] = {}

    def entries(self) -> frozenset[str]:
        """The directory's file names (empty if it does not exist)."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            self._mtime, self._entries, self._by_name = None, frozenset(), False
            return self._entries
        if mtime != self._mtime:
            try:
                self._entries = frozenset(os.listdir(self.path))
            except OSError:
                self._entries = frozenset()
            self._mtime = mtime
            self._by_name = any(_names_entry(e) for e in self._entries)
        return self._entries

    async def holds(self, address: str, family: int, port: int) -> bool:
        """Is this real (address unbracketed) in maintenance?"""
        entries = self.entries()
        if not entries:
            return False
        shown = f"[{address}]" if family == 6 else address
        if f"{shown}:{port}" in entries or shown in entries:
            return True
        if not self._by_name:
            return False
        for name in await self._lookup(address):
            if f"{name}:{port}" in entries or name in entries:
                return True
        return False

    async def _lookup(self, address: str) -> tuple[str, ...]:
        now = self.clock()
        cached = self._names.get(address)
        if cached is not None and cached[1] > now:
            return cached[0]
        names = await asyncio.get_running_loop().run_in_executor(None, self.resolve, address)
        self._names[address] = (names, now + NAME_TTL)
        return names
