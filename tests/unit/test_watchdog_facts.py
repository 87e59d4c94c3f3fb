"""The watchdog's two facts come from a cheap accessor, not from the whole status
document (which, after a reload at 10,000 virtuals, converts every entry on the
loop): the main loop asks `watchdog_facts()` when the director has it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from ldirectord_py.config import parse_text
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.daemon.director import WatchdogFacts
from ldirectord_py.daemon.mainloop import Daemon
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSUnavailable
from ldirectord_py.observe.log import Log

from .config.conftest import RESOLVER
from .test_checking_director import Kernel, Lines


class _Cheap:
    def watchdog_facts(self) -> WatchdogFacts:
        return WatchdogFacts(12.5, ("routes",))

    def status(self) -> dict[str, object]:
        raise AssertionError("the whole status document must not be built")


def test_the_main_loop_reads_the_facts_not_the_document() -> None:
    holder = SimpleNamespace(director=_Cheap(), _log_exception=lambda *a: None)
    holder._watchdog_facts = lambda: Daemon._watchdog_facts(holder)  # type: ignore[arg-type]
    assert Daemon._last_result_at(holder) == (True, 12.5)  # type: ignore[arg-type]
    assert Daemon._stalled_writers(holder) == ["routes"]  # type: ignore[arg-type]


def test_the_facts_agree_with_the_status_document(tmp_path: Path) -> None:
    def unavailable() -> Kernel:
        raise IPVSUnavailable()

    config = parse_text(
        "virtual=127.0.0.100:80\n\treal=127.0.0.23:80 gate\n\tchecktype=on\n",
        str(tmp_path / "t.cf"),
        resolver=RESOLVER,
        check_files=False,
    )

    async def scenario() -> None:
        d = CheckingDirector(Log(Lines()), ipvs_factory=lambda: AsyncIPVS(unavailable))
        await d.start(config)
        await asyncio.sleep(0.3)
        facts = d.watchdog_facts()
        status = d.status()
        await d.stop()
        # checktype=on has no checks: both say "now" (the director's clock)
        assert facts.last_result_at is not None
        assert abs(facts.last_result_at - status["last_result_at"]) < 1.0
        stalled = [n for n, w in status["writers"].items() if w.get("stalled")]
        assert list(facts.stalled_writers) == stalled

    asyncio.run(asyncio.wait_for(scenario(), 30))
