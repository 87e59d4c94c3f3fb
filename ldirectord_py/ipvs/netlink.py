"""The kernel's ip_vs over generic netlink (family "IPVS"): read the table, change it.

Why not pyroute2's IPVS classes, which the project otherwise depends on: on
pyroute2 0.9.7 their high-level decoding reads wrong values back (a NAT
destination as direct routing, a persistent service as not persistent), `update`
sends a delete, GET_INFO is missing, their message classes encode and decode
many times slower than the tables here, importing the package is slow (slower
still in the TCG test guest), and the synchronous socket runs an event loop of
its own, which cannot be used from inside the daemon's running loop (the
measurements are in bench/README.md, "ip_vs programming"). The IPVS netlink
protocol is small and fixed (linux/ip_vs.h), so it is spoken directly: the
messages are attribute tables in `ipvs/codec.py`, the socket is
`ipvs/transport.py`, and this module puts the two together as the calls the
writer and the listing make.

`NetlinkIPVS` is synchronous and keeps a single socket. `AsyncIPVS` gives the
daemon the same calls as coroutines: each runs on one dedicated worker thread,
which serialises use of the socket (netlink replies are matched to requests by
sequence number, so two callers must never interleave) and keeps the event loop
free while a large table is read or a long batch is applied. A non-blocking
socket on the loop would not help: ip_vs answers each request synchronously
within the send, and the cost that matters is decoding and encoding thousands of
messages, which is CPU, not waiting.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from ldirectord_py.ipvs import codec
from ldirectord_py.ipvs.codec import Command
from ldirectord_py.ipvs.errors import (
    UNAVAILABLE_MESSAGE,
    IPVSError,
    IPVSUnavailable,
    MalformedReply,
)
from ldirectord_py.ipvs.model import (
    Destination,
    IPVSInfo,
    ServiceKey,
    Table,
    VirtualService,
)
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)
from ldirectord_py.ipvs.reconcile import ApplyReport, Ownership, reconcile
from ldirectord_py.ipvs.transport import GenericNetlink, NetlinkSocket, open_socket

__all__ = [
    "UNAVAILABLE_MESSAGE",
    "AsyncIPVS",
    "IPVSError",
    "IPVSUnavailable",
    "MalformedReply",
    "NetlinkIPVS",
]

_T = TypeVar("_T")


class NetlinkIPVS:
    """ip_vs over one generic netlink socket. Not thread-safe: one caller at a time.

    Raises IPVSUnavailable when the kernel has no ip_vs, IPVSError for every
    refusal, MalformedReply (an IPVSError) for a reply it cannot read. Use as a
    context manager, or call close(). `sock` replaces the kernel (tests).
    """

    #: requests sent in one write when applying many operations
    BATCH = 200
    #: the generic netlink family ip_vs registers
    FAMILY = codec.FAMILY_NAME

    def __init__(self, timeout: float = 10.0, sock: NetlinkSocket | None = None) -> None:
        connection = sock if sock is not None else open_socket(timeout)
        try:
            self._link = GenericNetlink(self.FAMILY, codec.VERSION, connection)
        except IPVSError as e:
            connection.close()
            if e.errno in (errno.ENOENT, errno.EOPNOTSUPP):
                raise IPVSUnavailable() from None
            raise
        except BaseException:
            connection.close()
            raise

    # context management -----------------------------------------------------
    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> NetlinkIPVS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading -------------------------------------------------------------------
    def read_info(self) -> IPVSInfo:
        """Version and connection-table size (the listing header)."""
        action = "read ip_vs info"
        replies = self._link.request(Command.GET_INFO, b"", action)
        try:
            if len(replies) != 1:
                raise MalformedReply(action, f"{len(replies)} answers to GET_INFO")
            return codec.decode_info(replies[0])
        except MalformedReply as e:
            raise e.during(action) from None

    def read_services(self) -> list[VirtualService]:
        """Every service, without destinations, in the kernel's order."""
        action = "read services"
        replies = self._link.request(Command.GET_SERVICE, b"", action, dump=True)
        try:
            return [codec.decode_service(r) for r in replies]
        except MalformedReply as e:
            raise e.during(action) from None

    def read_destinations(self, service: VirtualService) -> list[Destination]:
        """The destinations of one service, in the kernel's order."""
        action = f"read destinations of {service.key}"
        selector = codec.service_selector(service.key)
        replies = self._link.request(Command.GET_DEST, selector, action, dump=True)
        family = service.family
        try:
            return [codec.decode_destination(r, family) for r in replies]
        except MalformedReply as e:
            raise e.during(action) from None

    def read_table(self) -> Table:
        """The whole table with counters and info, as ipvsadm -L would see it."""
        info = self.read_info()
        services = []
        for service in self.read_services():
            try:
                destinations = tuple(self.read_destinations(service))
            except IPVSError as e:
                if e.errno != errno.ESRCH:
                    raise
                continue  # deleted by someone else between the two dumps
            services.append(replace(service, destinations=destinations))
        return Table(tuple(services), info)

    # changing ------------------------------------------------------------------
    def execute(self, operations: Iterable[Operation]) -> list[IPVSError | None]:
        """Carry out operations in order; for each, None or the kernel's refusal.

        Requests go out in batches of BATCH messages per write: the kernel handles
        them in order and acknowledges each, so one refusal does not stop the rest.
        """
        requests = [codec.request_for(op) for op in operations]
        results: list[IPVSError | None] = []
        for start in range(0, len(requests), self.BATCH):
            batch = requests[start : start + self.BATCH]
            results.extend(
                self._link.request_each([(r.command, r.attributes, r.action) for r in batch])
            )
        return results

    def run(self, operation: Operation) -> None:
        """Carry out one operation; raise IPVSError if the kernel refuses it."""
        (error,) = self.execute([operation])
        if error is not None:
            raise error

    def add_service(self, service: VirtualService) -> None:
        self.run(AddService(service))

    def edit_service(self, service: VirtualService) -> None:
        self.run(EditService(service))

    def delete_service(self, key: ServiceKey) -> None:
        self.run(DeleteService(key))

    def add_destination(self, service: ServiceKey, destination: Destination) -> None:
        self.run(AddDestination(service, destination))

    def edit_destination(self, service: ServiceKey, destination: Destination) -> None:
        self.run(EditDestination(service, destination))

    def delete_destination(self, service: ServiceKey, destination: Destination) -> None:
        self.run(DeleteDestination(service, destination.key))

    def flush(self) -> None:
        """Delete every service (ipvsadm -C)."""
        self._link.request(Command.FLUSH, b"", "flush the table", ack=True)

    def zero(self, service: ServiceKey | None = None) -> None:
        """Reset counters, of one service or of all (ipvsadm -Z)."""
        if service is None:
            self._link.request(Command.ZERO, b"", "zero all counters", ack=True)
        else:
            selector = codec.service_selector(service)
            self._link.request(Command.ZERO, selector, f"zero {service}", ack=True)


# --------------------------------------------------------------------- asyncio ----
class AsyncIPVS:
    """NetlinkIPVS for the daemon's event loop: the same calls, awaited.

    All calls run, one at a time, on a single worker thread that owns the socket
    (see the module docstring for why a thread and not a non-blocking socket).
    """

    def __init__(self, backend_factory: Callable[[], NetlinkIPVS] = NetlinkIPVS) -> None:
        self._factory = backend_factory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipvs-netlink")
        self._backend: NetlinkIPVS | None = None

    async def _call(self, method: Callable[[NetlinkIPVS], _T]) -> _T:
        def run() -> _T:
            if self._backend is None:
                self._backend = self._factory()  # may raise IPVSUnavailable: retried next call
            return method(self._backend)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def read_table(self) -> Table:
        return await self._call(lambda b: b.read_table())

    async def read_info(self) -> IPVSInfo:
        return await self._call(lambda b: b.read_info())

    async def execute(self, operations: Sequence[Operation]) -> list[IPVSError | None]:
        return await self._call(lambda b: b.execute(operations))

    async def apply(self, operations: Sequence[Operation]) -> ApplyReport:
        """Carry out a plan (reconcile.plan) and report."""
        return ApplyReport.of(operations, await self.execute(operations))

    async def reconcile(self, desired: Table, owns: Ownership) -> ApplyReport:
        """Read the live table, plan and apply, as one step on the worker."""
        return await self._call(lambda b: reconcile(desired, b, owns))

    async def flush(self) -> None:
        await self._call(lambda b: b.flush())

    async def zero(self, service: ServiceKey | None = None) -> None:
        await self._call(lambda b: b.zero(service))

    async def close(self) -> None:
        def shut() -> None:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)
