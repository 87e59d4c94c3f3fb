"""Every service against servers that misbehave: accepted and never answered,
dripping one byte at a time, resetting, answering garbage, sending without end,
or not listening at all. Each must fail, and within its deadline plus a small
margin; reads must stay bounded.
"""

from __future__ import annotations

import asyncio
import ssl
import tracemalloc
from collections.abc import Callable
from typing import Any, cast

import pytest

from ldirectord_py.checks import CheckSpec, run_check
from tests.checks import servers
from tests.checks.conftest import DEADLINE, MARGIN, make_spec, run

SpecFor = Callable[[int], CheckSpec]

# service -> (spec for a port, uses TLS, bytes to drip, (prefix, unit) to send without end)
TCP_SERVICES: dict[str, tuple[SpecFor, bool, bytes | None, tuple[bytes, bytes] | None]] = {
    "http": (
        lambda p: make_spec(service="http", checkport=p, url=f"http://127.0.0.1:{p}/ok"),
        False,
        b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100,
        (b"HTTP/1.1 200 OK\r\n", b"X-Header: endless\r\n"),
    ),
    "https": (
        lambda p: make_spec(service="https", checkport=p, url=f"https://127.0.0.1:{p}/ok"),
        True,
        b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100,
        (b"HTTP/1.1 200 OK\r\n", b"X-Header: endless\r\n"),
    ),
    "http_proxy": (
        lambda p: make_spec(service="http_proxy", checkport=p, url="http://www.example.test/"),
        False,
        b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100,
        (b"HTTP/1.0 200 OK\r\n", b"X-Header: endless\r\n"),
    ),
    "ftp": (
        lambda p: make_spec(service="ftp", checkport=p, request="/file", login="anonymous"),
        False,
        b"220-" + b"a" * 100,
        (b"", b"220-endless greeting line\r\n"),
    ),
    "smtp": (
        lambda p: make_spec(service="smtp", checkport=p),
        False,
        b"220-" + b"a" * 100,
        (b"", b"220-endless greeting line\r\n"),
    ),
    "submission": (
        lambda p: make_spec(service="submission", checkport=p),
        False,
        b"220 ready\r\n",  # then EHLO is never answered: the drip goes on
        (b"", b"x" * 1000),  # a greeting line that never ends
    ),
    "pop": (
        lambda p: make_spec(service="pop", checkport=p),
        False,
        b"+OK " + b"a" * 100,
        (b"+OK ", b"no newline ever "),
    ),
    "pops": (lambda p: make_spec(service="pops", checkport=p), True, b"+OK " + b"a" * 100, None),
    "imap": (
        lambda p: make_spec(service="imap", checkport=p, login="u", passwd="p"),
        False,
        b"* OK " + b"a" * 100,
        (b"* OK ready\r\n", b"* untagged line without end\r\n"),
    ),
    "imaps": (lambda p: make_spec(service="imaps", checkport=p), True, b"* OK " + b"a" * 100, None),
    "nntp": (lambda p: make_spec(service="nntp", checkport=p), False, None, None),
    "ldap": (
        lambda p: make_spec(service="ldap", checkport=p, request="/dc=example,dc=test"),
        False,
        b"\x30\x84\x00\x00\x10\x00" + b"\x02" * 100,
        (b"\x30\x84\x7f\xff\xff\xff", b"\x04" * 1000),
    ),
    "ldaps": (
        lambda p: make_spec(service="ldaps", checkport=p, request="/dc=example,dc=test"),
        True,
        b"\x30\x84\x00\x00\x10\x00" + b"\x02" * 100,
        None,
    ),
    "dns-tcp": (
        lambda p: make_spec(
            service="dns", protocol="tcp", checkport=p, request="/www.example.test", receive="."
        ),
        False,
        b"\x01\x00" + b"\x00" * 100,
        None,
    ),
    "mysql": (
        lambda p: make_spec(service="mysql", checkport=p, login="u", request="/SELECT 1"),
        False,
        b"\x4a\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB" + b"\x00" * 60,
        None,
    ),
    "pgsql": (
        lambda p: make_spec(service="pgsql", checkport=p, login="u", request="/SELECT 1"),
        False,
        b"R\x00\x00\x00\x08" + b"\x00" * 60,
        None,
    ),
    "oracle": (
        lambda p: make_spec(service="oracle", checkport=p, database="ORCL"),
        False,
        b"\x00\x40\x00\x00\x02\x00\x00\x00" + b"\x00" * 60,
        None,
    ),
    "sip-tcp": (
        lambda p: make_spec(service="sip", checkport=p, login="ldirectord@test"),
        False,
        b"SIP/2.0 200 OK\r\nVia: " + b"a" * 100,
        (b"SIP/2.0 200 OK\r\n", b"X-Header: endless\r\n"),
    ),
    "simpletcp": (
        lambda p: make_spec(service="simpletcp", checkport=p, request="/hello", receive="^NEVER"),
        False,
        b"line that does not match\n",
        (b"", b"another line that does not match\n"),
    ),
}


