"""The checks' share of file descriptors (fds.py): the split, the scheduler's
budget, and a check that finds none free waits for one instead of failing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ldirectord_py.checks import Scheduler, plan_fds
from tests.faults.isolation import ROOT


def test_the_split_sets_aside_the_daemon_and_its_clients() -> None:
    for limit in (256, 1024, 20_000, 1 << 20):
        plan = plan_fds(limit)
        assert plan.daemon + plan.clients + plan.checks == limit
        assert plan.daemon >= 64 and 8 <= plan.clients <= 1024
        assert plan.checks >= limit // 2
    assert plan_fds(1024).clients == 102


def test_scheduler_budget_is_the_checks_share() -> None:
    assert Scheduler(lambda i, r: None).stats().fd_budget == plan_fds().checks


# In a child (it lowers its own RLIMIT_NOFILE): every descriptor is taken, as by
# clients beyond their allowance; a check starts, and the descriptors come back
# 0.2 s later: the check must succeed, not fail with "too many open files".
CHILD = textwrap.dedent(
    """
    import asyncio, os, resource, socket
    from ldirectord_py.checks import run_check
    from tests.checks.conftest import make_spec

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    async def main():
        loop = asyncio.get_running_loop()
        hogs = []
        while True:
            try:
                hogs.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                break
        def give_back():
            for fd in hogs:
                os.close(fd)
        loop.call_later(0.2, give_back)
        spec = make_spec(checktype="connect", checkport=port, checktimeout=2.0)
        result = await run_check(spec)
        print(result.ok, result.reason, round(result.latency, 2))

    asyncio.run(main())
    """
)


def test_a_check_out_of_descriptors_waits_for_one() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    ok, reason, latency = out.stdout.split(maxsplit=2)[0], out.stdout, out.stdout.split()[-1]
    assert ok == "True", reason
    assert 0.15 < float(latency) < 1.0
