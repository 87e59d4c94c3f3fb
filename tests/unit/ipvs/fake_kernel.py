"""An in-memory ip_vs that refuses what the real one refuses (verified in tests/kernel).

It keeps services and destinations in insertion order and answers each operation
as the kernel does: EEXIST for a duplicate, ESRCH for a missing service, ENOENT
for a missing destination.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import replace

from ldirectord_py.ipvs.model import Table, VirtualService
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)


class FakeKernelError(OSError):
    pass


class FakeKernel:
    def __init__(self, table: Table | None = None) -> None:
        table = table or Table()
        self.services: dict[object, VirtualService] = {s.key: s for s in table.services}
        self.executed: list[Operation] = []

    def read_table(self) -> Table:
        return Table(tuple(self.services.values()))

    def execute(self, operations: Sequence[Operation]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for op in operations:
            self.executed.append(op)
            try:
                self._one(op)
                results.append(None)
            except FakeKernelError as e:
                results.append(e)
        return results

    def _service(self, key: object) -> VirtualService:
        if key not in self.services:
            raise FakeKernelError(errno.ESRCH, f"{key}: no such service")
        return self.services[key]

    def _one(self, op: Operation) -> None:
        match op:
            case AddService(service):
                if service.key in self.services:
                    raise FakeKernelError(errno.EEXIST, str(op))
                self.services[service.key] = replace(service, destinations=())
            case EditService(service):
                old = self._service(service.key)
                self.services[service.key] = replace(service, destinations=old.destinations)
            case DeleteService(key):
                self._service(key)
                del self.services[key]
            case AddDestination(key, destination):
                s = self._service(key)
                if s.destination(destination.key) is not None:
                    raise FakeKernelError(errno.EEXIST, str(op))
                self.services[key] = replace(s, destinations=(*s.destinations, destination))
            case EditDestination(key, destination):
                s = self._service(key)
                if s.destination(destination.key) is None:
                    raise FakeKernelError(errno.ENOENT, str(op))
                self.services[key] = replace(
                    s,
                    destinations=tuple(
                        destination if d.key == destination.key else d for d in s.destinations
                    ),
                )
            case DeleteDestination(key, dkey):
                s = self._service(key)
                if s.destination(dkey) is None:
                    raise FakeKernelError(errno.ENOENT, str(op))
                self.services[key] = replace(
                    s, destinations=tuple(d for d in s.destinations if d.key != dkey)
                )
