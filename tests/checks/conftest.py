"""Fixtures for tests/checks: a spec factory, a coroutine runner with a guard
timeout, and a throw-away self-signed certificate."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import ssl
import subprocess
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ldirectord_py.checks import CheckSpec

T = TypeVar("T")

# Deadlines used against misbehaving servers: short, so the suite stays fast.
DEADLINE = 0.6
MARGIN = 0.5


def run(coro: Coroutine[Any, Any, T], guard: float = 60.0) -> T:
    """Run a coroutine on a fresh loop; a test that hangs fails instead."""

    async def guarded() -> T:
        async with asyncio.timeout(guard):
            return await coro

    return asyncio.run(guarded())


def make_spec(**kw: Any) -> CheckSpec:
    base = CheckSpec(
        identity=kw.pop("identity", "test"),
        checktype="negotiate",
        service="none",
        protocol="tcp",
        family=4,
        address="127.0.0.1",
        port=0,
        checkport=None,
        virtual_address="127.0.0.100",
        virtual_port=80,
        fwmark=None,
        checktimeout=DEADLINE,
        negotiatetimeout=DEADLINE,
    )
    return dataclasses.replace(base, **kw)


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is missing: install the Debian package {package} (make deps-checks)")
    return path


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for localhost (ECDSA: fast to make)."""
    require("openssl", "openssl")
    d = tmp_path_factory.mktemp("cert")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(crt),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o644)
    d.chmod(0o755)
    return crt, key


@pytest.fixture(scope="session")
def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx
