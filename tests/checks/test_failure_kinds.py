"""Every check says why it failed as a FailureKind (issue 12): each check's failure
paths against the test servers, the runner's classification of exceptions, and
the scheduler's own failures. A success is FailureKind.NONE."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from ldirectord_py.checks import CheckResult, CheckSpec, Scheduler, run_check
from ldirectord_py.checks.result import CheckFailed, FailureKind
from ldirectord_py.checks.runner import CombinedState, describe_error
from ldirectord_py.checks.runtime import CheckRuntime
from tests.checks import servers
from tests.checks.conftest import make_spec, run
from tests.checks.test_adversarial import TCP_SERVICES, _against
from tests.checks.test_services import against, against_udp

pytestmark = pytest.mark.root

K = FailureKind


def _fails(result: CheckResult, kind: FailureKind, reason: str | None = None) -> None:
    assert not result.ok, result
    assert result.kind is kind, result
    if reason is not None:
        assert result.reason == reason, result


# --- the runner's classification of what a check raised ------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason", "kind"),
    [
        (CheckFailed("status 503", K.HTTP_STATUS), "status 503", K.HTTP_STATUS),
        (CheckFailed("greeting 421"), "greeting 421", K.OTHER),
        (ConnectionRefusedError(errno.ECONNREFUSED, "x"), "connect refused", K.REFUSED),
        (ConnectionResetError(errno.ECONNRESET, "x"), "connection reset", K.RESET),
        (BrokenPipeError(errno.EPIPE, "x"), "connection reset", K.RESET),
        (asyncio.IncompleteReadError(b"", 10), "connection closed early", K.CLOSED),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to host", K.UNREACHABLE),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "no route to host", K.UNREACHABLE),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), "connection timed out", K.TIMEOUT),
        (OSError(errno.EACCES, "Permission denied"), "permission denied", K.OTHER),
        (ValueError("a library's bug"), "a library's bug", K.INTERNAL),
        (KeyError("k"), "'k'", K.INTERNAL),
    ],
)
def test_describe_error(exc: BaseException, reason: str, kind: FailureKind) -> None:
    assert describe_error(exc) == (reason, kind)


def test_describe_tls_error() -> None:
    reason, kind = describe_error(ssl.SSLError(1, "bad"))
    assert kind is K.TLS and reason.startswith("TLS error: ")


# --- connect, ping, external, on ---------------------------------------------------------


def test_connect_kinds() -> None:
    r = run(run_check(make_spec(checktype="connect", checkport=servers.free_port())))
    _fails(r, K.REFUSED, "connect refused")
    _fails(run(run_check(make_spec(checktype="connect", checkport=None))), K.OTHER)


def test_successes_are_none() -> None:
    async def body() -> list[CheckResult]:
        async with servers.tcp_server(servers.hung) as srv:
            connect = make_spec(checktype="connect", checkport=srv.port)
            return [
                await run_check(connect),
                await run_check(make_spec(checktype="on")),
                await run_check(make_spec(checktype="negotiate", service="none")),
                await run_check(make_spec(checktype="ping")),
            ]

    for r in run(body()):
        assert r.ok and r.kind is K.NONE, r


class _FakePinger:
    """Stands in for the runtime's ICMP socket: every echo fails with `error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def ping(self, address: str, timeout: float) -> None:
        raise self.error

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (TimeoutError(), K.NO_ANSWER, "no echo reply (2 x 0.6s)"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), K.UNREACHABLE, None),
        (OSError(errno.EPERM, "Operation not permitted"), K.OTHER, None),
    ],
)
def test_ping_kinds(error: BaseException, kind: FailureKind, reason: str | None) -> None:
    async def body() -> CheckResult:
        runtime = CheckRuntime(asyncio.get_running_loop())
        runtime._pingers[socket.AF_INET] = _FakePinger(error)  # type: ignore[assignment]
        try:
            return await run_check(make_spec(checktype="ping", checkcount=2), runtime=runtime)
        finally:
            await runtime.close()

    _fails(run(body()), kind, reason)


def test_external_kinds(tmp_path: Path) -> None:
    script = tmp_path / "exit3.sh"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    r = run(run_check(make_spec(checktype="external", checkcommand=str(script))))
    _fails(r, K.EXIT_STATUS, "exit status 3")
    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    r = run(run_check(make_spec(checktype="external", checkcommand=str(hang))))
    _fails(r, K.TIMEOUT)
    r = run(run_check(make_spec(checktype="external", checkcommand=str(tmp_path / "none"))))
    _fails(r, K.OTHER)


