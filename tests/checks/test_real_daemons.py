"""Every negotiate service with a Debian daemon, against that real daemon (see
daemons.py), both ways: passes when healthy, fails on a wrong receive, wrong
credentials, a missing object, or a dead port.

smtp and submission run against Exim (exim4-daemon-light); imap, imaps, pop,
pops against Dovecot; ldap, ldaps against OpenLDAP's slapd; dns against dnsmasq
(no upstream: --no-resolv, local records only); ftp against vsftpd; http, https,
http_proxy against nginx; mysql against MariaDB; pgsql against PostgreSQL;
radius against FreeRADIUS. nntp, sip, oracle and simpletcp have no daemon here
(see servers.py for why) and are covered by test_services.py.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ldirectord_py.checks import CheckResult, CheckSpec, run_check
from ldirectord_py.checks.result import FailureKind
from ldirectord_py.config import parse_text
from tests.checks import daemons
from tests.checks.conftest import make_spec, run
from tests.checks.servers import free_port

pytestmark = pytest.mark.root

T = 5.0  # negotiatetimeout/checktimeout for real daemons (a loaded 2-core machine)


@pytest.fixture(scope="session")
def lab(cert: Any) -> Iterator[daemons.Lab]:
    lab = daemons.Lab(cert)
    try:
        yield lab
    finally:
        lab.close()


def check(**kw: Any) -> CheckResult:
    kw.setdefault("negotiatetimeout", T)
    kw.setdefault("checktimeout", T)
    return run(run_check(make_spec(**kw)))


def dead_port_fails(**kw: Any) -> None:
    kw["checkport"] = free_port()
    r = check(**kw)
    assert not r.ok, r
    assert r.latency < 1.0


# --- nginx ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nginx(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("nginx", daemons.start_nginx)


def test_http(nginx: daemons.Daemon) -> None:
    p = nginx.ports["http"]
    url = f"http://127.0.0.1:{p}"
    assert check(service="http", checkport=p, url=f"{url}/health", receive="^OK ldirectord").ok
    assert check(service="http", checkport=p, url=f"{url}/", receive="").ok
    r = check(service="http", checkport=p, url=f"{url}/health", receive="^FAIL")
    assert not r.ok and r.reason == "receive did not match"
    r = check(service="http", checkport=p, url=f"{url}/down")
    assert not r.ok and r.reason == "status 503"
    r = check(service="http", checkport=p, url=f"{url}/missing")
    assert not r.ok and r.reason == "status 404"
    r = check(service="http", checkport=p, url=f"{url}/vhost", receive="vhost=127.0.0.1$")
    assert r.ok, r  # the default Host header: the real's address
    r = check(
        service="http", checkport=p, url=f"{url}/vhost", virtualhost="www.example.test",
        receive="vhost=www.example.test",
    )  # fmt: skip
    assert r.ok, r
    assert check(service="http", checkport=p, url=f"{url}/health", httpmethod="HEAD").ok
    assert not check(
        service="http", checkport=p, url=f"{url}/health", httpmethod="HEAD", receive="OK"
    ).ok
    dead_port_fails(service="http", url=f"http://127.0.0.1:{free_port()}/")


def test_https(nginx: daemons.Daemon) -> None:
    p = nginx.ports["https"]
    url = f"https://127.0.0.1:{p}/health"
    assert check(service="https", checkport=p, url=url, receive="healthy|OK").ok
    r = check(service="https", checkport=p, url=url, receive="^nope")
    assert not r.ok and r.reason == "receive did not match"
    r = check(
        service="https",
        checkport=nginx.ports["http"],
        url=url.replace(str(p), str(nginx.ports["http"])),
    )
    assert not r.ok  # TLS against a plain-HTTP port


def test_http_proxy(nginx: daemons.Daemon) -> None:
    p = nginx.ports["proxy"]
    url = "http://www.example.test/health"
    assert check(service="http_proxy", checkport=p, url=url, receive="^OK").ok
    assert not check(service="http_proxy", checkport=p, url=url, receive="^nope").ok
    assert not check(service="http_proxy", checkport=p, url="http://www.example.test/down").ok
    dead_port_fails(service="http_proxy", url=url)


CONFIG = """\
checktimeout=5
negotiatetimeout=5
virtual=127.0.0.100:80
\treal=127.0.0.1:{http} masq
\treal=127.0.0.1:{https} masq 1 "/index.html", "nginx healthy"
\tservice={service}
\trequest="health"
\treceive="OK ldirectord"
\tchecktype=negotiate
"""


def test_http_from_a_parsed_config(nginx: daemons.Daemon) -> None:
    cfg = parse_text(
        CONFIG.format(http=nginx.ports["http"], https=nginx.ports["https"], service="http"),
        "t.cf", hostname="director", check_files=False,
    )  # fmt: skip
    v = cfg.virtuals[0]
    results = [run(run_check(CheckSpec.for_real(v, r))) for r in v.reals]
    # the second real overrides request/receive, but speaks TLS: plain http fails there
    assert results[0].ok, results
    assert not results[1].ok
    cfg = parse_text(
        CONFIG.format(http=nginx.ports["http"], https=nginx.ports["https"], service="https"),
        "t.cf", hostname="director", check_files=False,
    )  # fmt: skip
    v = cfg.virtuals[0]
    results = [run(run_check(CheckSpec.for_real(v, r))) for r in v.reals]
    assert not results[0].ok and results[1].ok, results


# --- dnsmasq -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dnsmasq(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("dnsmasq", daemons.start_dnsmasq)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_dns(dnsmasq: daemons.Daemon, protocol: str) -> None:
    p = dnsmasq.ports["dns"]
    kw = {"service": "dns", "protocol": protocol, "checkport": p}
    assert check(request="/www.example.test", receive=r"^127\.1\.2\.3$", **kw).ok
    assert check(request="/127.1.2.4", receive="^db.example.test$", **kw).ok
    r = check(request="/www.example.test", receive=r"^10\.", **kw)
    assert not r.ok and r.reason == "receive did not match"
    assert not check(request="/missing.example.test", receive=".", **kw).ok
    r = check(request="/www.example.test", receive="", **kw)
    assert not r.ok and r.reason == "empty receive is always down"


def test_dns_dead_port() -> None:
    # UDP: dnspython's socket is not connected, so the ICMP error goes unseen and
    # the query times out, as Net::DNS's did
    r = check(
        service="dns", protocol="udp", checkport=free_port(kind=2), request="/a.test",
        receive=".", negotiatetimeout=1.0,
    )  # fmt: skip
    assert not r.ok and r.latency < 1.5
    dead_port_fails(service="dns", protocol="tcp", request="/a.test", receive=".")


# --- vsftpd ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vsftpd(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("vsftpd", daemons.start_vsftpd)


def test_ftp(vsftpd: daemons.Daemon) -> None:
    kw = {"service": "ftp", "checkport": vsftpd.ports["ftp"]}
    anon = {"login": "anonymous", "passwd": "ldirectord@director"}
    assert check(request="/health.txt", receive="^ftp is healthy", **kw, **anon).ok
    assert check(request="/health.txt", receive="", **kw, **anon).ok
    r = check(request="/health.txt", receive="^broken", **kw, **anon)
    assert not r.ok and r.reason == "receive did not match"
    r = check(request="/missing.txt", receive=".", **kw, **anon)
    assert not r.ok and r.reason.startswith("RETR failed (550")
    r = check(request="/health.txt", receive=".", login="bob", passwd="pw", **kw)
    assert not r.ok and r.reason.startswith("login failed")
    dead_port_fails(service="ftp", request="/health.txt", **anon)


def test_ftp_from_a_parsed_config(vsftpd: daemons.Daemon) -> None:
    text = (
        f"virtual=127.0.0.100:21\n\treal=127.0.0.1:{vsftpd.ports['ftp']} gate\n"
        '\tservice=ftp\n\trequest="health.txt"\n\treceive="healthy"\n'
    )
    cfg = parse_text(text, "t.cf", hostname="director", check_files=False)
    v = cfg.virtuals[0]
    spec = CheckSpec.for_real(v, v.reals[0])
    assert (spec.login, spec.passwd) == ("anonymous", "ldirectord@director")
    assert run(run_check(spec)).ok


# --- exim ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def exim(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("exim", daemons.start_exim)


@pytest.mark.parametrize("service", ["smtp", "submission"])
def test_smtp(exim: daemons.Daemon, service: str) -> None:
    r = check(service=service, checkport=exim.ports[service])
    assert r.ok and r.reason == "greeting and EHLO ok", r
    dead_port_fails(service=service)


# --- dovecot --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("dovecot", daemons.start_dovecot)


@pytest.mark.parametrize("service", ["imap", "imaps", "pop", "pops"])
def test_mail_access(dovecot: daemons.Daemon, service: str) -> None:
    p = dovecot.ports[service]
    assert check(service=service, checkport=p).ok  # greeting only
    r = check(service=service, checkport=p, login="health", passwd="hpass")
    assert r.ok and r.reason == "logged in", r
    r = check(service=service, checkport=p, login="health", passwd="wrong")
    assert not r.ok and r.reason.startswith("login"), r
    dead_port_fails(service=service)


def test_tls_services_refuse_plain_ports(dovecot: daemons.Daemon) -> None:
    assert not check(service="imaps", checkport=dovecot.ports["imap"]).ok
    assert not check(service="pops", checkport=dovecot.ports["pop"]).ok


# --- slapd ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def slapd(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("slapd", daemons.start_slapd)


@pytest.mark.parametrize("service", ["ldap", "ldaps"])
def test_ldap(slapd: daemons.Daemon, service: str) -> None:
    kw = {"service": service, "checkport": slapd.ports[service]}
    base = f"/cn=health,{daemons.LDAP_SUFFIX}"
    assert check(request=base, receive="^cn=health,dc=example", **kw).ok
    assert check(request=f"/{daemons.LDAP_SUFFIX}", **kw).ok
    admin = {"login": daemons.LDAP_ADMIN, "passwd": daemons.LDAP_ADMIN_PW}
    assert check(request=base, **admin, **kw).ok
    r = check(request=base, receive="^ou=", **kw)
    assert not r.ok and r.reason == "receive did not match"
    r = check(request="/cn=missing,dc=example,dc=test", **kw)
    assert not r.ok and r.reason == "0 entries found (want exactly 1)"
    r = check(request=base, login=daemons.LDAP_ADMIN, passwd="wrong", **kw)
    assert not r.ok and r.reason == "bind failed (result 49)"
    dead_port_fails(service=service, request=base)


# --- mariadb, postgresql -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def mariadb(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("mariadb", daemons.start_mariadb)


@pytest.fixture(scope="session")
def postgresql(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("postgresql", daemons.start_postgresql)


def _sql(service: str, port: int) -> None:
    kw = {
        "service": service,
        "checkport": port,
        "login": daemons.SQL_USER,
        "passwd": daemons.SQL_PASSWORD,
        "database": daemons.SQL_DB,
    }
    r = check(request="/SELECT name FROM pool WHERE enabled = 1", **kw)
    assert r.ok and r.reason == "query returned rows", r
    r = check(request="/SELECT name FROM pool WHERE name = 'real9'", **kw)
    assert not r.ok and r.reason == "query returned no rows"
    r = check(request="/SELECT nonsense FROM nowhere", **kw)
    assert not r.ok and "error" in r.reason
    r = check(request="/SELECT 1", **{**kw, "passwd": "wrong"})
    assert not r.ok and "error" in r.reason
    dead_port_fails(**{**kw, "request": "/SELECT 1"})


def test_mysql(mariadb: daemons.Daemon) -> None:
    _sql("mysql", mariadb.ports["mysql"])


def test_pgsql(postgresql: daemons.Daemon) -> None:
    _sql("pgsql", postgresql.ports["pgsql"])


def _sql_kinds(service: str, port: int) -> None:
    """The FailureKind of each way a SQL check fails against the real server."""
    kw = {
        "service": service,
        "checkport": port,
        "login": daemons.SQL_USER,
        "passwd": daemons.SQL_PASSWORD,
        "database": daemons.SQL_DB,
    }
    r = check(request="/SELECT name FROM pool WHERE name = 'real9'", **kw)
    assert not r.ok and r.kind is FailureKind.RECEIVE_MISMATCH, r
    r = check(request="/SELECT nonsense FROM nowhere", **kw)
    assert not r.ok and r.kind is FailureKind.OTHER, r
    r = check(request="/SELECT 1", **{**kw, "passwd": "wrong"})
    assert not r.ok and r.kind is FailureKind.LOGIN, r
    r = check(request="/SELECT 1", **{**kw, "checkport": free_port()})
    assert not r.ok and r.kind is FailureKind.REFUSED, r


def test_mysql_failure_kinds(mariadb: daemons.Daemon) -> None:
    _sql_kinds("mysql", mariadb.ports["mysql"])


def test_pgsql_failure_kinds(postgresql: daemons.Daemon) -> None:
    _sql_kinds("pgsql", postgresql.ports["pgsql"])


# --- freeradius -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def freeradius(lab: daemons.Lab) -> daemons.Daemon:
    return lab.get("freeradius", daemons.start_freeradius)


def _radius(
    port: int, passwd: str, secret: str = daemons.RADIUS_SECRET, t: float = T
) -> CheckResult:
    return check(
        service="radius", protocol="udp", checkport=port, login=daemons.RADIUS_USER,
        passwd=passwd, secret=secret, checktimeout=t,
    )  # fmt: skip


def test_radius(freeradius: daemons.Daemon) -> None:
    p = freeradius.ports["radius"]
    r = _radius(p, daemons.RADIUS_PASSWORD)
    assert r.ok and r.reason == "Access-Accept"
    r = _radius(p, "wrong")  # FreeRADIUS delays a reject by 1 s
    assert not r.ok and "Access-Reject" in r.reason  # down, as in the original
    r = _radius(p, daemons.RADIUS_PASSWORD, secret="not-the-secret", t=1.5)
    assert not r.ok  # the server drops a request it cannot authenticate
    r = _radius(free_port(kind=2), daemons.RADIUS_PASSWORD, t=1.5)
    assert not r.ok and r.latency < 1.0


def test_radius_what_the_perl_original_does(freeradius: daemons.Daemon) -> None:
    """Records the installed original's behaviour (Authen::Radius::check_pwd, as
    check_radius calls it): an Access-Reject gives "" and so DOWN, unlike the
    "Access-Reject counts as alive" quirk the spec describes (see docs)."""
    if shutil.which("perl") is None:
        pytest.fail("perl is missing: install the Debian package perl")
    p = freeradius.ports["radius"]
    script = (
        "use Authen::Radius; my ($port, $pw) = @ARGV;"
        '$r = Authen::Radius->new(Host => "127.0.0.1:$port", Secret => "testing123",'
        ' TimeOut => 3, Errmode => "die");'
        '$x = $r->check_pwd("health", $pw); print(($x eq "") ? "DOWN" : "UP")'
    )
    outs = []
    for pw in (daemons.RADIUS_PASSWORD, "wrong"):
        proc = subprocess.run(["perl", "-e", script, str(p), pw], capture_output=True, text=True)
        if "Can't locate Authen/Radius.pm" in proc.stderr:
            pytest.fail(
                "Authen::Radius is missing: install the Debian package libauthen-radius-perl"
            )
        outs.append(proc.stdout)
    assert outs == ["UP", "DOWN"]


def test_all_services_concurrently(
    nginx: daemons.Daemon,
    dnsmasq: daemons.Daemon,
    vsftpd: daemons.Daemon,
    exim: daemons.Daemon,
    dovecot: daemons.Daemon,
    slapd: daemons.Daemon,
) -> None:
    """The checks share one loop: many at once, all correct."""
    t = {"negotiatetimeout": 20.0, "checktimeout": 20.0}
    http = nginx.ports["http"]
    specs = []
    for i in range(20):
        specs += [
            make_spec(identity=f"h{i}", service="http", checkport=http,
                      url=f"http://127.0.0.1:{http}/health", receive="OK", **t),
            make_spec(identity=f"d{i}", service="dns", protocol="udp",
                      checkport=dnsmasq.ports["dns"], request="/www.example.test",
                      receive="127.1.2.3", **t),
            make_spec(identity=f"f{i}", service="ftp", checkport=vsftpd.ports["ftp"],
                      request="/health.txt", receive="healthy", login="anonymous", **t),
            make_spec(identity=f"s{i}", service="smtp", checkport=exim.ports["smtp"], **t),
            make_spec(identity=f"i{i}", service="imaps", checkport=dovecot.ports["imaps"],
                      login="health", passwd="hpass", **t),
            make_spec(identity=f"l{i}", service="ldap", checkport=slapd.ports["ldap"],
                      request=f"/{daemons.LDAP_SUFFIX}", **t),
        ]  # fmt: skip

    async def body() -> list[CheckResult]:
        return await asyncio.gather(*(run_check(s) for s in specs))

    results = run(body())
    bad = [(s.identity, r) for s, r in zip(specs, results, strict=True) if not r.ok]
    assert not bad
