"""The Director that does the real work: checks in, ip_vs out.

The scheduler runs the checks and hands each result to the engine; the engine
decides; the writers act -- the ip_vs writer converges the kernel, the command
queue runs fallbackcommands one at a time in order, monitor lines are appended,
log lines logged. Nothing here decides anything itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any

from ldirectord_py.checks.result import CheckResult
from ldirectord_py.checks.runner import CombinedState, run_check
from ldirectord_py.checks.scheduler import Scheduler
from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.config import Config, Real
from ldirectord_py.daemon import shell
from ldirectord_py.daemon.anycast import AnycastCoordinator
from ldirectord_py.daemon.drains import DrainStore
from ldirectord_py.daemon.mailer import Mailer
from ldirectord_py.daemon.mainloop import STOP_BOUND
from ldirectord_py.daemon.maintenance import MaintenanceDirectory
from ldirectord_py.daemon.offloop import collector_paused, in_thread, release_in_slices
from ldirectord_py.daemon.planned_maintenance import STOP_RESERVE, MaintenanceControl
from ldirectord_py.daemon.reload_plan import plan_reload, refused_services
from ldirectord_py.daemon.snapshot import KernelHolds, StatusBook, encode
from ldirectord_py.daemon.stall import WatchdogRule
from ldirectord_py.daemon.supervisor import SupervisedWriter, WriterSupervisor
from ldirectord_py.engine import Alert, Effect, Engine, LogLine, MonitorLine, RunCommand
from ldirectord_py.engine.drain import DrainKey, apply_drains
from ldirectord_py.engine.table import destination_for
from ldirectord_py.ipvs.model import Destination, ServiceKey, Table, VirtualService
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSError
from ldirectord_py.ipvs.writer import DataplaneView, IPVSWriter
from ldirectord_py.observe.log import Log, localtime_text
from ldirectord_py.observe.metrics import Metrics
from ldirectord_py.observe.reloads import ReloadResult
from ldirectord_py.observe.schema import (
    SCHEMA_VERSION,
    DataplaneSnapshot,
    PlannedMaintenanceSnapshot,
    StatusSnapshot,
    VirtualSnapshot,
    WatchdogSnapshot,
    WriterHealthSnapshot,
    build_info,
)
from ldirectord_py.runpaths import RunPaths

BUILD = build_info()
MAINTENANCE_REASON = "Server in maintenance"
# Thousands of checks a second allocate (and free, by reference counting) hundreds
# of thousands of small objects: with the default threshold (700) the collector
# runs hundreds of times a second and its full passes over the configuration,
# engine and scheduler objects stall the loop at 10,000 reals (bench/README.md,
# "Figures that stood in docstrings").
GC_THRESHOLDS = (10_000, 10, 10)


def settle_gc() -> None:
    """Collect once, then move everything alive now (configuration, engine,
    scheduler entries) out of the collector's sight, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


RELOAD_PLAN_TIMEOUT = 60.0
"""How long preparing the next engine may take (off the loop) before the reload fails."""
REPLAY_SLICE = 500
"""Held results recorded between two yields to the loop after a reload."""
STOP_CONVERGE_TIMEOUT = 3.0
"""cleanstop: how long the last reconcile may take (inside the daemon's stop bound)."""
STOP_COMMANDS_WAIT = 2.0
"""stop: how long queued fallbackcommands may still run before they are killed."""
RELOAD_SETTLE_TIMEOUT = 10.0
"""How long `ldirectordctl reload` waits for ip_vs to take the new table before it
answers (the answer names every service the kernel refused)."""
READY_TIMEOUT = 10.0
"""How long readiness waits for the dataplane after the first round."""
TICK_INTERVAL = 1.0


