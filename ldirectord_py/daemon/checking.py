"""The Director that does the real work: checks in, ip_vs out -- wiring only.

The scheduler runs the checks and hands each result to the engine; the engine
decides and returns typed events; `Actuators` hands each event to the one
actuator for its type (daemon/actuators: log, metrics, monitor files, mail,
fallbackcommands, the ip_vs table and anycast routes). Drains live in
daemon/drains.py, stall detection in daemon/stall.py, readiness in
daemon/readiness.py. Nothing here decides anything itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from ldirectord_py.checks.result import CheckResult
from ldirectord_py.checks.scheduler import Scheduler
from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.config import Config
from ldirectord_py.daemon.actuators import (
    Actuators,
    CommandQueue,
    MonitorFiles,
    TableSubmission,
)
from ldirectord_py.daemon.anycast import AnycastCoordinator
from ldirectord_py.daemon.check_runner import CheckRunner
from ldirectord_py.daemon.director import WatchdogFacts
from ldirectord_py.daemon.drains import DrainKey, Drains, DrainStore
from ldirectord_py.daemon.mailer import Mailer
from ldirectord_py.daemon.mainloop import STOP_BOUND
from ldirectord_py.daemon.planned_maintenance import STOP_RESERVE, MaintenanceControl
from ldirectord_py.daemon.readiness import Readiness
from ldirectord_py.daemon.reload_plan import ReloadPlan, plan_reload, refused_services
from ldirectord_py.daemon.snapshot import KernelHolds, StatusBook, encode
from ldirectord_py.daemon.stall import StallWatch
from ldirectord_py.daemon.supervisor import SupervisedWriter, WriterSupervisor
from ldirectord_py.engine import Engine, Event
from ldirectord_py.ipvs.model import ServiceKey, Table, VirtualService
from ldirectord_py.ipvs.netlink import UNAVAILABLE_MESSAGE, AsyncIPVS, IPVSError
from ldirectord_py.ipvs.writer import DataplaneView, IPVSWriter
from ldirectord_py.observe.log import Log, Priority
from ldirectord_py.observe.metrics import Metrics
from ldirectord_py.observe.reloads import ReloadResult
from ldirectord_py.observe.schema import (
    SCHEMA_VERSION,
    PlannedMaintenanceSnapshot,
    StatusSnapshot,
    VirtualSnapshot,
    WatchdogSnapshot,
    WriterHealthSnapshot,
    build_info,
)
from ldirectord_py.offloop import collector_paused, in_thread, release_in_slices
from ldirectord_py.runpaths import RunPaths

BUILD = build_info()
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
        self.writer = IPVSWriter(self.ipvs, log.info, problem=log.warning)
        self.writer.on_dataplane_change = self._dataplane_changed
        self.anycast = anycast if anycast is not None else AnycastCoordinator(log, clock=clock)
        self.supervisor = WriterSupervisor(log.info, self._writers, problem=log.err)
        self.drain = Drains()
        self.planned = MaintenanceControl(log, self.anycast, clock=clock)
        """`ldirectordctl maintenance`, and the wait for traffic to move on stop."""
        self.metrics: Metrics | None = None
        self.config_path: str | None = None
        self.last_reload: ReloadResult | None = None
        """Set by the main loop after each reload; shown in the status and metrics."""
        self.started_at = time.time()
        self.watch = StallWatch(clock())
        self.readiness = Readiness()
        self.runner = CheckRunner(log, self.watch, clock)
        self.engine: Engine | None = None
        self.scheduler: Scheduler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.mailer = Mailer(log)
        self.commands = CommandQueue(log)
        self.monitor = MonitorFiles(log.err)
        self.table = TableSubmission(
            self.writer, lambda: self.writer.state.view, self.anycast, self.drain
        )
        self.actuators = Actuators(
            log, self.monitor, self.commands, self.mailer, self.table, lambda: self.status_word
        )
        # Per-result work is batched per loop iteration: monitor lines are appended
        # with one open() per file, and the desired table is handed to the writer
        # only when the engine's decisions changed it.
        self._flush_handle: asyncio.Handle | None = None
        self.status_word = "starting"
        """The original's daemon status, which `emailalertstatus` filters on."""
        self._book: StatusBook | None = None
        self._document: asyncio.Task[bytes] | None = None
        self._held: list[tuple[str, CheckResult, bool]] | None = None
        """Check results that arrived while a reload prepares the next engine."""
        self._specs: tuple[CheckSpec, ...] = ()
        """What the scheduler runs now."""
        self.kept_virtuals: frozenset[str] = frozenset()
        """The virtuals the last reload found equal to the running ones (and kept
        as they were): the reload record need not compare them again."""

    # ---------------------------------------------------------------- inputs of the status document

    @property
    def drains(self) -> DrainStore:
        return self.drain.store

    @property
    def last_result_at(self) -> float | None:
        return self.watch.last_result_at

    @property
    def stalled(self) -> bool:
        return self.watch.stalled

    @property
    def _stall_limit(self) -> float | None:
        return self.watch.limit

    def _drain_keys(self) -> frozenset[DrainKey]:
        return self.drain.keys_for(self.engine)

    # ---------------------------------------------------------------- Director

    def use_state_file(self, drain_path: str) -> None:
        """Where drained reals are kept (next to the pid file; before start)."""
        self.drain = Drains(DrainStore(drain_path))
        self.table.drains = self.drain
        if self.drains.load_error:
            self.log.warning(f"Drained reals: {self.drains.load_error}")
        self.planned.use_file(RunPaths.beside(drain_path).maintenance)

    async def start(self, config: Config) -> None:
        self.config_path = config.path
        live = await self._read_live()
        self.engine = Engine(config, self.clock(), live=live)
        self._book = StatusBook(self.engine, self._drain_keys(), self._wall_offset)
        self.runner.use_config(config, self.engine.checks())
        self._use_metrics(config)
        self.commands.start()
        self.writer.start()
        await self.anycast.start(config)
        self.supervisor.start()
        self._apply(self.engine.take_effects())
        self.scheduler = Scheduler(self._on_result, runner=self.runner.run)
        self._specs = tuple(self._check_specs())
        self.scheduler.update(self._specs)
        self.scheduler.start()
        settle_gc()
        # The original checks every real once while starting: so do we, at once.
        self._spawn(self.readiness.first_round(self.scheduler.check_now(), self._running))
        self._spawn(self._tick())

    async def reload(self, config: Config) -> None:
        """The next engine is prepared off the loop (see reload_plan), for the
        virtuals that changed only, while the running one keeps checking; the
        switch itself is one short step."""
        assert self.engine is not None and self.scheduler is not None
        running, now, specs, book = self.engine, self.clock(), self._specs, self._book
        self._held = []

        def prepare() -> ReloadPlan:
            self.watch.prepare(config)
            return plan_reload(running, config, now, self._wall_offset, specs, book)

        try:
            with collector_paused():
                plan = await in_thread(prepare, RELOAD_PLAN_TIMEOUT, "ldirectord-plan")
        except BaseException:
            await self._replay_held()  # into the running engine, which stays
            raise
        try:
            if self.engine is not running:  # pragma: no cover - reloads are serialised
                raise RuntimeError("the engine changed while a reload was prepared")
            self.kept_virtuals = plan.compared.same
            retired: list[object] = [running.config]
            if plan.engine is None:
                running.use_positions(config)  # nothing else to switch
            else:
                retired += [running, self._book]
                self.engine = plan.engine
                if plan.book is not None:
                    plan.book.carry_failures(self._book)
                    self._book = plan.book
            assert self._book is not None
            self._book.set_drains(self._drain_keys())
            self.config_path = config.path
            self.watch.restart(self.clock())
            self.runner.use_config(config, self.engine.checks())
            self._use_metrics(config)
            await self.anycast.reload(config)
            if plan.same_desired:
                # the writer already holds this table (and owns its services)
                self.table.held(self.engine)
                self._apply(plan.effects)
            else:
                self._apply(plan.effects, also_owned=plan.old_keys)
        finally:
            # Into whichever engine runs now, also when a step of the switch failed:
            # results held while it was prepared must never stay held.
            await self._replay_held()
        new: frozenset[str] = frozenset()
        if not plan.same_checks:
            # only the checks that changed: the others keep their timers untouched
            new = self.scheduler.update_some(plan.checks_changed, plan.checks_removed)
            retired.append(plan.specs_replaced)  # the specs kept are in plan.specs
        self._specs = plan.specs
        gc.freeze()  # the switch's objects too; no collection (see collector_paused)
        release_in_slices(*retired)  # freed a few objects at a time, never in one piece
        if new:
            self.status_word = "reloading"
            self._spawn(self.readiness.first_round(self.scheduler.check_now(new), self._running))

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
        if self.commands.started:
            await self._stop_step(
                "finishing fallbackcommands", self.commands.drain(STOP_COMMANDS_WAIT)
            )
        await self._stop_step("sending alerts", self.mailer.drain())
        await self._stop_step("closing ip_vs", self.ipvs.close())
        if self.metrics is not None:
            try:
                self.metrics.close()
            except Exception as exc:
                self.log.err(f"Error while closing the metrics exporter: {exc!r}")

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
            self.log.err(f"Error while stopping ({what}): {type(exc).__name__}: {exc}")

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

    def watchdog_facts(self) -> WatchdogFacts:
        """What the main loop's watchdog needs, without building the status document
        (status() refreshes and converts every changed entry: after a reload, all)."""
        return WatchdogFacts(
            last_result_at=self.last_result_at if self._has_checks() else self.clock(),
            stalled_writers=tuple(self.supervisor.stalled()),
        )

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
        store = self.planned.store
        return StatusSnapshot(
            schema=SCHEMA_VERSION,
            status=self.status_word,
            config=self.config_path,
            pid=os.getpid(),
            started_at=self.started_at,
            last_result_at=self.last_result_at if self._has_checks() else self.clock(),
            build=BUILD,
            dataplane=self.writer.snapshot(),
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
            if str(exc) != UNAVAILABLE_MESSAGE:
                self.log.err(f"{exc}; the table is programmed once it is")
            # else: the ip_vs writer says it, once (README: logged once at start)
            return None
        except Exception as exc:
            # A reply that does not decode must not stop the daemon from starting:
            # the writer reads the table again (and is supervised).
            self.log.err(f"Reading the ip_vs table failed: {type(exc).__name__}: {exc}")
            return None
        return {s.key: s for s in table.services}

    def _on_result(self, identity: str, result: CheckResult) -> None:
        if self.engine is None:
            return
        maintenance = identity in self.runner.in_maintenance
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
        events = self.engine.record(
            identity,
            result.ok,
            result.reason,
            self.clock(),
            result.latency,
            maintenance=maintenance,
            kind=result.kind,
        )
        if self._book is not None:
            self._book.mark(identity, result.ok)
        self._apply(events)

    def _apply(self, events: list[Event], also_owned: Iterable[ServiceKey] | None = None) -> None:
        """Hand the events to their actuators; submit the table at once when a reload
        hands over services (`also_owned`), else once at the end of this batch."""
        engine = self.engine
        assert engine is not None
        if events:
            self.actuators.apply(events)
        if also_owned is not None:
            self.table.submit(engine, also_owned)
        elif self._flush_handle is None and (self.monitor.pending or self.table.pending(engine)):
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write the monitor lines and submit the desired table, once per batch."""
        self._flush_handle = None
        self.monitor.flush()
        if self.engine is not None and self.table.pending(self.engine):
            self.table.submit(self.engine)

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

    def _use_metrics(self, config: Config) -> None:
        """Start the exporter once `metricsaddress` is set (a change needs a restart)."""
        address = config.settings.metricsaddress
        if address is None or self.metrics is not None:
            return
        metrics = Metrics(self.snapshot, self.snapshot_fresh)
        try:
            metrics.serve(address)
        except (OSError, ValueError) as exc:
            self.log.err(f"metricsaddress {address}: cannot serve metrics: {exc}")
            return
        self.metrics = self.runner.metrics = self.actuators.metrics = metrics

    # ---------------------------------------------------------------- commands

    async def command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """What `ldirectordctl drain|undrain|check-now` ask, answered with the result."""
        if name in ("drain", "undrain"):
            return self.drain.command(
                name, str(args.get("real", "")), self.engine, self._drains_changed
            )
        if name == "check-now":
            return await self._check_now_command()
        if name == "maintenance":
            return await self.planned.command(self.engine.config if self.engine else None, args)
        return {"ok": False, "error": f"unknown command {name!r}"}

    def _drains_changed(self, key: DrainKey) -> None:
        drained = key in self.drain.store.keys
        self.log.notice(f"{'Drained' if drained else 'Undrained'} real server: {key}")
        if self.engine is not None:
            self.table.submit(self.engine)
        if self._book is not None:
            self._book.set_drains(self._drain_keys())

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

    # ---------------------------------------------------------------- time

    def _running(self) -> None:
        """The first round is over: alerts during it went out as "starting" (or
        "reloading")."""
        if self.status_word in ("starting", "reloading"):
            self.status_word = "running"

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once the first check round is over and the table it decided is
        programmed (systemd's READY=1), or the dataplane has reported why not."""
        await self.readiness.wait(lambda: self.writer.state, timeout)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            if self.engine is not None and self._held is None:
                events = self.engine.tick(self.clock())
                if events:
                    self._apply(events)
                self._watch_checks()

    def _watch_checks(self) -> None:
        """Log and report a stalled checker (no check completed for too long); the
        systemd watchdog (mainloop) goes unfed by the same rule."""
        change = self.watch.check(
            self.engine.config if self.engine else None, self._has_checks(), self.clock()
        )
        if change is not None:
            self.log.write(change.text, Priority.ERR if change.stalled else Priority.NOTICE)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
