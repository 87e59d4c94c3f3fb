"""http, https, http_proxy against the protocol-faithful HttpServer: what is sent,
every body framing, redirects, status and receive semantics, bounded bodies."""

from __future__ import annotations

import gc
import ssl
import tracemalloc
from typing import Any

import pytest

from ldirectord_py.checks import CheckResult, run_check
from tests.checks import servers
from tests.checks.conftest import DEADLINE, MARGIN, make_spec, run


def http(
    path: str,
    receive: str = "",
    *,
    method: str = "GET",
    virtualhost: str | None = None,
    tls: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
) -> tuple[CheckResult, servers.HttpServer]:
    app = servers.HttpServer()

    async def body() -> CheckResult:
        async with servers.tcp_server(app, host=host, tls=tls) as srv:
            scheme = "https" if tls else "http"
            h = f"[{host}]" if ":" in host else host
            spec = make_spec(
                service=scheme,
                family=6 if ":" in host else 4,
                address=host,
                checkport=srv.port,
                url=f"{scheme}://{h}:{srv.port}{path}",
                receive=receive,
                httpmethod=method,
                virtualhost=virtualhost,
            )
            return await run_check(spec)

    return run(body()), app


def test_ok_and_what_is_sent() -> None:
    result, app = http("/ok", "hello")
    assert result.ok and result.reason == "status 200"
    req = app.requests[0]
    assert (req.method, req.target) == ("GET", "/ok")
    assert req.headers["host"] == "127.0.0.1"  # the real's IP, no port (spec 2.4)
    assert req.headers["connection"] == "close"
    assert req.headers["user-agent"].startswith("libwww-perl/")


def test_virtualhost_is_the_host_header() -> None:
    result, app = http("/host", "host=www.example.test", virtualhost="www.example.test")
    assert result.ok, result
    assert app.requests[0].headers["host"] == "www.example.test"


def test_ipv6_host_header_is_bracketed() -> None:
    result, _app = http("/host", r"host=\[::1\]$", host="::1")
    assert result.ok, result


def test_wrong_receive_fails() -> None:
    result, _ = http("/ok", "goodbye")
    assert not result.ok and result.reason == "receive did not match"


def test_receive_is_a_perl_regex() -> None:
    assert http("/ok", r"<html>\w+\s+world</html>\z" + "|" + r"world</html>\Z")[0].ok
    assert http("/ok", r"(?<greet>hello) \k<greet>?")[0].ok
    assert not http("/ok", r"^world")[0].ok


def test_receive_newline_only_counts_as_empty() -> None:
    assert http("/ok", "\n")[0].ok  # the original's !($recstr =~ /.+/)


def test_bad_regex_fails_with_reason() -> None:
    result, _ = http("/ok", "(unclosed")
    assert not result.ok and result.reason.startswith("bad receive regex")


@pytest.mark.parametrize("code", ["500", "503", "404", "301"])
def test_non_2xx_fails(code: str) -> None:
    result, _ = http(f"/status/{code}")
    assert not result.ok and result.reason == f"status {code}"


def test_2xx_other_than_200_passes() -> None:
    result, _ = http("/status/204")
    assert result.ok and result.reason == "status 204"


@pytest.mark.parametrize(
    ("path", "receive"),
    [
        ("/chunked", "hello chunk"),
        ("/close", "close delimited body"),
        ("/continue", "after continue"),
        ("/redirect", "hello world"),
        ("/truncated", "partial"),  # LWP keeps a body that broke off
    ],
)
def test_framings(path: str, receive: str) -> None:
    result, _ = http(path, receive)
    assert result.ok, result


def test_redirect_drops_host_header() -> None:
    result, app = http("/redirect", "hello", virtualhost="vh.test")
    assert result.ok
    assert [r.target for r in app.requests] == ["/redirect", "/ok"]
    assert app.requests[0].headers["host"] == "vh.test"
    assert app.requests[1].headers["host"].startswith("127.0.0.1:")


