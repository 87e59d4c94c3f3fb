"""Fixtures for the routing tests: a fresh lab per test, a coroutine runner with
a guard timeout, and a RouteWriter factory that always stops its writers."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from .lab import Lab, LabError, require_tools

T = TypeVar("T")
PREFIXES = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:ff::/48")]


def run(coro: Coroutine[Any, Any, T], guard: float = 60.0) -> T:
    """Run a coroutine on a fresh loop; a test that hangs fails instead."""

    async def guarded() -> T:
        async with asyncio.timeout(guard):
            return await coro

    return asyncio.run(guarded())


def _lab(**kw: Any) -> Iterator[Lab]:
    try:
        require_tools()
    except LabError as exc:
        pytest.fail(str(exc))
    with Lab(**kw) as lab:
        yield lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    """One gobgpd site peering with a BIRD router."""
    yield from _lab()


@pytest.fixture
def lab2() -> Iterator[Lab]:
    """Two gobgpd sites announcing to one BIRD router."""
    yield from _lab(sites=2)


@pytest.fixture
def bird_lab() -> Iterator[Lab]:
    """One site whose BIRD redistributes the host addresses on its lo (the paper's way)."""
    yield from _lab(speaker="bird")