# --- combined: the kind of the half that ran ------------------------------------------------


def test_combined_keeps_the_kind() -> None:
    port = servers.free_port()
    spec = make_spec(
        checktype="combined",
        service="http",
        num_connects=1,
        checkport=port,
        url=f"http://127.0.0.1:{port}/",
    )
    state = CombinedState()
    r = run(run_check(spec, state))
    _fails(r, K.REFUSED, "negotiate: connect refused")


# --- negotiate services ------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(TCP_SERVICES))
def test_tcp_service_transport_kinds(service: str) -> None:
    """A dead port, a reset, a hung server: the same kind whatever the protocol."""
    spec_for = TCP_SERVICES[service][0]
    _fails(run(run_check(spec_for(servers.free_port()))), K.REFUSED)
    _fails(run(_against(servers.hung, spec_for)), K.TIMEOUT)
    reset = run(_against(servers.reset, spec_for))
    if service == "mysql":
        _fails(reset, K.CLOSED)  # the driver's "lost connection" (error 2013)
    else:
        _fails(reset, K.RESET, "connection reset")


GARBAGE_KINDS = {
    "dns-tcp": K.MALFORMED,
    "ftp": K.MALFORMED,
    "http": K.MALFORMED,
    "http_proxy": K.MALFORMED,
    "https": K.TLS,
    "imap": K.MALFORMED,
    "imaps": K.TLS,
    "ldap": K.MALFORMED,
    "ldaps": K.TLS,
    "mysql": K.OTHER,  # the driver's error text, as the reason says
    "nntp": K.OTHER,  # "greeting ...": an answer, not the one wanted
    "oracle": K.MALFORMED,
    "pgsql": K.OTHER,
    "pop": K.OTHER,  # "greeting: ..."
    "pops": K.TLS,
    "simpletcp": K.TIMEOUT,  # no matching line before the deadline
    "sip-tcp": K.OTHER,  # "reply '...'"
    "smtp": K.MALFORMED,
    "submission": K.MALFORMED,
}


@pytest.mark.parametrize("service", sorted(TCP_SERVICES))
def test_garbage_reply_kind(service: str) -> None:
    _fails(run(_against(servers.garbage, TCP_SERVICES[service][0])), GARBAGE_KINDS[service])


def test_http_kinds(server_tls: ssl.SSLContext) -> None:
    def http(path: str, **kw: Any) -> CheckResult:
        async def body() -> CheckResult:
            async with servers.tcp_server(servers.HttpServer()) as srv:
                url = f"http://127.0.0.1:{srv.port}{path}"
                return await run_check(make_spec(service="http", checkport=srv.port, url=url, **kw))

        return run(body())

    _fails(http("/status/503"), K.HTTP_STATUS, "status 503")
    _fails(http("/status/404"), K.HTTP_STATUS, "status 404")
    _fails(http("/ok", receive="NEVER"), K.RECEIVE_MISMATCH, "receive did not match")
    _fails(http("/redirect-loop"), K.HTTP_STATUS, "status 302")
    assert http("/ok").kind is K.NONE


