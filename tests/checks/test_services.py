"""Each negotiate service against its protocol-faithful test server: healthy passes,
wrong receive / wrong credentials / wrong reply fail, and what goes on the wire."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, cast

import pytest

from ldirectord_py.checks import CheckResult, CheckSpec, run_check
from tests.checks import servers
from tests.checks.conftest import make_spec, run


def against(
    handler: servers.Handler,
    tls: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
    **spec: Any,
) -> CheckResult:
    async def body() -> CheckResult:
        async with servers.tcp_server(handler, host=host, tls=tls) as srv:
            family = 6 if ":" in host else 4
            return await run_check(
                make_spec(address=host, family=family, checkport=srv.port, **spec)
            )

    return run(body())


def against_udp(
    protocol: asyncio.DatagramProtocol, host: str = "127.0.0.1", **spec: Any
) -> CheckResult:
    async def body() -> CheckResult:
        async with servers.udp_server(protocol, host=host) as port:
            family = 6 if ":" in host else 4
            return await run_check(
                make_spec(address=host, family=family, protocol="udp", checkport=port, **spec)
            )

    return run(body())


# --- smtp / submission ---------------------------------------------------------


@pytest.mark.parametrize("service", ["smtp", "submission"])
def test_smtp(service: str) -> None:
    assert against(servers.smtp_server, service=service).ok


def test_smtp_falls_back_to_helo() -> None:
    assert against(servers.smtp_helo_only, service="smtp").ok


def test_smtp_busy_greeting_fails() -> None:
    result = against(servers.smtp_busy, service="smtp")
    assert not result.ok and result.reason == "greeting 421"


# --- pop / pops / imap / imaps ---------------------------------------------------


def test_pop_greeting_only_without_login() -> None:
    assert against(servers.pop_server(), service="pop").ok


def test_pop_login() -> None:
    handler = servers.pop_server("alice", "secret")
    assert against(handler, service="pop", login="alice", passwd="secret").ok
    result = against(handler, service="pop", login="alice", passwd="wrong")
    assert not result.ok and result.reason.startswith("login")


def test_pops(server_tls: ssl.SSLContext) -> None:
    handler = servers.pop_server("alice", "secret")
    assert against(handler, server_tls, service="pops", login="alice", passwd="secret").ok
    assert not against(handler, server_tls, service="pops", login="alice", passwd="x").ok


def test_imap_login() -> None:
    handler = servers.imap_server("alice", 'se"cret')
    assert against(handler, service="imap").ok
    assert against(handler, service="imap", login="alice", passwd='se"cret').ok
    result = against(handler, service="imap", login="alice", passwd="wrong")
    assert not result.ok and result.reason == "login failed"


def test_imaps(server_tls: ssl.SSLContext) -> None:
    handler = servers.imap_server("alice", "secret")
    assert against(handler, server_tls, service="imaps", login="alice", passwd="secret").ok


def test_imap_bad_greeting_fails() -> None:
    assert not against(servers.nntp_server(b"* BYE go away\r\n"), service="imap").ok


# --- nntp ------------------------------------------------------------------------------


def test_nntp() -> None:
    assert against(servers.nntp_server(), service="nntp").ok
    assert against(servers.nntp_server(b"201 no posting\r\n"), service="nntp").ok
    result = against(servers.nntp_server(b"502 access denied\r\n"), service="nntp")
    assert not result.ok and result.reason == "greeting 502"


# --- ftp -------------------------------------------------------------------------------


def test_ftp_retrieves_and_matches() -> None:
    ftp = servers.FtpServer({"/index.html": b"<h1>ftp works</h1>"})
    assert against(
        ftp, service="ftp", request="/index.html", receive="ftp works", login="anonymous"
    ).ok
    assert ftp.commands[:5] == ["USER anonymous", "PASS -anonymous@", "CWD /", "TYPE I", "PASV"]
    assert ftp.commands[5] == "RETR /index.html"


def test_ftp_wrong_receive_missing_file_and_bad_login_fail() -> None:
    ftp = servers.FtpServer({"/f": b"content"}, user="bob", password="pw")
    ok = against(ftp, service="ftp", request="/f", receive="content", login="bob", passwd="pw")
    assert ok.ok
    r = against(ftp, service="ftp", request="/f", receive="other", login="bob", passwd="pw")
    assert not r.ok and r.reason == "receive did not match"
    r = against(ftp, service="ftp", request="/missing", receive="x", login="bob", passwd="pw")
    assert not r.ok and r.reason == "RETR failed (550)"
    r = against(ftp, service="ftp", request="/f", receive="content", login="bob", passwd="no")
    assert not r.ok and r.reason == "login failed (530)"


def test_ftp_empty_receive_needs_complete_transfer() -> None:
    ftp = servers.FtpServer({"/f": b""})
    assert against(ftp, service="ftp", request="/f", login="anonymous").ok


def test_ftp_ipv6_uses_epsv() -> None:
    ftp = servers.FtpServer({"/f": b"v6 content"})
    result = against(ftp, host="::1", service="ftp", request="/f", receive="v6", login="anonymous")
    assert result.ok, result
    assert "EPSV" in ftp.commands


def test_ftp_endless_file_is_capped() -> None:
    ftp = servers.FtpServer({})
    ftp.endless_data = True
    assert against(ftp, service="ftp", request="/f", receive="^ddd", login="anonymous").ok
    assert not against(ftp, service="ftp", request="/f", receive="NEVER", login="anonymous").ok


# --- sip -------------------------------------------------------------------------------


def test_sip_udp() -> None:
    sip = servers.SipUdp()
    assert against_udp(sip, service="sip", login="ldirectord@test.invalid").ok
    request = sip.requests[0].decode()
    assert request.startswith("OPTIONS sip:ldirectord@test.invalid SIP/2.0\r\n")
    assert "Via: SIP/2.0/UDP 127.0.0.1:" in request
    assert "CSeq: 63104 OPTIONS" in request and request.endswith("Content-Length: 0\r\n\r\n")


def test_sip_udp_not_200_fails() -> None:
    result = against_udp(servers.SipUdp(b"SIP/2.0 404 Not Found"), service="sip", login="x@y")
    assert not result.ok and "404" in result.reason


def test_sip_udp_ipv6() -> None:
    assert against_udp(servers.SipUdp(), host="::1", service="sip", login="x@y").ok


def test_sip_tcp() -> None:
    assert against(servers.sip_tcp(), service="sip", login="x@y").ok
    assert not against(servers.sip_tcp(b"SIP/2.0 503 Busy"), service="sip", login="x@y").ok


# --- simpletcp ----------------------------------------------------------------------------


def test_simpletcp_sends_request_and_matches_a_line() -> None:
    handler = servers.line_server({b"PING\nnext": b"first line\nPONG ok\nlast\n"})
    assert against(handler, service="simpletcp", request="/PING\\nnext", receive="^PONG").ok
    result = against(handler, service="simpletcp", request="/PING\\nnext", receive="^NOPE")
    assert not result.ok and result.reason == "receive did not match"
    assert against(handler, service="simpletcp", request="/PING\\nnext", receive="").ok


def test_simpletcp_no_reply_fails() -> None:
    handler = servers.line_server({b"x": b""})
    result = against(handler, service="simpletcp", request="/x", receive="")
    assert not result.ok and result.reason == "no reply"


class _Echo(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.transport.sendto(b"echo\n" + data.upper() + b"\n", addr)


def test_simpletcp_over_udp() -> None:
    assert against_udp(_Echo(), service="simpletcp", request="/hello", receive="^HELLO$").ok
    assert not against_udp(_Echo(), service="simpletcp", request="/hello", receive="^bye").ok


# --- ldap --------------------------------------------------------------------------------


LDAP_ENTRIES = {"dc=example,dc=test", "cn=health,dc=example,dc=test"}


@pytest.mark.parametrize("tls", [False, True])
def test_ldap(tls: bool, server_tls: ssl.SSLContext) -> None:
    service = "ldaps" if tls else "ldap"
    ctx = server_tls if tls else None
    srv = servers.LdapServer(LDAP_ENTRIES, {"cn=admin,dc=example,dc=test": "pw"})
    r = against(
        srv, ctx, service=service, request="/cn=health,dc=example,dc=test", receive="^cn=health"
    )
    assert r.ok, r
    r = against(srv, ctx, service=service, request="/dc=example,dc=test")
    assert r.ok, r
    r = against(srv, ctx, service=service, request="/dc=example,dc=test", receive="^cn=")
    assert not r.ok and r.reason == "receive did not match"
    r = against(srv, ctx, service=service, request="/dc=missing,dc=test")
    assert not r.ok and r.reason == "0 entries found (want exactly 1)"
    r = against(
        srv, ctx, service=service, request="/dc=example,dc=test",
        login="cn=admin,dc=example,dc=test", passwd="pw",
    )  # fmt: skip
    assert r.ok
    r = against(
        srv, ctx, service=service, request="/dc=example,dc=test",
        login="cn=admin,dc=example,dc=test", passwd="bad",
    )  # fmt: skip
    assert not r.ok and r.reason == "bind failed (result 49)"
    assert srv.binds[0] == ""  # anonymous unless login and passwd are both set


def test_ldap_deadline_is_checktimeout() -> None:
    async def body() -> CheckResult:
        async with servers.tcp_server(servers.hung) as srv:
            spec = make_spec(
                service="ldap", checkport=srv.port, checktimeout=0.3, negotiatetimeout=5.0
            )
            return await run_check(spec)

    assert run(body()).reason == "timeout after 0.3s"


# --- dns -------------------------------------------------------------------------------------

A = {"www.example.test.": "127.1.2.3"}
PTR = {"3.2.1.127.in-addr.arpa.": "www.example.test."}


def dns_spec(**kw: Any) -> dict[str, Any]:
    return {"service": "dns", **kw}


def test_dns_a_and_ptr() -> None:
    server = servers.DnsServer(A, PTR)
    assert against_udp(server, **dns_spec(request="/www.example.test", receive=r"127\.1\.2\.3")).ok
    assert against_udp(server, **dns_spec(request="/127.1.2.3", receive="^www.example.test$")).ok
    assert server.queries == [("www.example.test.", "A"), ("3.2.1.127.in-addr.arpa.", "PTR")]


def test_dns_wrong_receive_nxdomain_and_empty_receive_fail() -> None:
    server = servers.DnsServer(A, PTR)
    r = against_udp(server, **dns_spec(request="/www.example.test", receive="^10\\."))
    assert not r.ok and r.reason == "receive did not match"
    r = against_udp(server, **dns_spec(request="/nope.example.test", receive="."))
    assert not r.ok and r.reason == "NXDOMAIN"
    r = against_udp(server, **dns_spec(request="/www.example.test", receive=""))
    assert not r.ok and r.reason == "empty receive is always down"


def test_dns_servfail() -> None:
    r = against_udp(
        servers.DnsServer(A, PTR, "servfail"), **dns_spec(request="/www.example.test", receive=".")
    )
    assert not r.ok and r.reason == "SERVFAIL"


def test_dns_tcp_and_truncation_fallback() -> None:
    server = servers.DnsServer(A, PTR, "truncate")

    async def body(protocol: str) -> CheckResult:
        loop = asyncio.get_running_loop()
        tcp = await asyncio.start_server(server.tcp_handler(), "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: server, local_addr=("127.0.0.1", port)
        )
        try:
            spec = make_spec(
                protocol=protocol,
                checkport=port,
                **dns_spec(request="/www.example.test", receive="127"),
            )
            return await run_check(spec)
        finally:
            transport.close()
            tcp.close()

    assert run(body("udp")).ok  # TC set over UDP: retried over TCP
    assert run(body("tcp")).ok


# --- radius ---------------------------------------------------------------------------------


def radius(mode: str = "ok", passwd: str = "pw", secret: str = "s3cret") -> CheckResult:
    server = servers.RadiusServer(b"s3cret", {"alice": "pw"}, mode)
    return against_udp(server, service="radius", login="alice", passwd=passwd, secret=secret)


def test_radius_accept_is_alive_and_reject_is_down_as_in_the_original() -> None:
    r = radius()
    assert r.ok and r.reason == "Access-Accept"
    r = radius(passwd="wrong")
    assert not r.ok and "Access-Reject" in r.reason


def test_radius_password_is_hidden_with_the_secret() -> None:
    server = servers.RadiusServer(b"s3cret", {}, "ok")
    long_pw = "a-password-longer-than-sixteen-bytes"
    against_udp(server, service="radius", login="bob", passwd=long_pw, secret="s3cret")
    assert server.seen == [("bob", long_pw)]


@pytest.mark.parametrize("mode", ["silent", "garbage", "wrong-secret", "wrong-id"])
def test_radius_bad_replies_fail(mode: str) -> None:
    assert not radius(mode).ok


# --- oracle ------------------------------------------------------------------------------------


@pytest.mark.parametrize("resend", [False, True])
def test_oracle_tns(resend: bool) -> None:
    listener = servers.tns_listener({"ORCL"}, resend_first=resend)
    r = against(listener, service="oracle", database="ORCL", login="u", request="/select 1")
    assert r.ok and r.reason == "listener accepted"
    r = against(listener, service="oracle", database="NOPE", login="u", request="/select 1")
    assert not r.ok and r.reason == "listener refused (ERR=12505)"


# --- sql without login ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["mysql", "pgsql"])
def test_sql_needs_login_and_request(service: str) -> None:
    r = run(run_check(make_spec(service=service, checkport=1, request="/")))
    assert not r.ok and r.reason == "login and request are required"


def _unused(spec: CheckSpec) -> None:
    del spec
