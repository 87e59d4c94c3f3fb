"""Check types other than negotiate services: connect, ping, external,
external-perl, on, off, combined; the deadline table; CheckSpec from a parsed
config; the receive-regex translation."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from ldirectord_py.checks import CheckResult, CheckSpec, CombinedState, plan, regex, run_check
from ldirectord_py.checks import external as external_mod
from ldirectord_py.checks.runtime import runtime_for
from ldirectord_py.config import parse_text
from tests.checks import servers
from tests.checks.conftest import DEADLINE, MARGIN, make_spec, require, run

pytestmark = pytest.mark.root

# --- connect ---------------------------------------------------------------------------


def _listening(spec_kw: dict[str, Any], host: str = "127.0.0.1") -> CheckResult:
    async def body() -> CheckResult:
        async with servers.tcp_server(servers.hung, host=host) as srv:
            family = 6 if ":" in host else 4
            spec = make_spec(checkport=srv.port, address=host, family=family, **spec_kw)
            return await run_check(spec)

    return run(body())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_connect(host: str) -> None:
    r = _listening({"checktype": "connect"}, host)
    assert r.ok and r.reason == "connected"
    r = run(run_check(make_spec(checktype="connect", checkport=servers.free_port())))
    assert not r.ok and r.reason == "connect refused"


def test_connect_without_port_fails() -> None:
    r = run(run_check(make_spec(checktype="connect", checkport=None)))
    assert not r.ok and r.reason == "no check port"


def test_connect_on_udp_virtual_pings() -> None:
    spec = make_spec(checktype="connect", protocol="udp", checkport=53)
    _kind, fn, _deadline = plan(spec)
    assert fn.__module__.endswith(".ping")
    r = run(run_check(spec))
    assert r.ok and r.reason == "echo reply"


# --- ping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.8.7", "::1"])
def test_ping_answers(address: str) -> None:
    spec = make_spec(checktype="ping", address=address, family=6 if ":" in address else 4)
    r = run(run_check(spec))
    assert r.ok and r.reason == "echo reply", r


def test_many_pings_share_one_socket() -> None:
    async def body() -> list[CheckResult]:
        import asyncio

        specs = [
            make_spec(checktype="ping", address=f"127.0.{i // 250}.{i % 250 + 1}")
            for i in range(500)
        ]
        return await asyncio.gather(*(run_check(s) for s in specs))

    results = run(body())
    assert all(r.ok for r in results)


_PING_IN_NETNS = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, {repo!r})
    from ldirectord_py.checks import CheckSpec, run_check
    def spec(addr, fam):
        return CheckSpec(identity="p", checktype="ping", service="none", protocol="tcp",
            family=fam, address=addr, port=0, checkport=None, virtual_address=None,
            virtual_port=0, fwmark=None, checktimeout=0.3, negotiatetimeout=0.3, checkcount=2)
    async def main():
        out = []
        for addr, fam in (("127.0.0.1", 4), ("::1", 6)):
            r = await run_check(spec(addr, fam))
            out.append([r.ok, r.reason, r.latency])
        print(json.dumps(out))
    asyncio.run(main())
    """
)


def test_ping_without_reply_fails_after_checkcount_attempts() -> None:
    """In a private network namespace whose kernel ignores echo requests (so no
    host setting changes): 2 attempts of 0.3 s each, then down."""
    require("unshare", "util-linux")
    require("ip", "iproute2")
    repo = str(Path(__file__).resolve().parents[2])
    script = _PING_IN_NETNS.format(repo=repo)
    shell = (
        "ip link set lo up && "
        "echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all && "
        "echo 1 > /proc/sys/net/ipv6/icmp/echo_ignore_all && "
        f'exec {sys.executable} -c "$0"'
    )
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", shell, script], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    for ok, reason, latency in json.loads(proc.stdout):
        assert not ok
        assert reason == "no echo reply (2 x 0.3s)"
        assert 0.6 <= latency < 0.6 + MARGIN


# --- external, external-perl ------------------------------------------------------------------


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def test_external_gets_the_four_arguments(tmp_path: Path) -> None:
    out = tmp_path / "args"
    cmd = _script(tmp_path, "c.sh", f'#!/bin/sh\necho "$@" > {out}\n')
    spec = make_spec(
        checktype="external", checkcommand=cmd, address="127.0.0.1", port=8080, virtual_port=80
    )
    assert run(run_check(spec)).ok
    assert out.read_text() == "127.0.0.100 80 127.0.0.1 8080\n"
    fwm = make_spec(
        checktype="external", checkcommand=cmd, virtual_address=None, fwmark=7, virtual_port=0
    )
    assert run(run_check(fwm)).ok
    assert out.read_text() == "7 0 127.0.0.1 0\n"
    v6 = make_spec(
        checktype="external",
        checkcommand=cmd,
        family=6,
        address="::1",
        port=80,
        virtual_address="::2",
    )
    assert run(run_check(v6)).ok
    assert out.read_text() == "[::2] 80 [::1] 80\n"


