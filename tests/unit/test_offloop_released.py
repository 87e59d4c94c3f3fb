"""offloop.released: a reload waits for what the previous one retired to be
freed (so back-to-back reloads hold two engines, not three), but never for
objects something else still references, and never beyond its bound."""

from __future__ import annotations

import asyncio
import time
import weakref

import pytest

from ldirectord_py import offloop


class Node:
    """Taken apart by the release like the package's own classes."""

    __module__ = "ldirectord_py.test_nodes"

    def __init__(self, children: list[object]) -> None:
        self.children = children


def _tree(width: int, depth: int) -> Node:
    if depth == 0:
        return Node([])
    return Node([_tree(width, depth - 1) for _ in range(width)])


def test_nothing_pending_returns_at_once() -> None:
    async def scenario() -> float:
        started = time.monotonic()
        await offloop.released(5.0)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.1


def test_waits_for_the_first_pass_and_not_for_shared_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offloop, "RELEASE_SLICE", 0.0001)  # many slices: a long release

    async def scenario() -> None:
        root = _tree(8, 5)  # 37,449 nodes
        probe = weakref.ref(root.children[0].children[0])
        shared = root.children[-1]  # still referenced here: tried again later
        task = offloop.release_in_slices(root)
        del root
        assert probe() is not None, "not freed in one piece"
        started = time.monotonic()
        await offloop.released(30.0)
        assert probe() is None, "freed by the time released() returns"
        assert time.monotonic() - started < offloop.RELEASE_PAUSE, "no wait for the shared part"
        assert not task.done(), "the shared part is still to be retried"
        assert shared.children
        task.cancel()

    asyncio.run(scenario())


def test_the_wait_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offloop, "RELEASE_SLICE", 0.00001)

    async def scenario() -> float:
        task = offloop.release_in_slices(_tree(8, 6))  # ~300,000 nodes
        started = time.monotonic()
        await offloop.released(0.05)
        waited = time.monotonic() - started
        assert not task.done(), "the release goes on after the wait gave up"
        task.cancel()
        return waited

    assert 0.04 < asyncio.run(scenario()) < 0.5
