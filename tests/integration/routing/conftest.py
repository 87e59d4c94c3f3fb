"""Fixtures for the routing tests: a fresh lab per test, a coroutine runner with
a guard timeout, and a RouteWriter factory that always stops its writers.

`lab` runs Debian 12's gobgpd (3.10.0); `vlab` runs each release in
GOBGPD_VERSIONS in turn (3.10.0, 3.36.0, 4.8.0: both GoBGP APIs), for the
tests of behaviour that depends on the API. Tests of our own logic that the
API cannot change use `lab`, to keep the suite's time in bounds."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from .lab import GOBGPD_VERSIONS, Lab, LabError, gobgpd_binary, require_tools

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
        gobgpd_binary(kw.get("gobgpd_version", GOBGPD_VERSIONS[0]))
    except LabError as exc:
        pytest.fail(str(exc))
    with Lab(**kw) as lab:
        yield lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    """One gobgpd site peering with a BIRD router."""
    yield from _lab()


@pytest.fixture(params=GOBGPD_VERSIONS, ids=[f"gobgpd-{v}" for v in GOBGPD_VERSIONS])
def vlab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """One site peering with a BIRD router, once per gobgpd release."""
    yield from _lab(gobgpd_version=request.param)


@pytest.fixture
def lab2() -> Iterator[Lab]:
    """Two gobgpd sites announcing to one BIRD router."""
    yield from _lab(sites=2)


@pytest.fixture
def bird_lab() -> Iterator[Lab]:
    """One site whose BIRD redistributes the host addresses on its lo (the paper's way)."""
    yield from _lab(speaker="bird")