def test_redirect_loop_stops_after_seven() -> None:
    result, app = http("/redirect-loop")
    assert not result.ok and result.reason == "status 302"
    assert len(app.requests) == 8


def test_head_with_receive_fails_and_without_passes() -> None:
    result, app = http("/ok", "hello", method="HEAD")
    assert not result.ok and result.reason == "receive did not match"
    assert app.requests[0].method == "HEAD"
    assert http("/ok", method="HEAD")[0].ok


def test_huge_body_is_capped_and_matched_on_its_start() -> None:
    tracemalloc.start()
    try:
        ok, _ = http("/huge", "^NEEDLE")
        # the in-process server's handler, cancelled when its loop closes, keeps
        # its 5 MiB body in a traceback cycle until collected: not the check's
        gc.collect()
        tail, _ = http("/huge", "TAILMARK")
        _s, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ok.ok
    assert not tail.ok  # beyond the 1 MiB cap
    assert peak < 16 * 1024 * 1024


@pytest.mark.parametrize("path", ["/endless", "/endless-chunked"])
def test_endless_body_is_bounded(path: str) -> None:
    matched, _ = http(path, "^BEGIN")
    unmatched, _ = http(path, "NEVER")
    assert matched.ok, matched
    assert not unmatched.ok and unmatched.reason == "receive did not match"
    assert unmatched.latency < DEADLINE + MARGIN
    tracemalloc.start()  # memory in a second run: tracing slows everything down
    try:
        http(path, "NEVER")
        _s, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_dripping_body_times_out() -> None:
    result, _ = http("/drip-body", "z")
    assert not result.ok and result.reason == f"timeout after {DEADLINE:g}s"
    assert result.latency <= DEADLINE + MARGIN


def test_reply_without_status_line_fails() -> None:
    # LWP would take this as HTTP/0.9 and 200; we do not (docs/checks/http.md)
    result, _ = http("/http09")
    assert not result.ok and result.reason == "malformed response"


def test_https_without_verification(server_tls: ssl.SSLContext) -> None:
    result, _app = http("/ok", "hello", tls=server_tls)
    assert result.ok, result
    result, _ = http("/ok", "nope", tls=server_tls)
    assert not result.ok


def test_https_against_plain_http_fails(server_tls: ssl.SSLContext) -> None:
    async def body() -> Any:
        async with servers.tcp_server(servers.HttpServer()) as srv:
            spec = make_spec(
                service="https", checkport=srv.port, url=f"https://127.0.0.1:{srv.port}/ok"
            )
            return await run_check(spec)

    result = run(body())
    assert not result.ok, result


def test_http_proxy_sends_absolute_url() -> None:
    app = servers.HttpServer()

    async def body() -> CheckResult:
        async with servers.tcp_server(app) as srv:
            spec = make_spec(
                service="http_proxy",
                checkport=srv.port,
                url="http://www.example.test/ok",
                receive="hello",
            )
            return await run_check(spec)

    result = run(body())
    assert result.ok, result
    assert app.requests[0].target == "http://www.example.test/ok"
    assert app.requests[0].headers["host"] == "www.example.test"


def test_bad_url_fails() -> None:
    result = run(run_check(make_spec(service="http_proxy", checkport=1, url="")))
    assert not result.ok and result.reason.startswith("bad URL")


def test_deadline_is_negotiatetimeout() -> None:
    async def body() -> CheckResult:
        async with servers.tcp_server(servers.hung) as srv:
            spec = make_spec(
                service="http",
                checkport=srv.port,
                url=f"http://127.0.0.1:{srv.port}/",
                checktimeout=5.0,
                negotiatetimeout=0.3,
            )
            return await run_check(spec)

    result = run(body())
    assert result.reason == "timeout after 0.3s"
    assert 0.3 <= result.latency < 0.3 + MARGIN