async def _closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and close at once (FIN)."""
    writer.close()


def test_mail_kinds(server_tls: ssl.SSLContext) -> None:
    _fails(against(servers.smtp_busy, service="smtp"), K.OTHER, "greeting 421")
    pop = servers.pop_server("alice", "secret")
    _fails(against(pop, service="pop", login="alice", passwd="wrong"), K.LOGIN)
    imap = servers.imap_server("alice", "secret")
    _fails(against(imap, service="imap", login="alice", passwd="x"), K.LOGIN, "login failed")
    bye = servers.nntp_server(b"* BYE go away\r\n")
    _fails(against(bye, service="imap"), K.MALFORMED, "bad greeting")
    _fails(against(servers.nntp_server(b"502 no\r\n"), service="nntp"), K.OTHER, "greeting 502")
    for service in ("nntp", "smtp", "pop"):
        r = against(_closes, service=service)
        _fails(r, K.CLOSED, "connection closed before greeting")


def test_ftp_kinds() -> None:
    ftp = servers.FtpServer({"/f": b"content"}, user="bob", password="pw")
    kw: dict[str, Any] = {"service": "ftp", "login": "bob"}
    r = against(ftp, request="/f", receive="other", passwd="pw", **kw)
    _fails(r, K.RECEIVE_MISMATCH, "receive did not match")
    _fails(against(ftp, request="/missing", receive="x", passwd="pw", **kw), K.OTHER)
    r = against(ftp, request="/f", receive="content", passwd="no", **kw)
    _fails(r, K.LOGIN, "login failed (530)")


def test_sip_and_simpletcp_kinds() -> None:
    r = against_udp(servers.SipUdp(b"SIP/2.0 404 Not Found"), service="sip", login="x@y")
    _fails(r, K.OTHER)
    handler = servers.line_server({b"PING": b"first\nsecond\n"})
    r = against(handler, service="simpletcp", request="/PING", receive="^NOPE")
    _fails(r, K.RECEIVE_MISMATCH, "receive did not match")
    r = against(servers.line_server({b"x": b""}), service="simpletcp", request="/x", receive="")
    _fails(r, K.NO_ANSWER, "no reply")


def test_ldap_kinds() -> None:
    srv = servers.LdapServer({"dc=example,dc=test"}, {"cn=admin,dc=example,dc=test": "pw"})
    r = against(srv, service="ldap", request="/dc=example,dc=test", receive="^cn=")
    _fails(r, K.RECEIVE_MISMATCH, "receive did not match")
    r = against(srv, service="ldap", request="/dc=missing,dc=test")
    _fails(r, K.RECEIVE_MISMATCH, "0 entries found (want exactly 1)")
    r = against(
        srv, service="ldap", request="/dc=example,dc=test",
        login="cn=admin,dc=example,dc=test", passwd="bad",
    )  # fmt: skip
    _fails(r, K.LOGIN, "bind failed (result 49)")


A = {"www.example.test.": "127.1.2.3"}


def test_dns_kinds() -> None:
    def dns(server: servers.DnsServer, **kw: Any) -> CheckResult:
        return against_udp(server, service="dns", **kw)

    ok = servers.DnsServer(A, {})
    r = dns(ok, request="/www.example.test", receive="^10\\.")
    _fails(r, K.RECEIVE_MISMATCH, "receive did not match")
    _fails(dns(ok, request="/nope.example.test", receive="."), K.DNS_RCODE, "NXDOMAIN")
    _fails(dns(ok, request="/www.example.test", receive=""), K.OTHER)
    r = dns(servers.DnsServer(A, {}, "servfail"), request="/www.example.test", receive=".")
    _fails(r, K.DNS_RCODE, "SERVFAIL")
    r = dns(servers.DnsServer(A, {}, "silent"), request="/www.example.test", receive=".")
    _fails(r, K.TIMEOUT)


@pytest.mark.parametrize(
    ("mode", "passwd", "kind"),
    [
        ("ok", "wrong", K.LOGIN),  # Access-Reject
        ("wrong-secret", "pw", K.LOGIN),
        ("wrong-id", "pw", K.MALFORMED),
        ("garbage", "pw", K.MALFORMED),
        ("silent", "pw", K.TIMEOUT),
    ],
)
def test_radius_kinds(mode: str, passwd: str, kind: FailureKind) -> None:
    server = servers.RadiusServer(b"s3cret", {"alice": "pw"}, mode)
    r = against_udp(server, service="radius", login="alice", passwd=passwd, secret="s3cret")
    _fails(r, kind)


def test_oracle_and_sql_kinds() -> None:
    listener = servers.tns_listener({"ORCL"})
    r = against(listener, service="oracle", database="NOPE", login="u", request="/select 1")
    _fails(r, K.OTHER, "listener refused (ERR=12505)")
    for service in ("mysql", "pgsql"):
        r = run(run_check(make_spec(service=service, checkport=1, request="/")))
        _fails(r, K.OTHER, "login and request are required")


# --- the scheduler's own failures ----------------------------------------------------------


def test_a_check_that_raises_in_the_scheduler_is_internal() -> None:
    async def broken(
        spec: CheckSpec, state: CombinedState | None, runtime: CheckRuntime | None = None
    ) -> CheckResult:
        raise RuntimeError("bug")

    async def body() -> list[CheckResult]:
        delivered: list[CheckResult] = []
        s = Scheduler(lambda i, r: delivered.append(r), runner=broken)
        s.update([make_spec(checkinterval=60.0)])
        await s.check_now()
        await s.stop()
        return delivered

    [r] = run(body())
    _fails(r, K.INTERNAL, "internal error: RuntimeError")
