"""The one writer of ip_vs: converges the kernel to the latest desired table.

Callers `submit` a desired table whenever it changes and go on; the writer
coalesces submissions (only the newest matters), reads the live table, applies
the difference, and retries with backoff after an error -- including a kernel
without ip_vs, which it reports once ("ip_vs is not available: load the ip_vs
module") and keeps trying. It never blocks the checker or the other writers.

Ownership: the services of the desired table, plus those of earlier desired
tables until a reconcile has removed them (so a virtual dropped on reload goes);
everything else in the kernel is left alone.

Dataplane truth is per service (`DataplaneView`): which desired services the
kernel holds, and which it refused and why. A service the kernel refuses (an
unknown scheduler, a value it cannot store) is an error for that service only:
the others are programmed and reported programmed, and anycast routes follow
their own services (engine/anycast.py), never a global flag.

Unexpected exceptions (a bug, a reply that does not decode) are not caught
here: they end the task, and the daemon's WriterSupervisor logs the traceback,
counts it and starts the writer again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ldirectord_py.ipvs.model import (
    DestinationKey,
    ServiceKey,
    Table,
    VirtualService,
    bracketed,
)
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSUnavailable
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)
from ldirectord_py.ipvs.reconcile import ApplyReport, as_stored
from ldirectord_py.observe.schema import DataplaneSnapshot

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
VALIDATE_SLICE = 500
"""Services checked for what the kernel can hold between two yields to the loop."""


@dataclass(frozen=True)
class DataplaneView:
    """Per service, what the kernel holds: the anycast policy's dataplane input.

    `programmed`: desired services present in the kernel after the last attempt
    (a failed edit leaves the old service forwarding: still programmed).
    `refused`: per service, why the kernel would not take it as desired.
    `unavailable`: why ip_vs itself cannot be used (then nothing is programmed).
    `version` changes whenever anything else here does."""

    version: int = 0
    programmed: frozenset[ServiceKey] = frozenset()
    refused: tuple[tuple[ServiceKey, str], ...] = ()
    unavailable: str | None = None

    def refusal(self, key: ServiceKey) -> str | None:
        return next((why for k, why in self.refused if k == key), None)


@dataclass
class WriterState:
    """What status output reports about the dataplane."""

    converged: bool = False
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None
    operations: int = 0
    errors: int = 0
    reconciles: int = 0
    view: DataplaneView = field(default_factory=DataplaneView)
    weights: Mapping[ServiceKey, Mapping[DestinationKey, int]] = field(default_factory=dict)
    """Per desired service the kernel holds: each destination's weight there, after
    the last attempt (the kernel's truth, where the desired table is the intent)."""
    busy_since: float | None = None
    """Monotonic start of the attempt in progress (None while idle): the supervisor's
    evidence of a writer stuck in the kernel."""


class IPVSWriter:
    def __init__(
        self,
        backend: AsyncIPVS,
        log: Callable[[str], None],
        problem: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self.log = log
        self.problem = problem if problem is not None else log
        """Where failures and refusals go (a higher log priority than `log`)."""
        self.state = WriterState()
        self._desired: tuple[VirtualService, ...] | None = None
        self._owned: set[ServiceKey] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unavailable_reported = False
        self._submitted = 0
        self._attempted = 0
        self._logged_refusals: dict[ServiceKey, str] = {}
        self.on_dataplane_change: Callable[[DataplaneView], None] | None = None
        """Called when `state.view` changes (the anycast policy announces a VIP only
        while its own services are programmed)."""

    def snapshot(self) -> DataplaneSnapshot:
        """What status and metrics say about the dataplane (as the route writers'
        own `snapshot()` does for theirs)."""
        state, view = self.state, self.state.view
        return DataplaneSnapshot(
            converged=state.converged,
            last_error=state.last_error,
            last_error_at=state.last_error_at,
            last_ok_at=state.last_ok_at,
            operations=state.operations,
            errors=state.errors,
            reconciles=state.reconciles,
            available=view.unavailable is None,
            unavailable=view.unavailable,
            refused={str(k): why for k, why in view.refused},
        )

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    @property
    def busy_since(self) -> float | None:
        return self.state.busy_since

    def start(self) -> None:
        """Start (or, after the task ended on an error, restart) the writer task."""
        if self._task is None or self._task.done():
            self.state.busy_since = None
            self._wake.set()  # converge again whatever was submitted meanwhile
            self._task = asyncio.create_task(self._run(), name="ipvs-writer")

    def submit(
        self, desired: Iterable[VirtualService], also_owned: Iterable[ServiceKey] = ()
    ) -> None:
        """Make `desired` the target; services in `also_owned` but not in `desired`
        are ours to delete."""
        self._desired = tuple(desired)
        self._owned.update(s.key for s in self._desired)
        self._owned.update(also_owned)
        self._submitted += 1
        self._wake.set()

    async def settled(self, timeout: float) -> bool:
        """Wait until an attempt has been made for everything submitted so far (the
        result is in `state.view`); False on timeout."""
        wanted = self._submitted
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._attempted < wanted:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def converge_now(self) -> ApplyReport | None:
        """One reconcile, awaited (used on stop, after the writer task has ended)."""
        return await self._reconcile_once()

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            report = await self._reconcile_once()
            if report is not None and report.ok:
                delay = BACKOFF_FIRST
                continue
            # Failed: try again later even if nothing new is submitted. (Not
            # wait_for: on Python 3.11 it swallows a cancel that arrives as the
            # wake-up does, and the writer would then never stop.)
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({woken}, timeout=delay)
            finally:
                woken.cancel()
            delay = min(delay * 2, BACKOFF_MAX)
            self._wake.set()

    async def _reconcile_once(self) -> ApplyReport | None:
        if self._desired is None:
            return None
        attempt = self._submitted
        before = self.state.view
        self.state.busy_since = time.monotonic()
        try:
            return await self._reconcile_desired(self._desired)
        finally:
            self.state.busy_since = None
            self._attempted = max(self._attempted, attempt)
            if self.state.view != before and self.on_dataplane_change is not None:
                try:
                    self.on_dataplane_change(self.state.view)
                except Exception as exc:  # a listener's bug must not stop ip_vs writing
                    self.problem(f"ip_vs writer: state listener failed: {exc!r}")

    async def _reconcile_desired(
        self, desired_services: tuple[VirtualService, ...]
    ) -> ApplyReport | None:
        # A service the kernel could not hold as given (a persistence timeout over
        # its 31-day limit, two reals on one kernel key) is refused on its own; it
        # is left as it is in the kernel, and every other service is programmed.
        refused: dict[ServiceKey, str] = {}
        writable: list[VirtualService] = []
        stored: list[VirtualService] = []
        for index, service in enumerate(desired_services):
            if index % VALIDATE_SLICE == VALIDATE_SLICE - 1:
                await asyncio.sleep(0)  # tens of thousands of services: let checks run
            try:
                service.writable()
                stored.append(as_stored(service))
            except ValueError as exc:
                refused[service.key] = f"cannot be programmed: {exc}"
                continue
            writable.append(service)
        desired = Table(tuple(writable))
        owned = frozenset(self._owned) - refused.keys()
        self.state.reconciles += 1
        try:
            report = await self.backend.reconcile(desired, owned.__contains__)
        except IPVSUnavailable as exc:
            self._fail(str(exc), report_once=True)
            self._set_view(frozenset(), {}, unavailable=str(exc))
            self.state.weights = {}
            return None
        except OSError as exc:
            # What the kernel holds is unknown: the last answer stands.
            self._fail(f"reading or writing the ip_vs table failed: {exc}")
            return None
        if self._unavailable_reported:
            self.log("ip_vs is available again; table reconciled")
            self._unavailable_reported = False
        self.state.operations += report.applied
        failed = {id(op) for op, _ in report.failures}
        for operation in report.operations:
            if id(operation) not in failed and (text := service_log_line(operation)):
                self.log(text)
        not_added: set[ServiceKey] = set()
        for operation, error in report.failures:
            self.state.errors += 1
            key = operation_service(operation)
            refused.setdefault(key, f"ip_vs refused {operation}: {error}")
            if isinstance(operation, AddService):
                not_added.add(key)
        self._log_refusals(refused)
        previous = self.state.view.programmed
        programmed = {s.key for s in writable if s.key not in not_added}
        programmed |= {k for k in refused if k in previous and k not in not_added}
        wanted = {s.key for s in desired_services}
        self._set_view(frozenset(programmed & wanted), refused, unavailable=None)
        self.state.weights = _held_weights(
            self.state.weights, stored, report, frozenset(programmed & wanted)
        )
        if report.ok and not refused:
            self.state.converged = True
            self.state.last_ok_at = time.time()
            self.state.last_error = None
            # what was applied, plus whatever a submit made ours meanwhile
            self._owned = {s.key for s in desired_services} | {s.key for s in self._desired or ()}
        else:
            self.state.converged = False
            self.state.last_error = "; ".join(f"{k}: {why}" for k, why in refused.items())
            self.state.last_error_at = time.time()
        return report

    def _set_view(
        self,
        programmed: frozenset[ServiceKey],
        refused: dict[ServiceKey, str],
        *,
        unavailable: str | None,
    ) -> None:
        view = self.state.view
        items = tuple(sorted(refused.items(), key=lambda item: str(item[0])))
        if (view.programmed, view.refused, view.unavailable) != (programmed, items, unavailable):
            self.state.view = DataplaneView(view.version + 1, programmed, items, unavailable)

    def _log_refusals(self, refused: dict[ServiceKey, str]) -> None:
        """Each refusal once, not every retry (retries back off to every 30 s)."""
        for key, why in refused.items():
            if self._logged_refusals.get(key) != why:
                self.problem(f"ip_vs: service {_where(key)} not programmed: {why}")
        for key in self._logged_refusals.keys() - refused.keys():
            self.log(f"ip_vs: service {_where(key)} no longer refused")
        self._logged_refusals = dict(refused)

    def _fail(self, message: str, *, report_once: bool = False) -> None:
        """Record a failed attempt; log it unless it repeats the previous failure
        (retries back off to every 30 s and must not flood the log)."""
        repeated = message == self.state.last_error
        self.state.converged = False
        self.state.errors += 1
        self.state.last_error, self.state.last_error_at = message, time.time()
        if report_once:
            if self._unavailable_reported:
                return
            self._unavailable_reported = True
        if not repeated:
            self.problem(message)


def _held_weights(
    previous: Mapping[ServiceKey, Mapping[DestinationKey, int]],
    stored: Iterable[VirtualService],
    report: ApplyReport,
    programmed: frozenset[ServiceKey],
) -> dict[ServiceKey, Mapping[DestinationKey, int]]:
    """The weights the kernel holds after `report`: a service whose operations all
    succeeded holds the desired destinations; one with a failure holds what it
    held before plus the operations that succeeded. `stored`: the services
    written, as the kernel stores them."""
    failed_services = {operation_service(op) for op, _ in report.failures}
    out: dict[ServiceKey, Mapping[DestinationKey, int]] = {}
    for service in stored:
        if service.key in programmed and service.key not in failed_services:
            out[service.key] = {d.key: d.weight for d in service.destinations}
    failed_ops = {id(op) for op, _ in report.failures}
    partial = {k: dict(previous.get(k, {})) for k in failed_services if k in programmed}
    for operation in report.operations:
        if id(operation) in failed_ops:
            continue
        key = operation_service(operation)
        held = partial.get(key)
        if held is None:
            continue
        if isinstance(operation, AddDestination | EditDestination):
            held[operation.destination.key] = operation.destination.weight
        elif isinstance(operation, DeleteDestination):
            held.pop(operation.destination, None)
    out.update(partial)
    for key in programmed - out.keys():  # refused before writing: left as it was
        if key in previous:
            out[key] = previous[key]
    return out


def _where(key: ServiceKey) -> str:
    """The original's `get_virtual`: `ip:port` or the fwmark."""
    if key.fwmark:
        return str(key.fwmark)
    assert key.address is not None
    return f"{bracketed(key.address)}:{key.port}"


def operation_service(operation: Operation) -> ServiceKey:
    """The service an operation is about."""
    if isinstance(operation, AddService | EditService):
        return operation.service.key
    if isinstance(operation, DeleteService):
        return operation.key
    assert isinstance(operation, AddDestination | EditDestination | DeleteDestination)
    return operation.service


def service_log_line(operation: Operation) -> str | None:
    """What the original logs for a service-level change (operators grep for it)."""
    if isinstance(operation, AddService):
        return f"Added virtual server: {_where(operation.service.key)}"
    if isinstance(operation, EditService):
        return f"Changed virtual server: {_where(operation.service.key)}"
    if isinstance(operation, DeleteService):
        return f"Purged virtual server: {_where(operation.key)}"
    return None
