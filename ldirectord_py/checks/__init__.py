"""Health checks: one module per check type and service, all on asyncio, each under
a hard deadline, and the scheduler that runs them.

    from ldirectord_py.checks import CheckSpec, run_check, Scheduler

    spec = CheckSpec.for_real(virtual, real)       # spec.identity == virtual.check_identity(real)
    result = await run_check(spec)                 # CheckResult(ok, reason, latency, kind)

    sched = Scheduler(on_result)                   # on_result(identity, result)
    sched.update(specs); sched.start(); ...; await sched.stop()

Each check module exports a CheckDescriptor; registry.py lists them and every
table about checks derives from it. docs/checks/ has a page per check type and
service, and says how to add one.
"""

from ldirectord_py.checks.fds import FdPlan, client_fd_allowance, plan_fds
from ldirectord_py.checks.registry import CheckType, Service
from ldirectord_py.checks.result import CheckFailed, CheckResult, FailureKind
from ldirectord_py.checks.runner import CombinedState, plan, run_check
from ldirectord_py.checks.runtime import CheckRuntime
from ldirectord_py.checks.scheduler import (
    Scheduler,
    SchedulerStats,
    default_fd_budget,
)
from ldirectord_py.checks.spec import CheckSpec

__all__ = [
    "CheckFailed",
    "CheckResult",
    "CheckRuntime",
    "CheckSpec",
    "CheckType",
    "CombinedState",
    "FailureKind",
    "FdPlan",
    "Scheduler",
    "SchedulerStats",
    "Service",
    "client_fd_allowance",
    "default_fd_budget",
    "plan",
    "plan_fds",
    "run_check",
]
