"""Converge the kernel's table to the desired one with the fewest operations.

`plan` is pure: desired table + live table + which services this configuration
owns -> the ordered operations that make the owned part of the live table equal
to the desired table. What it guarantees (tests/unit/ipvs/test_reconcile.py checks
each on random tables):

* A desired table equal to the live one gives no operations; so does planning
  again after applying a plan.
* Services this configuration does not own are never touched: another
  instance's services and an operator's stay exactly as they are.
* A service this configuration owns belongs to it whole: destinations that the
  desired table does not name (added by hand, say) are deleted, missing ones
  added, and an owned service the desired table no longer has is deleted.
* What the kernel can change in place is changed in place: a service's
  scheduler, scheduler flags, persistence, netmask, persistence engine and
  one-packet flag, a destination's forwarding method, weight and thresholds.
  Only a different key (address, port, protocol, fwmark, family) means a
  different entry, which is a delete and an add.
* Every planned operation is needed: leaving any one out leaves a difference.

Destinations are compared as the kernel stores them: a gate or ipip destination
whose port differs from the virtual's is planned on the virtual's port, as
ipvsadm (and so the Perl original) sends it (`VirtualService.stored_destination`).

`apply` carries a plan out on a backend and reports what happened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ldirectord_py.ipvs.model import Destination, ServiceKey, Table, VirtualService
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)

Ownership = Callable[[ServiceKey], bool]


def owned_keys(*tables_or_keys: Table | Iterable[ServiceKey]) -> Ownership:
    """Ownership of exactly these services (e.g. the current config's and, during a
    reload, the previous config's, so that services dropped from the file go)."""
    keys: set[ServiceKey] = set()
    for item in tables_or_keys:
        if isinstance(item, Table):
            keys.update(s.key for s in item.services)
        else:
            keys.update(item)
    return keys.__contains__


def as_stored(service: VirtualService) -> VirtualService:
    """The service with its destinations as the kernel will store them.

    Raises ValueError when two destinations land on the same kernel key (say gate
    reals 10.0.0.1:8080 and 10.0.0.1:80 under a virtual on port 80).
    """
    stored = tuple(service.stored_destination(d) for d in service.destinations)
    seen: dict[object, Destination] = {}
    for original, d in zip(service.destinations, stored, strict=True):
        if d.key in seen:
            raise ValueError(
                f"{service.key}: destinations {seen[d.key]} and {original} are both "
                f"{d.key} in the kernel (only masq keeps its own port)"
            )
        seen[d.key] = original
    if stored == service.destinations:
        return service
    return replace(service, destinations=stored)


def plan(desired: Table, live: Table, owns: Ownership) -> list[Operation]:
    """The ordered operations that turn the owned part of `live` into `desired`.

    Order: deletions of owned services that are no longer desired, then service by
    service in the desired order: the service's add or edit, then destination
    adds, edits and deletes, adds first, so that a pool being replaced never
    goes empty on the way.
    Raises ValueError if `desired` holds a service `owns` disowns, or a value the
    kernel would not store as given (VirtualService.writable, as_stored).
    """
    for service in desired.services:
        if not owns(service.key):
            raise ValueError(f"desired service {service.key} is not owned by this configuration")
        service.writable()
    wanted = {s.key: as_stored(s) for s in desired.services}
    current = {s.key: s for s in live.services if owns(s.key)}

    operations: list[Operation] = [DeleteService(key) for key in current if key not in wanted]
    for key, service in wanted.items():
        existing = current.get(key)
        if existing is None:
            operations.append(AddService(service))
            operations.extend(AddDestination(key, d) for d in service.destinations)
            continue
        if service != existing:
            operations.append(EditService(service))
        operations.extend(_destination_changes(key, service.destinations, existing.destinations))
    return operations


def _destination_changes(
    key: ServiceKey, wanted: Sequence[Destination], existing: Sequence[Destination]
) -> list[Operation]:
    have = {d.key: d for d in existing}
    want = {d.key: d for d in wanted}
    adds: list[Operation] = [AddDestination(key, d) for k, d in want.items() if k not in have]
    edits: list[Operation] = [
        EditDestination(key, d) for k, d in want.items() if k in have and have[k] != d
    ]
    deletes: list[Operation] = [DeleteDestination(key, k) for k in have if k not in want]
    return adds + edits + deletes


# ------------------------------------------------------------------- applying ----
class Backend(Protocol):
    """What `apply` needs: carry out operations in order, one result each."""

    def execute(self, operations: Sequence[Operation]) -> Sequence[Exception | None]: ...


@dataclass(frozen=True)
class ApplyReport:
    """What applying a plan did: every operation, and the ones the kernel refused."""

    operations: tuple[Operation, ...]
    failures: tuple[tuple[Operation, Exception], ...]

    @classmethod
    def of(
        cls, operations: Sequence[Operation], results: Sequence[Exception | None]
    ) -> ApplyReport:
        if len(results) != len(operations):
            raise ValueError("one result per operation expected")
        failures = tuple((op, r) for op, r in zip(operations, results, strict=True) if r)
        return cls(tuple(operations), failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def applied(self) -> int:
        return len(self.operations) - len(self.failures)

    def counts(self) -> Counter[str]:
        """Operations carried out, by kind: {"add destination": 3, "edit service": 1}."""
        attempted = Counter(_kind(op) for op in self.operations)
        return attempted - Counter(_kind(op) for op, _ in self.failures)

    def __str__(self) -> str:
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts().items())) or "nothing"
        text = f"ip_vs: {done}"
        if self.failures:
            text += f"; {len(self.failures)} failed: " + "; ".join(
                str(error) for _, error in self.failures
            )
        return text


def _kind(op: Operation) -> str:
    """`add service`, `edit destination`, ... (the first two words of str(op))."""
    return " ".join(str(op).split()[:2])


def apply(operations: Sequence[Operation], backend: Backend) -> ApplyReport:
    """Carry out a plan; every operation is attempted, refusals are reported."""
    if not operations:
        return ApplyReport((), ())
    return ApplyReport.of(operations, backend.execute(operations))


def reconcile(desired: Table, backend: ReadableBackend, owns: Ownership) -> ApplyReport:
    """Read the live table, plan, apply: one convergence step."""
    return apply(plan(desired, backend.read_table(), owns), backend)


class ReadableBackend(Backend, Protocol):
    def read_table(self) -> Table: ...