class CheckingDirector:
    """Checks every real and keeps ip_vs, fallbacks and fallbackcommands in line."""

    def __init__(
        self,
        log: Log,
        *,
        ipvs_factory: Callable[[], AsyncIPVS] = AsyncIPVS,
        clock: Callable[[], float] = time.monotonic,
        anycast: AnycastCoordinator | None = None,
    ) -> None:
        self.log = log
        self.clock = clock
        self.ipvs = ipvs_factory()
        self.writer = IPVSWriter(self.ipvs, log.info)
        self.writer.on_dataplane_change = self._dataplane_changed
        self.anycast = anycast if anycast is not None else AnycastCoordinator(log, clock=clock)
        self.supervisor = WriterSupervisor(log.info, self._writers)
        self.drains = DrainStore(None)
        self.planned = MaintenanceControl(log, self.anycast, clock=clock)
        """`ldirectordctl maintenance`, and the wait for traffic to move on stop."""
        self._drain_cache: tuple[Config, frozenset[DrainKey], frozenset[DrainKey]] | None = None
        self.metrics: Metrics | None = None
        self._metric_names_for: Config | None = None
        self._metric_names_cache: dict[str, str] = {}
        self.config_path: str | None = None
        self.last_reload: ReloadResult | None = None
        """Set by the main loop after each reload; shown in the status and metrics."""
        self.started_at = time.time()
        self.last_result_at: float | None = None
        self._first_round_done = asyncio.Event()
        self.stalled = False
        self._stall_limit: float | None = None
        self._watch_since = clock()
        """Monotonic time of the last check result: the watchdog's evidence."""
        self.engine: Engine | None = None
        self.scheduler: Scheduler | None = None
        self._commands: asyncio.Queue[RunCommand] = asyncio.Queue()
        self._command_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._maintenance_hits: set[str] = set()
        # Per-result work is batched per loop iteration: monitor lines are appended
        # with one open() per file, and the desired table is handed to the writer
        # only when the engine's decisions changed it.
        self._monitor_lines: dict[str, list[str]] = {}
        self._submitted: tuple[Engine, int] | None = None
        self._flush_handle: asyncio.Handle | None = None
        self.mailer = Mailer(log)
        self._maintenance: MaintenanceDirectory | None = None
        self.status_word = "starting"
        """The original's daemon status, which `emailalertstatus` filters on."""
        self._book: StatusBook | None = None
        self._document: asyncio.Task[bytes] | None = None
        self._held: list[tuple[str, CheckResult, bool]] | None = None
        """Check results that arrived while a reload prepares the next engine."""
        self._specs: tuple[CheckSpec, ...] = ()
        """What the scheduler runs now."""

    # ---------------------------------------------------------------- Director

    def use_state_file(self, drain_path: str) -> None:
        """Where drained reals are kept (next to the pid file; before start)."""
        self.drains = DrainStore(drain_path)
        if self.drains.load_error:
            self.log.info(f"Drained reals: {self.drains.load_error}")
        self.planned.use_file(RunPaths.beside(drain_path).maintenance)

    async def start(self, config: Config) -> None:
        self.config_path = config.path
        live = await self._read_live()
        self.engine = Engine(config, self.clock(), live=live)
        self._book = StatusBook(self.engine, self._drain_keys(), self._wall_offset)
        self._use_maintenancedir(config)
        self._use_metrics(config)
        self._command_task = asyncio.create_task(self._run_commands(), name="commands")
        self.writer.start()
        await self.anycast.start(config)
        self.supervisor.start()
        self._apply(self.engine.take_effects())
        self.scheduler = Scheduler(self._on_result, runner=self._run)
        self._specs = tuple(self._check_specs())
        self.scheduler.update(self._specs)
        self.scheduler.start()
        settle_gc()
        # The original checks every real once while starting: so do we, at once.
        self._spawn(self._first_round(self.scheduler.check_now()))
        self._spawn(self._tick())

    async def reload(self, config: Config) -> None:
        """The next engine is prepared off the loop (see reload_plan) while the
        running one keeps checking; the switch itself is one short step."""
        assert self.engine is not None and self.scheduler is not None
        running, now, specs = self.engine, self.clock(), self._specs
        self._held = []
        try:
            with collector_paused():
                plan = await in_thread(
                    lambda: plan_reload(running, config, now, self._wall_offset, specs),
                    RELOAD_PLAN_TIMEOUT,
                    "ldirectord-plan",
                )
        except BaseException:
            await self._replay_held()  # into the running engine, which stays
            raise
        if self.engine is not running:  # pragma: no cover - reloads are serialised
            raise RuntimeError("the engine changed while a reload was prepared")
        retired: list[object] = [running, self._book]
        self.engine = plan.engine
        plan.book.carry_failures(self._book)
        self._book = plan.book
        self._book.set_drains(self._drain_keys())
        self.config_path = config.path
        self._watch_since = self.clock()
        self._use_maintenancedir(config)
        self._use_metrics(config)
        await self.anycast.reload(config)
        if plan.same_desired:
            # the writer already holds this table (and owns its services)
            self._submitted = (self.engine, self.engine.version)
            self._apply(plan.effects)
            self.anycast.update(self.engine, self.writer.state.view)
        else:
            self._apply(plan.effects, also_owned=plan.old_keys)
        await self._replay_held()
        new: frozenset[str] = frozenset()
        if not plan.same_checks:
            new = self.scheduler.update(plan.specs)
            retired.append(self._specs)
            self._specs = plan.specs
        gc.freeze()  # the switch's objects too; no collection (see collector_paused)
        release_in_slices(*retired)  # freed a few objects at a time, never in one piece
        if new:
            self.status_word = "reloading"
            self._spawn(self._first_round(self.scheduler.check_now(new)))

    async def refused_services(self, timeout: float = RELOAD_SETTLE_TIMEOUT) -> list[str]:
        """The running config's services that the kernel refused (after one attempt
        at the table submitted so far): `ldirectordctl reload` exits 1 naming them."""
        await self.writer.settled(timeout)
        if self.engine is None:
            return []
        return await refused_services(self.engine, self.writer.state.view)

    async def stop(self) -> None:
        """Routes first, then checks, pools and commands: each step on its own, so
        one that fails or hangs is logged and the next still runs (the daemon
        bounds the whole, mainloop.STOP_BOUND)."""
        self.status_word = "stopping"
        started = self.clock()
        await self.supervisor.stop()  # writers stopped on purpose are not restarted
        # Routes first: a router must stop sending traffic here before the pools
        # go (the other order black-holes it), unless anycaststop = keep.
        await self._stop_step("withdrawing anycast routes", self.anycast.stop())
        await self._stop_step(
            "waiting for traffic to the anycast VIPs to stop",
            self.planned.wait_on_stop(
                self.engine.config if self.engine else None,
                STOP_BOUND - STOP_RESERVE - (self.clock() - started),
            ),
        )
        if self.scheduler is not None:
            await self._stop_step("stopping the health checks", self.scheduler.stop())
        self._flush()
        for task in list(self._tasks):
            task.cancel()
        await self._stop_step("stopping the ip_vs writer", self.writer.stop())
        if self.engine is not None:
            await self._stop_step("cleanstop", self._clean_stop(self.engine))
        if self._command_task is not None:
            await self._stop_step("finishing fallbackcommands", self._drain_commands())
        await self._stop_step("sending alerts", self.mailer.drain())
        await self._stop_step("closing ip_vs", self.ipvs.close())
        if self.metrics is not None:
            try:
                self.metrics.close()
            except Exception as exc:
                self.log.info(f"Error while closing the metrics exporter: {exc!r}")

    async def _clean_stop(self, engine: Engine) -> None:
        remove = set(engine.cleanstop_keys())
        keep = [s for s in engine.desired() if s.key not in remove]
        self.writer.submit(keep, also_owned=remove)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.writer.converge_now(), STOP_CONVERGE_TIMEOUT)

    async def _stop_step(self, what: str, step: Coroutine[Any, Any, Any]) -> None:
        try:
            await step
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.info(f"Error while stopping ({what}): {type(exc).__name__}: {exc}")

    def snapshot(self) -> StatusSnapshot:
        """Each virtual's reals with their check state and weights, and the
        dataplane's and the writers' state (brought up to date now:
        `snapshot_fresh` does it without blocking the loop)."""
        book = self._book
        if book is None:
            return self._status_header(())
        book.set_kernel(self._kernel_holds())
        book.refresh()
        return self._status_header(tuple(book.entries))

    def status(self) -> dict[str, Any]:
        """The snapshot as JSON data (the Director protocol's status; the main loop
        polls it for the watchdog, so unchanged entries are not converted again)."""
        book = self._book
        if book is None:
            return self._status_header(()).to_json()
        book.set_kernel(self._kernel_holds())
        book.refresh()
        return self._status_header(()).header_json() | {"virtuals": book.entries_json()}

    async def snapshot_fresh(self) -> StatusSnapshot:
        """snapshot(), with the entries brought up to date in slices."""
        book = self._book
        if book is None:
            return self._status_header(())
        book.set_kernel(self._kernel_holds())
        await book.refresh_sliced()
        return self.snapshot()

    async def status_document(self) -> bytes:
        """The snapshot as one line of JSON, for the control socket. Requests that
        arrive while one is being built share it."""
        task = self._document
        if task is None or task.done():
            task = asyncio.create_task(self._build_document())
            self._document = task
        return await asyncio.shield(task)

    async def _build_document(self) -> bytes:
        book = self._book
        if book is None:
            return await encode(self._status_header(()))
        book.set_kernel(self._kernel_holds())
        await book.refresh_sliced()
        return await encode(self._status_header(tuple(book.entries)))

    def _wall_offset(self) -> float:
        return time.time() - self.clock()

    def _kernel_holds(self) -> KernelHolds:
        state = self.writer.state
        return KernelHolds(state.view.programmed, state.weights)

    def _status_header(self, virtuals: tuple[VirtualSnapshot, ...]) -> StatusSnapshot:
        """The snapshot around `virtuals` (cheap: no per-real work)."""
        writer = self.writer.state
        view = writer.view
        store = self.planned.store
        return StatusSnapshot(
            schema=SCHEMA_VERSION,
            status=self.status_word,
            config=self.config_path,
            pid=os.getpid(),
            started_at=self.started_at,
            last_result_at=self.last_result_at if self._has_checks() else self.clock(),
            build=BUILD,
            dataplane=DataplaneSnapshot(
                converged=writer.converged,
                last_error=writer.last_error,
                last_error_at=writer.last_error_at,
                last_ok_at=writer.last_ok_at,
                operations=writer.operations,
                errors=writer.errors,
                reconciles=writer.reconciles,
                available=view.unavailable is None,
                unavailable=view.unavailable,
                refused={str(k): why for k, why in view.refused},
            ),
            drained=tuple(sorted(str(k) for k in self.drains.keys)),
            watchdog=WatchdogSnapshot(
                stalled=self.stalled,
                limit=self._stall_limit,
                last_result_age=None
                if self.last_result_at is None
                else round(self.clock() - self.last_result_at, 3),
            ),
            anycast=self.anycast.snapshot(),
            planned_maintenance=PlannedMaintenanceSnapshot(
                vips=dict(sorted(store.vips.items())),
                file=store.path,
                load_error=store.load_error,
                last=self.planned.last_outcome,
            ),
            writers={
                name: WriterHealthSnapshot(
                    crashes=h.crashes,
                    last_crash=h.last_crash,
                    last_crash_at=h.last_crash_at,
                    restarting=h.restart_at is not None,
                    stalled=h.stalled,
                )
                for name, h in sorted(self.supervisor.health.items())
            },
            last_reload=None if self.last_reload is None else self.last_reload.snapshot(),
            virtuals=virtuals,
        )

    # ---------------------------------------------------------------- plumbing

    def _check_specs(self) -> Iterable[CheckSpec]:
        assert self.engine is not None
        for target in self.engine.checks():
            yield CheckSpec.for_real(target.virtual, target.real)

    async def _read_live(self) -> dict[ServiceKey, VirtualService] | None:
        try:
            table: Table = await self.ipvs.read_table()
        except IPVSError as exc:
            self.log.info(f"{exc}; the table is programmed once it is")
            return None
        except Exception as exc:
            # A reply that does not decode must not stop the daemon from starting:
            # the writer reads the table again (and is supervised).
            self.log.info(f"Reading the ip_vs table failed: {type(exc).__name__}: {exc}")
            return None
        return {s.key: s for s in table.services}

    def _use_maintenancedir(self, config: Config) -> None:
        path = config.settings.maintenancedir
        if path is None:
            self._maintenance = None
        elif self._maintenance is None or self._maintenance.path != path:
            self._maintenance = MaintenanceDirectory(path)

    async def _run(self, spec: CheckSpec, combined: CombinedState | None) -> CheckResult:
        assert self.engine is not None
        if self._maintenance is not None and await self._maintenance.holds(
            spec.address, spec.family, spec.port
        ):
            self._maintenance_hits.add(spec.identity)
            self.last_result_at = self.clock()  # decided: the checker is alive
            return CheckResult(False, MAINTENANCE_REASON, 0.0)
        self._maintenance_hits.discard(spec.identity)
        result = await run_check(spec, combined)
        self.last_result_at = self.clock()
        if self.metrics is not None:
            self.metrics.observe_check(spec.checktype, result.ok, result.reason, result.latency)
        return result

    def _on_result(self, identity: str, result: CheckResult) -> None:
        if self.engine is None:
            return
        maintenance = identity in self._maintenance_hits
        if self._held is not None:  # a reload is reading the engine: later
            self._held.append((identity, result, maintenance))
            return
        self._record(identity, result, maintenance)

    async def _replay_held(self) -> None:
        """Record the held results, in slices; results arriving meanwhile are held
        behind them, so each real's results stay in order."""
        held = self._held
        while held:
            batch = held[:REPLAY_SLICE]
            del held[:REPLAY_SLICE]
            for identity, result, maintenance in batch:
                self._record(identity, result, maintenance)
            if held:
                await asyncio.sleep(0)
        self._held = None

    def _record(self, identity: str, result: CheckResult, maintenance: bool) -> None:
        assert self.engine is not None
        effects = self.engine.record(
            identity,
            result.ok,
            result.reason,
            self.clock(),
            result.latency,
            maintenance=maintenance,
        )
        if self._book is not None:
            self._book.mark(identity, result.ok)
        self._apply(effects)

    def _apply(self, effects: list[Effect], also_owned: Iterable[ServiceKey] | None = None) -> None:
        assert self.engine is not None
        for effect in effects:
            if isinstance(effect, MonitorLine):
                self._monitor_lines.setdefault(effect.path, []).append(effect.text)
            elif isinstance(effect, LogLine):
                self.log.info(effect.text)
                if self.metrics is not None:
                    self.metrics.observe_log(effect.text, self._metric_names())
            elif isinstance(effect, RunCommand):
                self._commands.put_nowait(effect)
            elif isinstance(effect, Alert):
                self.mailer.send(effect, self.status_word)
        if also_owned is not None:
            self._submit(also_owned)
        elif self._flush_handle is None and (
            self._monitor_lines or self._submitted != (self.engine, self.engine.version)
        ):
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _submit(self, also_owned: Iterable[ServiceKey] = ()) -> None:
        assert self.engine is not None
        self._submitted = (self.engine, self.engine.version)
        self.writer.submit(apply_drains(self.engine.desired(), self._drain_keys()), also_owned)
        self.anycast.update(self.engine, self.writer.state.view)

    def _drain_keys(self) -> frozenset[DrainKey]:
        """The drained reals as the kernel stores them: a gate real on another port
        than its virtual's is stored on the virtual's port, so `drain ADDR:PORT`
        with the configured port means that stored form too."""
        if not self.drains.keys or self.engine is None:
            return frozenset()
        cache_key = frozenset(self.drains.keys)
        cached = self._drain_cache
        if cached is not None and cached[0] is self.engine.config and cached[1] == cache_key:
            return cached[2]
        keys = set(self.drains.keys)
        for _service, real, destination, stored in self._configured_reals():
            for key in self.drains.keys:
                if key.port == real.port and key.matches(destination):
                    keys.add(DrainKey(key.address, stored.port))
        result = frozenset(keys)
        self._drain_cache = (self.engine.config, cache_key, result)
        return result

    def _has_checks(self) -> bool:
        """False when nothing is checked (no virtual, or only checktype on/off):
        then no result ever comes, and that is no stall."""
        return self.scheduler is not None and bool(self.scheduler.identities)

    def _writers(self) -> dict[str, SupervisedWriter | None]:
        """The writers the supervisor watches (a reload may replace the route ones)."""
        return {
            "ipvs": self.writer,
            "routes": self.anycast.routes,
            "interfaces": self.anycast.interfaces,
        }

    def _dataplane_changed(self, view: DataplaneView) -> None:
        if self.engine is not None:
            self.anycast.update(self.engine, view)

    def _metric_names(self) -> dict[str, str]:
        """`ADDR:PORT` (as log lines name a virtual) -> identity, where unambiguous."""
        assert self.engine is not None
        config = self.engine.config
        if self._metric_names_for is not config:
            seen: dict[str, list[str]] = {}
            for virtual in config.virtuals:
                seen.setdefault(virtual.hostport, []).append(virtual.identity)
            self._metric_names_cache = {k: v[0] for k, v in seen.items() if len(v) == 1}
            self._metric_names_for = config
        return self._metric_names_cache

    def _use_metrics(self, config: Config) -> None:
        """Start the exporter once `metricsaddress` is set (a change needs a restart)."""
        address = config.settings.metricsaddress
        if address is None or self.metrics is not None:
            return
        metrics = Metrics(self.snapshot, self.snapshot_fresh)
        try:
            metrics.serve(address)
        except (OSError, ValueError) as exc:
            self.log.info(f"metricsaddress {address}: cannot serve metrics: {exc}")
            return
        self.metrics = metrics

    # ---------------------------------------------------------------- commands

    async def command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """What `ldirectordctl drain|undrain|check-now` ask, answered with the result."""
        if name in ("drain", "undrain"):
            return self._drain_command(name, str(args.get("real", "")))
        if name == "check-now":
            return await self._check_now_command()
        if name == "maintenance":
            return await self.planned.command(self.engine.config if self.engine else None, args)
        return {"ok": False, "error": f"unknown command {name!r}"}

    def _drain_command(self, name: str, text: str) -> dict[str, Any]:
        try:
            key = DrainKey.parse(text)
        except ValueError as exc:
            return {"ok": False, "error": f"{name}: {exc}"}
        matched = self._matching_reals(key)
        try:
            changed = self.drains.drain(key) if name == "drain" else self.drains.undrain(key)
        except OSError as exc:
            return {"ok": False, "error": f"{name} {key}: cannot save the drained reals: {exc}"}
        if not changed:
            already = "already drained" if name == "drain" else "not drained"
            return {"ok": True, "message": f"{key}: {already}"}
        self.log.info(f"{'Drained' if name == 'drain' else 'Undrained'} real server: {key}")
        if self.engine is not None:
            self._submit()
        if self._book is not None:
            self._book.set_drains(self._drain_keys())
        where = ", ".join(matched) if matched else "no configured real (kept for later)"
        verb = "drained (weight 0)" if name == "drain" else "undrained"
        return {"ok": True, "message": f"{key}: {verb} in {where}"}

    def _matching_reals(self, key: DrainKey) -> list[str]:
        """The services that have the real as configured (before drain's change)."""
        out: list[str] = []
        for service, _real, destination, stored in self._configured_reals():
            name = str(service.key)
            if (key.matches(destination) or key.matches(stored)) and name not in out:
                out.append(name)
        return out

    def _configured_reals(
        self,
    ) -> Iterator[tuple[VirtualService, Real, Destination, Destination]]:
        """Each configured real with its service, its destination as configured,
        and as the kernel stores it (a gate real takes its virtual's port)."""
        if self.engine is None:
            return
        for virtual in self.engine.config.virtuals:
            service = self.engine.service(virtual)
            if service is None:
                continue
            for real in virtual.reals:
                destination = destination_for(real)
                yield service, real, destination, service.stored_destination(destination)

    async def _check_now_command(self) -> dict[str, Any]:
        if self.scheduler is None or self.engine is None:
            return {"ok": False, "error": "the daemon is not checking yet"}
        started = self.clock()
        await self.scheduler.check_now()
        took = self.clock() - started
        states = [
            self.engine.real_status(v, r).state
            for v in self.engine.config.virtuals
            for r in v.reals
        ]
        up, down = states.count("up"), states.count("down")
        return {
            "ok": True,
            "message": f"checked {len(states)} reals in {took:.2f}s: {up} up, {down} down",
            "up": up,
            "down": down,
            "seconds": took,
        }

    def _flush(self) -> None:
        """Write the monitor lines and submit the desired table, once per batch."""
        self._flush_handle = None
        if self._monitor_lines:
            self._write_monitor(self._monitor_lines)
            self._monitor_lines = {}
        if self.engine is not None and self._submitted != (self.engine, self.engine.version):
            self._submit()

    async def _first_round(self, checks: Coroutine[Any, Any, None]) -> None:
        """Alerts during the first round go out as "starting" (or "reloading")."""
        await checks
        if self.status_word in ("starting", "reloading"):
            self.status_word = "running"
        self._first_round_done.set()

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once the first check round is over and the table it decided is
        programmed (systemd's READY=1), or the dataplane has reported why not."""
        await self._first_round_done.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            state = self.writer.state
            if state.converged or state.last_error is not None:
                return
            await asyncio.sleep(0.05)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            if self.engine is not None and self._held is None:
                effects = self.engine.tick(self.clock())
                if effects:
                    self._apply(effects)
                self._watch_checks()

    def _watch_checks(self) -> None:
        """Log and report a stalled checker (no check completed for too long); the
        systemd watchdog (mainloop) goes unfed by the same rule."""
        assert self.engine is not None
        if not self._has_checks():
            self.stalled = False
            return
        rule = WatchdogRule.for_config(self.engine.config, 0.0)
        now = self.clock()
        stalled = rule.stalled(self.last_result_at, self._watch_since, now)
        if stalled and not self.stalled:
            last = self.last_result_at if self.last_result_at is not None else self._watch_since
            self.log.info(
                f"Health checks stalled: no check has completed for {now - last:.0f} seconds "
                f"(limit {rule.limit:g})"
            )
        elif self.stalled and not stalled:
            self.log.info("Health checks are completing again")
        self.stalled, self._stall_limit = stalled, rule.limit

    _prefix_cache: tuple[int, int, str] = (-1, -1, "")

    def _monitor_prefix(self) -> str:
        """`[localtime] [pid] `, formatted once per second (and per pid)."""
        now = int(time.time())
        pid = os.getpid()
        when, cached_pid, prefix = self._prefix_cache
        if when != now or cached_pid != pid:
            prefix = f"[{localtime_text(now)}] [{pid}] "
            self._prefix_cache = (now, pid, prefix)
        return prefix

    def _write_monitor(self, lines: dict[str, list[str]]) -> None:
        # opened for each batch (as the original opens it for each line), so a
        # rotated file is followed at once
        prefix = self._monitor_prefix()
        joint = "\n" + prefix
        for path, texts in lines.items():
            try:
                with open(path, "a") as fh:
                    fh.write(prefix + joint.join(texts) + "\n")
            except OSError as exc:
                # The original dies here; losing monitor lines is the lesser harm.
                self.log.info(f"Error writing to monitorfile '{path}': {exc.strerror or exc}")

    async def _run_commands(self) -> None:
        while True:
            command = await self._commands.get()
            try:
                await shell.run_async(command.command, self.log)
            finally:
                self._commands.task_done()

    async def _drain_commands(self) -> None:
        """Let queued fallbackcommands finish, for a while: a hung one is killed
        (with its process group) so that the stop stays within its bound."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._commands.join(), STOP_COMMANDS_WAIT)
        assert self._command_task is not None
        self._command_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._command_task

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
