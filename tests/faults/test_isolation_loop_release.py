"""Issue 11, finding 2: what a reload retires is freed in slices, off the switch.

Invariants: the old engine, status book and configuration of a reload are freed
completely, a few objects per turn of the loop (never in one piece, which at
10,000 virtuals held the loop for tens of milliseconds); what a caller still
references is left alone until it lets go; and the services the kernel refused
are named after a reload without holding the loop either.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from ldirectord_py import offloop
from ldirectord_py.config import parse_text
from ldirectord_py.daemon import reload_plan
from ldirectord_py.daemon.snapshot import StatusBook
from ldirectord_py.engine import Engine
from ldirectord_py.ipvs.writer import DataplaneView


def engine_for(virtuals: int, tmp_path: Path) -> Engine:
    lines = ["checkinterval=5", f'logfile="{tmp_path / "log"}"']
    for v in range(virtuals):
        lines.append(f"virtual=10.{v // 65536}.{(v // 256) % 256}.{v % 256}:80")
        lines.append(f"\treal=192.0.{(2 * v) // 250 % 250}.{(2 * v) % 250 + 1}:80 masq")
        lines.append(f"\treal=192.1.{(2 * v) // 250 % 250}.{(2 * v) % 250 + 2}:80 masq")
        lines.append("\tchecktype=connect")
    config = parse_text("\n".join(lines) + "\n", str(tmp_path / "t.cf"), check_files=False)
    engine = Engine(config, time.monotonic())
    engine.desired()
    return engine


async def turns_while(task: asyncio.Future[Any]) -> int:
    """How many times the loop ran something else while `task` was not done."""
    turns = 0
    while not task.done():
        await asyncio.sleep(0)
        turns += 1
    return turns


def test_a_retired_engine_is_freed_completely_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offloop, "RELEASE_SLICE", 0.0005)
    monkeypatch.setattr(offloop, "RELEASE_PAUSE", 0.05)
    monkeypatch.setattr(offloop, "RELEASE_GIVE_UP", 1.0)  # module-level constants stay

    async def scenario() -> None:
        engine = engine_for(2000, tmp_path)
        book = StatusBook(engine, frozenset(), lambda: 0.0)
        gone = [weakref.ref(engine), weakref.ref(engine.config), weakref.ref(book)]
        task = offloop.release_in_slices(engine, book)
        del engine, book
        turns = await turns_while(task)
        assert [ref() for ref in gone] == [None, None, None]
        assert turns > 10, "freed in one piece, not in slices"

    asyncio.run(scenario())


def test_what_a_caller_still_holds_waits_until_it_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offloop, "RELEASE_PAUSE", 0.05)
    monkeypatch.setattr(offloop, "RELEASE_PAUSE_MAX", 0.2)

    async def scenario() -> None:
        engine = engine_for(50, tmp_path)
        config = engine.config  # still the running configuration's, say
        gone = weakref.ref(engine)
        task = offloop.release_in_slices(engine)
        del engine
        await asyncio.sleep(0.2)
        assert gone() is None, "the engine itself went"
        assert not task.done(), "the configuration is still held: the release waits"
        assert config.virtuals[0].reals[0].port == 80, "and it is left whole"
        kept = weakref.ref(config)
        del config
        for _ in range(100):
            await asyncio.sleep(0.05)
            if kept() is None:
                break
        assert kept() is None, "freed once the caller let go"
        task.cancel()

    asyncio.run(scenario())


def test_refused_services_are_named_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload_plan, "REFUSED_SLICE", 0.0)

    async def scenario() -> None:
        engine = engine_for(1000, tmp_path)
        virtuals = engine.config.virtuals
        refused = []
        for virtual in (virtuals[3], virtuals[700]):
            service = engine.service(virtual)
            assert service is not None
            refused.append((service.key, "ip_vs refused it: Invalid argument"))
        view = DataplaneView(1, frozenset(), tuple(refused))
        task = asyncio.ensure_future(reload_plan.refused_services(engine, view))
        turns = await turns_while(task)
        lines = task.result()
        assert lines == [
            f"virtual={v.hostport} (tcp, line {v.line}): ip_vs refused it: Invalid argument"
            for v in (virtuals[3], virtuals[700])
        ]
        assert turns >= 3, "1,000 virtuals looked through in one piece"

    asyncio.run(scenario())