def test_external_exit_status_decides(tmp_path: Path) -> None:
    cmd = _script(tmp_path, "c.sh", "#!/bin/sh\nexit 3\n")
    r = run(run_check(make_spec(checktype="external", checkcommand=cmd)))
    assert not r.ok and r.reason == "exit status 3"
    assert run(run_check(make_spec(checktype="external", checkcommand="true"))).ok  # PATH lookup


def test_external_no_shell(tmp_path: Path) -> None:
    # "/bin/echo -n" is one file name, as in the original: exec fails, down
    r = run(run_check(make_spec(checktype="external", checkcommand="/bin/echo -n")))
    assert not r.ok and r.reason.startswith("exec /bin/echo -n failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/stat").exists()
        and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    )


@pytest.mark.parametrize("ignore_term", [False, True])
def test_external_killed_at_deadline(tmp_path: Path, ignore_term: bool) -> None:
    pids = tmp_path / "pids"
    trap = "trap '' TERM\n" if ignore_term else ""
    cmd = _script(
        tmp_path, "hang.sh", f"#!/bin/sh\n{trap}sleep 30 &\necho $$ $! > {pids}\nwait\nsleep 30\n"
    )

    async def body() -> CheckResult:
        r = await run_check(make_spec(checktype="external", checkcommand=cmd))
        await runtime_for(asyncio.get_running_loop()).drain_reapers()
        return r

    started = time.monotonic()
    r = run(body())
    assert not r.ok and r.reason == f"timeout after {DEADLINE:g}s"
    assert r.latency < DEADLINE + MARGIN
    shell, child = (int(p) for p in pids.read_text().split())
    for _ in range(50):  # SIGKILL is delivered asynchronously
        if not _alive(shell) and not _alive(child):
            break
        time.sleep(0.02)
    assert not _alive(shell) and not _alive(child)  # the whole process group
    grace = external_mod.KILL_GRACE if ignore_term else 0
    assert time.monotonic() - started < DEADLINE + grace + 2 * MARGIN


def test_external_perl(tmp_path: Path) -> None:
    require("perl", "perl")
    out = tmp_path / "args"
    ok = _script(
        tmp_path, "ok.pl", f'open(F, ">{out}"); print F join(" ", @ARGV); close F; exit 0;\n'
    )
    assert run(run_check(make_spec(checktype="external-perl", checkcommand=ok, port=81))).ok
    assert out.read_text() == "127.0.0.100 80 127.0.0.1 81"
    fail = _script(tmp_path, "fail.pl", "exit 2;\n")
    r = run(run_check(make_spec(checktype="external-perl", checkcommand=fail)))
    assert not r.ok and r.reason == "exit status 2"
    dies = _script(tmp_path, "die.pl", 'die "broken";\n')
    assert not run(run_check(make_spec(checktype="external-perl", checkcommand=dies))).ok
    falls_off = _script(tmp_path, "end.pl", "my $x = 1;\n")
    assert run(run_check(make_spec(checktype="external-perl", checkcommand=falls_off))).ok
    hangs = _script(tmp_path, "hang.pl", "sleep 30;\n")
    r = run(run_check(make_spec(checktype="external-perl", checkcommand=hangs)))
    assert not r.ok and r.latency < DEADLINE + MARGIN


# --- on, off, none -------------------------------------------------------------------------------


def test_on_off_none() -> None:
    assert run(run_check(make_spec(checktype="on"))).ok
    assert run(run_check(make_spec(checktype="negotiate", service="none"))).ok
    with pytest.raises(ValueError, match="never checked"):
        plan(make_spec(checktype="off"))


# --- combined ----------------------------------------------------------------------------------


def test_combined_sequence_healthy_and_failing() -> None:
    """checktype=3: negotiate, connect, connect, connect, negotiate, ...; after a
    failure, negotiate every time (spec 5.3, observed readdquiescent-combined)."""

    async def body() -> tuple[list[str], list[str]]:
        app = servers.HttpServer()
        async with servers.tcp_server(app) as srv:
            spec = make_spec(
                checktype="combined",
                num_connects=3,
                service="http",
                checkport=srv.port,
                url=f"http://127.0.0.1:{srv.port}/ok",
            )
            state = CombinedState()
            healthy = []
            for _ in range(9):
                r = await run_check(spec, state)
                assert r.ok, r
                healthy.append(r.reason.split(":")[0])
        dead = []
        for _ in range(3):
            r = await run_check(spec, state)
            assert not r.ok
            dead.append(r.reason.split(":")[0])
        return healthy, dead

    healthy, dead = run(body())
    assert healthy == ["negotiate", "connect", "connect", "connect"] * 2 + ["negotiate"]
    assert dead == ["connect", "negotiate", "negotiate"]


