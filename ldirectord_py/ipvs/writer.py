"""The one writer of ip_vs: converges the kernel to the latest desired table.

Callers `submit` a desired table whenever it changes and go on; the writer
coalesces submissions (only the newest matters), reads the live table, applies
the difference, and retries with backoff after an error -- including a kernel
without ip_vs, which it reports once ("ip_vs is not available: load the ip_vs
module") and keeps trying. It never blocks the checker or the other writers.

Ownership: the services of the desired table, plus those of earlier desired
tables until a reconcile has removed them (so a virtual dropped on reload goes);
everything else in the kernel is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ldirectord_py.ipvs.model import ServiceKey, Table, VirtualService, bracketed
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSUnavailable
from ldirectord_py.ipvs.operations import AddService, DeleteService, EditService, Operation
from ldirectord_py.ipvs.reconcile import ApplyReport

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0


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


class IPVSWriter:
    def __init__(self, backend: AsyncIPVS, log: Callable[[str], None]) -> None:
        self.backend = backend
        self.log = log
        self.state = WriterState()
        self._desired: tuple[VirtualService, ...] | None = None
        self._owned: set[ServiceKey] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unavailable_reported = False
        self.on_converged_change: Callable[[bool], None] | None = None
        """Called when `state.converged` flips (the anycast policy announces a VIP
        only while its services are programmed)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ipvs-writer")

    def submit(
        self, desired: Iterable[VirtualService], also_owned: Iterable[ServiceKey] = ()
    ) -> None:
        """Make `desired` the target; services in `also_owned` but not in `desired`
        are ours to delete."""
        self._desired = tuple(desired)
        self._owned.update(s.key for s in self._desired)
        self._owned.update(also_owned)
        self._wake.set()

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
        before = self.state.converged
        try:
            return await self._reconcile_desired(self._desired)
        finally:
            if self.state.converged != before and self.on_converged_change is not None:
                try:
                    self.on_converged_change(self.state.converged)
                except Exception as exc:  # a listener's bug must not stop ip_vs writing
                    self.log(f"ip_vs writer: state listener failed: {exc!r}")

    async def _reconcile_desired(
        self, desired_services: tuple[VirtualService, ...]
    ) -> ApplyReport | None:
        desired = Table(desired_services)
        owned = frozenset(self._owned)
        self.state.reconciles += 1
        try:
            report = await self.backend.reconcile(desired, owned.__contains__)
        except IPVSUnavailable as exc:
            self._fail(str(exc), report_once=True)
            return None
        except OSError as exc:
            self._fail(f"reading or writing the ip_vs table failed: {exc}")
            return None
        except ValueError as exc:
            # A desired table the kernel cannot hold (e.g. a persistence timeout over
            # its 31-day limit): say so; the rest of the daemon goes on.
            self._fail(f"ip_vs: the configured table cannot be programmed: {exc}")
            return None
        if self._unavailable_reported:
            self.log("ip_vs is available again; table reconciled")
            self._unavailable_reported = False
        self.state.operations += report.applied
        failed = {id(op) for op, _ in report.failures}
        for operation in report.operations:
            if id(operation) not in failed and (text := service_log_line(operation)):
                self.log(text)
        for operation, error in report.failures:
            self.state.errors += 1
            self.log(f"ip_vs: {operation} failed: {error}")
        if report.ok:
            self.state.converged = True
            self.state.last_ok_at = time.time()
            # what was applied, plus whatever a submit made ours meanwhile
            self._owned = {s.key for s in desired_services} | {s.key for s in self._desired or ()}
        else:
            self.state.converged = False
            self.state.last_error = str(report)
            self.state.last_error_at = time.time()
        return report

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
            self.log(message)


def _where(key: ServiceKey) -> str:
    """The original's `get_virtual`: `ip:port` or the fwmark."""
    if key.fwmark:
        return str(key.fwmark)
    assert key.address is not None
    return f"{bracketed(key.address)}:{key.port}"


def service_log_line(operation: Operation) -> str | None:
    """What the original logs for a service-level change (operators grep for it)."""
    if isinstance(operation, AddService):
        return f"Added virtual server: {_where(operation.service.key)}"
    if isinstance(operation, EditService):
        return f"Changed virtual server: {_where(operation.service.key)}"
    if isinstance(operation, DeleteService):
        return f"Purged virtual server: {_where(operation.key)}"
    return None
