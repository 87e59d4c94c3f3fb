"""What the scheduler runs for each check: a real in `maintenancedir` is down
without being checked (as in the original); otherwise the `-d` line the original
prints, the check itself, then the stall watch and the check metrics are told."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ldirectord_py.checks.result import CheckResult, FailureKind
from ldirectord_py.checks.runner import CombinedState, plan, run_check
from ldirectord_py.checks.runtime import CheckRuntime
from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.config import Config
from ldirectord_py.daemon.actuators.log import checking_text
from ldirectord_py.daemon.maintenance import MaintenanceDirectory
from ldirectord_py.daemon.stall import StallWatch
from ldirectord_py.engine import CheckTarget
from ldirectord_py.observe.log import Log, Priority
from ldirectord_py.observe.metrics import Metrics

MAINTENANCE_REASON = "Server in maintenance"


class CheckRunner:
    def __init__(self, log: Log, watch: StallWatch, clock: Callable[[], float]) -> None:
        self.log = log
        self.watch = watch
        self.clock = clock
        self.metrics: Metrics | None = None
        self.maintenance: MaintenanceDirectory | None = None
        self.in_maintenance: set[str] = set()
        """Identities whose last result came from `maintenancedir` (forced down)."""
        self._debug_names: dict[str, str] = {}
        """`-d`: each check identity's virtual, for the original's per-check line."""
        self._per_check = False

    def use_config(self, config: Config, targets: Iterable[CheckTarget]) -> None:
        path = config.settings.maintenancedir
        if path is None:
            self.maintenance = None
        elif self.maintenance is None or self.maintenance.path != path:
            self.maintenance = MaintenanceDirectory(path)
        self._per_check = self.log.per_check
        if self._per_check:
            self._debug_names = {t.identity: t.virtual.identity for t in targets}

    async def run(
        self, spec: CheckSpec, combined: CombinedState | None, runtime: CheckRuntime
    ) -> CheckResult:
        """The scheduler's runner: `runtime` is the scheduler's, handed to the check."""
        if self.maintenance is not None and await self.maintenance.holds(
            spec.address, spec.family, spec.port
        ):
            self.in_maintenance.add(spec.identity)
            self.watch.result(self.clock())  # decided: the checker is alive
            return CheckResult(False, MAINTENANCE_REASON, 0.0, FailureKind.MAINTENANCE)
        self.in_maintenance.discard(spec.identity)
        if self._per_check:
            self.debug_line(spec, combined)
        result = await run_check(spec, combined, runtime)
        self.watch.result(self.clock())
        if self.metrics is not None:
            self.metrics.observe_check(spec.checktype, result.ok, result.latency, result.kind)
        return result

    def debug_line(self, spec: CheckSpec, combined: CombinedState | None) -> None:
        """`-d`: the original's line before each check."""
        checktype: str = spec.checktype
        if checktype == "combined":
            kind = plan(spec, combined)[0] if combined is not None else "negotiate"
            checktype = "negotiate" if kind == "negotiate" else "combined-connect"
        virtual = self._debug_names.get(spec.identity, "")
        self.log.write(
            checking_text(checktype, spec.protocol, spec.identity, virtual), Priority.DEBUG
        )