async def _against(
    handler: servers.Handler, spec_for: SpecFor, tls: ssl.SSLContext | None = None
) -> Any:
    async with servers.tcp_server(handler, tls=tls) as srv:
        return await run_check(spec_for(srv.port))


def _assert_failed_in_time(result: Any) -> None:
    assert not result.ok, result
    assert result.latency <= DEADLINE + MARGIN, result


@pytest.mark.parametrize("service", sorted(TCP_SERVICES))
def test_hung_server_fails_within_deadline(service: str) -> None:
    spec_for = TCP_SERVICES[service][0]
    result = run(_against(servers.hung, spec_for))
    _assert_failed_in_time(result)
    assert "timeout" in result.reason


@pytest.mark.parametrize("service", sorted(s for s, v in TCP_SERVICES.items() if v[2] is not None))
def test_dripping_server_fails_within_deadline(service: str, server_tls: ssl.SSLContext) -> None:
    spec_for, tls, data, _ = TCP_SERVICES[service]
    assert data is not None
    result = run(_against(servers.drip(data, 0.05), spec_for, server_tls if tls else None))
    _assert_failed_in_time(result)


@pytest.mark.parametrize("service", sorted(TCP_SERVICES))
def test_reset_fails(service: str) -> None:
    result = run(_against(servers.reset, TCP_SERVICES[service][0]))
    _assert_failed_in_time(result)


@pytest.mark.parametrize("service", sorted(TCP_SERVICES))
def test_garbage_reply_fails(service: str) -> None:
    result = run(_against(servers.garbage, TCP_SERVICES[service][0]))
    _assert_failed_in_time(result)


@pytest.mark.parametrize("service", sorted(TCP_SERVICES))
def test_dead_port_fails_at_once(service: str) -> None:
    spec = TCP_SERVICES[service][0](servers.free_port())
    result = run(run_check(spec))
    assert not result.ok
    assert "timeout" not in result.reason, result  # refused at once, not waited for
    assert "refused" in result.reason or "error" in result.reason, result


@pytest.mark.parametrize("service", sorted(s for s, v in TCP_SERVICES.items() if v[3] is not None))
def test_endless_reply_bounded(service: str, server_tls: ssl.SSLContext) -> None:
    spec_for, tls, _, endless = TCP_SERVICES[service]
    assert endless is not None
    handler = servers.endless(*endless)
    ctx = server_tls if tls else None
    result = run(_against(handler, spec_for, ctx))
    _assert_failed_in_time(result)
    tracemalloc.start()  # memory in a second run: tracing slows everything down
    try:
        run(_against(handler, spec_for, ctx))
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes"


# --- UDP: silence, garbage, nobody listening ---------------------------------------


def _udp_spec(service: str, port: int) -> CheckSpec:
    if service == "dns":
        return make_spec(
            service="dns", protocol="udp", checkport=port, request="/a.test", receive="."
        )
    if service == "radius":
        return make_spec(service="radius", protocol="udp", checkport=port, secret="s", login="u")
    if service == "sip":
        return make_spec(service="sip", protocol="udp", checkport=port, login="l@test")
    return make_spec(
        service="simpletcp", protocol="udp", checkport=port, request="/x", receive="NEVER"
    )


UDP_SERVICES = ["dns", "radius", "sip", "simpletcp"]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        if self.mode == "garbage":
            self.transport.sendto(servers.GARBAGE, addr)


@pytest.mark.parametrize("mode", ["silent", "garbage"])
@pytest.mark.parametrize("service", UDP_SERVICES)
def test_udp_misbehaving_fails(service: str, mode: str) -> None:
    async def body() -> Any:
        async with servers.udp_server(_Udp(mode)) as port:
            return await run_check(_udp_spec(service, port))

    result = run(body())
    _assert_failed_in_time(result)


@pytest.mark.parametrize("service", UDP_SERVICES)
def test_udp_dead_port_fails(service: str) -> None:
    spec = _udp_spec(service, servers.free_port(kind=2))
    result = run(run_check(spec))
    _assert_failed_in_time(result)