def test_combined_connect_failure_forces_negotiate() -> None:
    state = CombinedState()
    spec = make_spec(checktype="combined", num_connects=2, service="none")
    assert plan(spec, state)[0] == "negotiate"
    state.record("negotiate", True)
    assert plan(spec, state)[0] == "connect"
    state.record("connect", False)
    assert plan(spec, state)[0] == "negotiate"
    state.record("negotiate", False)
    assert plan(spec, state)[0] == "negotiate"


# --- deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "deadline"),
    [
        ({"checktype": "connect"}, 1.0),
        ({"checktype": "external"}, 1.0),
        ({"checktype": "external-perl"}, 1.0),
        ({"checktype": "ping", "checkcount": 3}, 3.05),
        ({"checktype": "negotiate", "service": "http"}, 7.0),
        ({"checktype": "negotiate", "service": "ldap"}, 1.0),
        ({"checktype": "negotiate", "service": "ldaps"}, 1.0),
        ({"checktype": "negotiate", "service": "radius"}, 1.0),
        ({"checktype": "negotiate", "service": "mysql"}, 7.0),
        ({"checktype": "negotiate", "service": "pgsql"}, 7.0),
        ({"checktype": "negotiate", "service": "dns"}, 7.0),
        ({"checktype": "negotiate", "service": "sip"}, 7.0),
    ],
)
def test_deadline_table(kw: dict[str, Any], deadline: float) -> None:
    spec = make_spec(checktimeout=1.0, negotiatetimeout=7.0, **kw)
    assert plan(spec)[2] == pytest.approx(deadline)


# --- CheckSpec from a parsed configuration -------------------------------------------------------

CONFIG = """\
checktimeout=3
negotiatetimeout=9
checkinterval=4
virtual=127.0.0.100:80
	real=127.0.0.11:8080 gate 2
	real=127.0.0.12:8080 masq 1 "/other", "other ok"
	service=http
	request="health"
	receive="ok"
	virtualhost=www.example.test
	checktype=negotiate
virtual=127.0.0.101:80
	real=127.0.0.11:8080 gate 2
	service=http
	request="health"
	receive="ok"
	virtualhost=www.example.test
	checktype=negotiate
virtual=7
	real=127.0.0.13 gate
	checktype=external
	checkcommand=/usr/local/bin/check
"""


def test_spec_for_real_from_config() -> None:
    cfg = parse_text(CONFIG, "test.cf", hostname="director", check_files=False)
    v1, v2, v3 = cfg.virtuals
    s1 = CheckSpec.for_real(v1, v1.reals[0])
    assert s1.identity == v1.check_identity(v1.reals[0])
    assert s1.url == "http://127.0.0.11:8080/health"
    assert (s1.request, s1.receive, s1.virtualhost) == ("/health", "ok", "www.example.test")
    assert (s1.checktimeout, s1.negotiatetimeout, s1.checkinterval) == (3.0, 9.0, 4.0)
    assert s1.checkport == 8080
    s2 = CheckSpec.for_real(v1, v1.reals[1])
    assert (s2.request, s2.receive, s2.url) == (
        "/other",
        "other ok",
        "http://127.0.0.12:8080/other",
    )
    # the same real with the same check in two virtuals: one identity, one check
    assert CheckSpec.for_real(v2, v2.reals[0]).identity == s1.identity
    s3 = CheckSpec.for_real(v3, v3.reals[0])
    assert s3.external_args == ("7", "80" if v3.port == 80 else str(v3.port), "127.0.0.13", "0")


# --- receive regex --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"ok\z", "ok\n", False),
        (r"ok\Z", "ok\n", True),
        (r"ok$", "ok\n", True),
        (r"(?<word>o)k", "ok", True),
        (r"(?<w>o)\k<w>", "oo", True),
        (r"\Qa.b\E", "axb", False),
        (r"\Qa.b\E", "a.b", True),
        (r"[[:digit:]]+x", "12x", True),
        (r"[[:alpha:][:digit:]]{3}", "a1b", True),
        (r"\w", "é", False),  # byte semantics: no Unicode letters
        (r"caf\xc3\xa9", "café", True),  # the UTF-8 bytes of the reply
        ("café", "café", True),
        (r"\h+x", " \tx", True),
        (r"(?i)HELLO", "hello", True),
        (r"a(?=b)", "ab", True),
        (r"(?<=a)b", "ab", True),
        (r"[]a]", "]", True),
    ],
)
def test_perl_regex(pattern: str, text: str, matches: bool) -> None:
    data = regex.as_bytes_text(text.encode("utf-8"))
    assert run(regex.search(pattern, data)) is matches
