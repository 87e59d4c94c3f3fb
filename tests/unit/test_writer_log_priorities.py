"""The writers' own lines have priorities too (issue 15 item 6): a crash, a stall,
a refused or unreachable dataplane reach `problem` (err/warning in the journal),
a restart or a recovery the plain log (info)."""

from __future__ import annotations

import asyncio

from ldirectord_py.daemon.supervisor import WriterSupervisor


class _Crashing:
    """A writer whose task has died with an error."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.started = 0

    def start(self) -> None:
        self.started += 1


def test_a_crash_is_a_problem_and_the_restart_is_information() -> None:
    info: list[str] = []
    problems: list[str] = []
    now = [0.0]

    async def main() -> None:
        writer = _Crashing()

        async def dies() -> None:
            raise RuntimeError("boom")

        writer.task = asyncio.create_task(dies())
        await asyncio.sleep(0)
        supervisor = WriterSupervisor(
            info.append, lambda: {"ipvs": writer}, clock=lambda: now[0], problem=problems.append
        )
        supervisor.check()
        now[0] = 5.0
        supervisor.check()
        assert writer.started == 1

    asyncio.run(main())
    assert any("ipvs writer failed (RuntimeError: boom)" in line for line in problems), problems
    assert any("Traceback" in line for line in problems), problems
    assert info == ["ipvs writer: restarting after its failure"], info
