"""Issue 11, finding 2: one real changing state does not rebuild every service.

At 10,000 virtuals the engine rebuilt all 10,000 services on every state change
(130-180 ms on the loop: every healthy real's check late by as much, each time
any backend flapped). Invariants: after one real goes down, desired() has new
objects only for the virtuals holding that real (a real shared by two virtuals
changes both), the others are the very objects of the previous table, and the
table is what a fresh engine in the same state computes.
"""

from __future__ import annotations

import time
from pathlib import Path

from ldirectord_py.config import parse_text
from ldirectord_py.engine import Engine


def test_a_state_change_rebuilds_only_the_virtuals_holding_the_real(tmp_path: Path) -> None:
    lines = ["checkinterval=5", "quiescent=no", f'logfile="{tmp_path / "log"}"']
    for v in range(300):
        lines.append(f"virtual=10.0.{v // 250}.{v % 250 + 1}:80")
        lines.append(f"\treal=192.0.2.{v % 200 + 1}:80 masq")
        lines.append("\treal=198.51.100.1:80 masq")  # in every virtual
        lines.append("\tchecktype=connect")
    config = parse_text("\n".join(lines) + "\n", str(tmp_path / "t.cf"), check_files=False)
    now = time.monotonic()
    engine = Engine(config, now)
    for target in engine.checks():
        engine.record(target.identity, True, "ok", now)
    before = engine.desired()
    assert all(len(s.destinations) == 2 for s in before)

    # 192.0.2.7 is in virtuals 6 and 206 only
    target = next(t for t in engine.checks() if "192.0.2.7:" in t.identity)
    engine.record(target.identity, False, "refused", now + 1)
    after = engine.desired()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]
    assert changed == [6, 206]
    assert all(len(after[i].destinations) == 1 for i in changed)

    # a fresh engine in the same state computes the same table
    fresh = Engine(config, now)
    for t in fresh.checks():
        fresh.record(t.identity, t.identity != target.identity, "x", now)
    assert fresh.desired() == after

    # the real in every virtual goes down: every service changes, and back
    shared = next(t for t in engine.checks() if "198.51.100.1:" in t.identity)
    engine.record(shared.identity, False, "refused", now + 2)
    down = engine.desired()
    assert all(a is not b for a, b in zip(after, down, strict=True))
    engine.record(shared.identity, True, "ok", now + 3)
    assert engine.desired() == after
