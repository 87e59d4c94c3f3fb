"""Every directive, global and per virtual: what it means in the model.

(The verdicts -- accepted or rejected, and the exact message -- are pinned against
the Perl original in tests/compat and tests/unit/test_parse_matrix.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from ldirectord_py.config import Forward
from ldirectord_py.config.model import EMAIL_STATUSES

from .conftest import parse, parse_error

BLOCK = "virtual=127.0.0.100:8080\n\treal=127.0.0.11:8080 gate\n"


def global_value(line: str, attr: str) -> Any:
    return getattr(parse(line + "\n" + BLOCK).settings, attr)


def virtual_value(lines: str, attr: str, head: str = BLOCK) -> Any:
    (v,) = parse(head + lines).virtuals
    return getattr(v, attr)


GLOBALS = [
    ("checktimeout = 7", "checktimeout", 7),
    ("checktimeout=abc7x", "checktimeout", 7),
    ("negotiatetimeout = 12", "negotiatetimeout", 12),
    ("checkinterval = 5 # five", "checkinterval", 5),
    ("checkcount = 3", "checkcount", 3),
    ("failurecount = 4", "failurecount", 4),
    ('fallbackcommand = "/x/y.sh"', "fallbackcommand", '"/x/y.sh"'),
    ("autoreload = yes", "autoreload", True),
    ('callback = "/usr/local/bin/cb"', "callback", "/usr/local/bin/cb"),
    ('logfile = "local0"', "logfile", "local0"),
    ('logfile="/tmp/ld.log"', "logfile", "/tmp/ld.log"),
    ("execute = other.cf", "execute", ("other.cf",)),
    ("fork = yes", "fork", True),
    ("supervised = yes", "supervised", True),
    ("supervised", "supervised", True),
    ("quiescent = yes", "quiescent", True),
    ("readdquiescent = yes", "readdquiescent", True),
    ('emailalert = "ops@example.org"', "emailalert", "ops@example.org"),
    ("emailalert = a@example.org, b@example.org", "emailalert", "a@example.org, b@example.org"),
    ("emailalertfreq = 60", "emailalertfreq", 60),
    ("emailalertstatus = starting,stopping", "emailalertstatus", {"starting", "stopping"}),
    ("emailalertstatus = all", "emailalertstatus", set(EMAIL_STATUSES)),
    ("emailalertstatus = none", "emailalertstatus", set()),
    ("emailalertfrom = ld@example.org", "emailalertfrom", "ld@example.org"),
    ("cleanstop = no", "cleanstop", False),
    ("smtp = mail.example.org junk", "smtp", "mail.example.org"),
    ("maintenancedir = /nonexistent", "maintenancedir", "/nonexistent"),
]


@pytest.mark.parametrize(("line", "attr", "expected"), GLOBALS, ids=[g[0] for g in GLOBALS])
def test_global_directive_value(line: str, attr: str, expected: Any) -> None:
    assert global_value(line, attr) == expected


def test_global_defaults_match_the_original_code_not_its_man_page() -> None:
    settings = parse(BLOCK).settings
    assert settings.quiescent is False  # quirk 14: the code says no
    assert settings.checkinterval == 10
    assert settings.cleanstop is True
    assert settings.logfile == "/var/log/ldirectord.log"
    assert settings.emailalertstatus == frozenset(EMAIL_STATUSES)


def test_execute_is_repeatable_and_deduplicated_in_order() -> None:
    text = "execute = a.cf\nexecute = b.cf\nexecute = a.cf\n" + BLOCK
    assert parse(text).settings.execute == ("a.cf", "b.cf")


VIRTUALS = [
    ('\trequest="index.html"', "request", "/index.html"),
    ('\treceive="OK"', "receive", "OK"),
    ("\tchecktype=connect", "checktype", "connect"),
    ("\tchecktype=external-perl", "checktype", "external-perl"),
    ("\tchecktype=3", "num_connects", 3),
    ("\tchecktype=3", "checktype", "combined"),
    ("\tcheckcommand=/usr/local/bin/chk", "checkcommand", "/usr/local/bin/chk"),
    ('\tcheckcommand="/usr/local/bin/chk"', "checkcommand", "/usr/local/bin/chk"),
    ("\tchecktimeout=4", "checktimeout", 4),
    ("\tnegotiatetimeout=9", "negotiatetimeout", 9),
    ("\tcheckcount=2", "checkcount", 2),
    ("\tfailurecount=3", "failurecount", 3),
    ("\tcheckport=8081", "checkport", 8081),
    ('\tlogin="user"', "login", "user"),
    ('\tpasswd="pw"', "passwd", "pw"),
    ('\tdatabase="db"', "database", "db"),
    ('\tsecret="s3"', "secret", "s3"),
    ('\tload="some thing"', "load", "some"),
    ("\tscheduler=rr", "scheduler", "rr"),
    ("\tscheduler=Wlc", "scheduler", "lc"),
    ("\tpersistent=300", "persistent", 300),
    ("\tschedflags=sh-port,sh-fallback x", "schedflags", "sh-port,sh-fallback"),
    ("\tprotocol=udp", "protocol", "udp"),
    ("\tservice=https", "service", "https"),
    ("\thttpmethod=head", "httpmethod", "HEAD"),
    ('\tvirtualhost="www.example.org"', "virtualhost", "www.example.org"),
    ("\tvirtualhost=www.example.org", "virtualhost", "www.example.org"),
    ('\tfallbackcommand="/bin/echo"', "fallbackcommand", "/bin/echo"),
    ("\tfallbackcommand=/bin/echo x", "fallbackcommand", "/bin/echo x"),
    ("\tquiescent=yes", "quiescent", True),
    ("\tcleanstop=no", "cleanstop", False),
    ("\tmonitorfile=/tmp/monitor.log", "monitorfile", "/tmp/monitor.log"),
    ("\tservicename=web shop", "servicename", "web shop"),
    ("\tcomment=front end", "comment", "front end"),
]


@pytest.mark.parametrize(("line", "attr", "expected"), VIRTUALS, ids=[v[0] for v in VIRTUALS])
def test_virtual_directive_value(line: str, attr: str, expected: Any) -> None:
    assert virtual_value(line + "\n", attr) == expected


def test_netmask_and_ops() -> None:
    (v,) = parse("virtual=127.0.0.100:53\n\treal=127.0.0.11 gate\n\tops=yes\n").virtuals
    assert v.protocol == "udp" and v.ops is True and v.service == "dns"
    (v,) = parse(BLOCK + "\tpersistent=60\n\tnetmask=255.255.255.0\n").virtuals
    assert (v.persistent, v.netmask) == (60, "255.255.255.0")
    six = "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::11]:80 gate\n\tnetmask=64\n"
    assert parse(six).virtuals[0].netmask == "64"


def test_email_alert_per_virtual_overrides_global() -> None:
    text = (
        "emailalert=global@example.org\nemailalertfreq=30\nsmtp=mail1\n"
        + BLOCK
        + "\temailalert=local@example.org\n\temailalertstatus=running\n"
    )
    (v,) = parse(text).virtuals
    assert v.emailalert.to == "local@example.org"
    assert v.emailalert.frequency == 30
    assert v.emailalert.statuses == {"running"}
    assert v.emailalert.smtp == "mail1"


def test_service_ftp_fills_credentials_only_if_still_empty_at_that_line() -> None:
    (v,) = parse(BLOCK + "\tservice=ftp\n").virtuals
    assert (v.login, v.passwd) == ("anonymous", "ldirectord@director1")
    (v,) = parse(BLOCK + '\tlogin="bob"\n\tservice=ftp\n').virtuals
    assert (v.login, v.passwd) == ("bob", "ldirectord@director1")
    (v,) = parse(BLOCK + '\tservice=ftp\n\tlogin="bob"\n').virtuals
    assert v.login == "bob"
    (v,) = parse(BLOCK + "\tservice=sip\n").virtuals
    assert (v.login, v.passwd) == ("ldirectord@director1", "")


class TestVirtualLine:
    def test_address_port_and_defaults(self) -> None:
        (v,) = parse(BLOCK).virtuals
        assert (v.family, v.protocol, v.address, v.port, v.fwmark) == (
            4,
            "tcp",
            "127.0.0.100",
            8080,
            None,
        )
        assert (v.scheduler, v.checktype, v.service, v.request, v.receive) == (
            "wrr",
            "negotiate",
            "none",
            "/",
            "",
        )
        assert v.identity == "tcp:127.0.0.100:8080"

    def test_hostname_and_service_name_resolve(self) -> None:
        (v,) = parse("virtual=vip:http\n\treal=backend-a:http gate\n").virtuals
        assert (v.address, v.port, v.service) == ("127.0.0.100", 80, "http")
        assert (v.reals[0].address, v.reals[0].port) == ("127.0.0.11", 80)

    def test_port_53_or_domain_means_udp(self) -> None:
        assert (
            parse("virtual=127.0.0.100:53\n\treal=127.0.0.11 gate\n").virtuals[0].protocol == "udp"
        )
        (v,) = parse("virtual=127.0.0.100:domain\n\treal=127.0.0.11 gate\n").virtuals
        assert (v.protocol, v.port, v.service) == ("udp", 53, "dns")

    @pytest.mark.parametrize(
        ("port", "service"),
        [(21, "ftp"), (25, "smtp"), (110, "pop"), (143, "imap"), (389, "ldap"), (443, "https"),
         (587, "submission"), (636, "ldaps"), (993, "imaps"), (995, "pops"), (1521, "oracle"),
         (1812, "radius"), (3128, "http_proxy"), (3306, "mysql"), (5060, "sip"), (5432, "pgsql"),
         (119, "nntp"), (8080, "none")],
    )  # fmt: skip
    def test_service_derived_from_port(self, port: int, service: str) -> None:
        text = f"virtual=127.0.0.100:{port}\n\treal=127.0.0.11 gate\n"
        assert parse(text).virtuals[0].service == service

    def test_fwmark_v4_and_v6(self) -> None:
        (v,) = parse("virtual=7\n\treal=127.0.0.11 gate\n").virtuals
        assert (v.fwmark, v.protocol, v.port, v.service, v.identity) == (
            7,
            "fwm",
            0,
            "none",
            "fwm:7",
        )
        (v6,) = parse("virtual6=9\n\treal6=[2001:db8::11] gate\n").virtuals
        assert (v6.family, v6.identity) == (6, "fwm6:9")

    def test_ipv6_virtual(self) -> None:
        (v,) = parse("virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::11]:80 masq\n").virtuals
        assert (v.family, v.address, v.identity) == (6, "2001:db8::1", "tcp:[2001:db8::1]:80")
        assert v.reals[0].hostport == "[2001:db8::11]:80"
        assert v.url_for(v.reals[0]) == "http://[2001:db8::11]:80/"

    def test_duplicate_by_identity_names_the_line_where_the_block_ended(self) -> None:
        err = parse_error(BLOCK + "virtual=127.0.0.100:8080\n\treal=127.0.0.12:8080 gate\n\n")
        assert (err.line, err.message) == (5, "duplicate virtual server")

    def test_same_address_and_port_over_udp_is_not_a_duplicate(self) -> None:
        text = BLOCK + "virtual=127.0.0.100:8080\n\treal=127.0.0.12:8080 gate\n\tprotocol=udp\n"
        assert [v.identity for v in parse(text).virtuals] == [
            "tcp:127.0.0.100:8080",
            "udp:127.0.0.100:8080",
        ]


class TestReals:
    def real(self, spec: str) -> Any:
        (v,) = parse(f"virtual=127.0.0.100:80\n\treal={spec}\n").virtuals
        return v.reals

    def test_full_grammar(self) -> None:
        (r,) = self.real('127.0.0.11:8080 masq 5 "status", "up" l:10 u:20')
        assert (r.address, r.port, r.forward, r.weight) == ("127.0.0.11", 8080, Forward.MASQ, 5)
        assert (r.request, r.receive) == ("/status", "up")
        assert (r.lower_threshold, r.upper_threshold) == (10, 20)

    def test_defaults_weight_1_port_0(self) -> None:
        (r,) = self.real("127.0.0.11 ipip")
        assert (r.port, r.weight, r.forward, r.request) == (0, 1, Forward.IPIP, None)

    def test_weight_zero_is_accepted(self) -> None:
        assert self.real("127.0.0.11:80 gate 0")[0].weight == 0

    def test_request_receive_separated_by_space(self) -> None:
        (r,) = self.real('127.0.0.11:80 gate "/a" "b"')
        assert (r.request, r.receive) == ("/a", "b")

    def test_upper_before_lower_drops_the_upper_threshold(self) -> None:
        (r,) = self.real("127.0.0.11:80 gate u:10 l:5")
        assert (r.lower_threshold, r.upper_threshold) == (5, 0)

    def test_range_expands_inclusively(self) -> None:
        reals = self.real("127.0.0.9->127.0.0.11:80 gate 2")
        assert [r.address for r in reals] == ["127.0.0.9", "127.0.0.10", "127.0.0.11"]
        assert {r.weight for r in reals} == {2}

    def test_range_compares_as_numbers_across_a_change_in_digit_count(self) -> None:
        # 59.154.201.255 is 999999999 and the next address 1000000000: the original
        # compares decimal strings and adds nothing here (quirk 13, fixed).
        reals = self.real("59.154.201.254->59.154.202.1:80 gate")
        assert len(reals) == 4

    def test_range_larger_than_a_slash_16_is_refused(self) -> None:
        err = parse_error("virtual=127.0.0.100:80\n\treal=10.0.0.0->10.1.0.0:80 gate\n")
        assert err.line == 2
        assert err.message == (
            "Invalid Range: 10.0.0.0-10.1.0.0: 65537 addresses, more than the 65536 one "
            "range may hold"
        )
        assert len(self.real("10.0.0.0->10.0.255.255:80 gate")) == 65536

    def test_empty_fallback_host_is_loopback(self) -> None:
        (v,) = parse("fallback=:81\n" + BLOCK).virtuals
        assert v.fallback is not None and v.fallback.hostport == "127.0.0.1:81"

    def test_host_names_match_case_insensitively(self) -> None:
        assert self.real("BACKEND-A:80 gate")[0].address == "127.0.0.11"

    def test_range_reversed_is_an_error(self) -> None:
        err = parse_error("virtual=127.0.0.100:80\n\treal=127.0.0.3->127.0.0.1:80 gate\n")
        assert err.line == 2 and err.message.startswith("Invalid Range: 127.0.0.3-127.0.0.1")

    def test_ipv6_range_is_an_error(self) -> None:
        text = "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]->[2001:db8::3]:80 gate\n"
        assert parse_error(text).message == "Address range for IPv6 is not supported yet"

    def test_service_name_port(self) -> None:
        assert self.real("backend-b:https gate")[0].port == 443

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("127.0.0.11:80", "invalid address for real server (wrong format)"),
            ("127.0.0.11:80 route", "forward method must be gate, masq or ipip"),
            ("127.0.0.11:80 gate junk", 'Invalid real server line, around " junk"'),
            ("nosuch:80 gate", "invalid address (nosuch) for real server (could not resolve host)"),
            (
                "127.0.0.11:99999 gate",
                "invalid port (99999) for real server (could not resolve port)",
            ),
        ],
    )
    def test_errors(self, spec: str, message: str) -> None:
        err = parse_error(f"virtual=127.0.0.100:80\n\treal={spec}\n")
        assert (err.line, err.message) == (2, message)

    def test_check_identity_shares_checks_across_virtuals(self) -> None:
        text = (
            "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tservice=http\n"
            "virtual=127.0.0.101:80\n\treal=127.0.0.11:80 gate\n\tservice=http\n"
            "virtual=127.0.0.102:80\n\treal=127.0.0.11:80 gate 2\n\tservice=http\n"
        )
        a, b, c = parse(text).virtuals
        assert a.check_identity(a.reals[0]) == b.check_identity(b.reals[0])
        assert a.check_identity(a.reals[0]) != c.check_identity(c.reals[0])
        assert a.check_identity(a.reals[0]) == r"negotiate:http:tcp:127.0.0.11:80:::1:gate:\/:"


class TestDerived:
    def test_timeout_cascade(self) -> None:
        (v,) = parse(BLOCK).virtuals
        assert (v.checktimeout, v.negotiatetimeout) == (5, 30)
        (v,) = parse("negotiatetimeout=8\n" + BLOCK).virtuals
        assert (v.checktimeout, v.negotiatetimeout) == (8, 8)
        (v,) = parse(
            "checktimeout=3\nnegotiatetimeout=8\n" + BLOCK + "\tnegotiatetimeout=4\n"
        ).virtuals
        assert (v.checktimeout, v.negotiatetimeout) == (4, 4)
        (v,) = parse("negotiatetimeout=8\n" + BLOCK + "\tchecktimeout=2\n").virtuals
        assert (v.checktimeout, v.negotiatetimeout) == (2, 2)

    def test_globals_after_the_block_still_apply(self) -> None:
        (v,) = parse(BLOCK + "failurecount=3\nquiescent=yes\n").virtuals
        assert (v.failurecount, v.quiescent) == (3, True)

    def test_checkinterval_in_virtual_only_with_fork(self) -> None:
        config = parse(BLOCK + "\tcheckinterval=3\n")
        assert config.virtuals[0].checkinterval == 10
        (warning,) = config.warnings
        assert warning.message == (
            "checkinterval in virtual service tcp:127.0.0.100:8080 ignored when fork=no"
        )
        assert parse("fork=yes\n" + BLOCK + "\tcheckinterval=3\n").virtuals[0].checkinterval == 3

    def test_checkport_falls_back_to_real_port_then_service_port(self) -> None:
        (v,) = parse(
            "virtual=7\n\treal=127.0.0.11 gate\n\treal=127.0.0.12:81 gate\n\tservice=http\n"
        ).virtuals
        assert [v.checkport_for(r) for r in v.reals] == [80, 81]
        (v,) = parse(BLOCK + "\tcheckport=9000\n").virtuals
        assert v.checkport_for(v.reals[0]) == 9000

    def test_urls(self) -> None:
        (v,) = parse(BLOCK + '\tservice=https\n\trequest="/health"\n').virtuals
        assert v.url_for(v.reals[0]) == "https://127.0.0.11:8080/health"
        proxy = BLOCK + '\tservice=http_proxy\n\trequest="http://example.org/x"\n'
        (v,) = parse(proxy).virtuals
        assert v.url_for(v.reals[0]) == "http://example.org/x"

    def test_fallbacks(self) -> None:
        (v,) = parse("fallback=127.0.0.1\n" + BLOCK).virtuals
        assert v.fallback is not None and (v.fallback.hostport, v.fallback.forward) == (
            "127.0.0.1:8080",
            Forward.GATE,
        )
        (v,) = parse("fallback=127.0.0.1:81 masq\n" + BLOCK).virtuals
        assert v.fallback is not None and v.fallback.hostport == "127.0.0.1:81"
        (v,) = parse(BLOCK + "\tfallback=localhost\n").virtuals
        assert v.fallback is not None and v.fallback.hostport == "127.0.0.1:8080"
        (v,) = parse("fallback6=[::1]:80\n" + BLOCK).virtuals
        assert v.fallback is None  # an IPv6 fallback is only for virtual6
        # A global fallback with a fwmark virtual works (quirk 5, fixed).
        (v,) = parse("fallback=127.0.0.1\nvirtual=7\n\treal=127.0.0.11 gate\n").virtuals
        assert v.fallback is not None and v.fallback.hostport == "127.0.0.1:0"

    def test_fallbackcommand_per_virtual_overrides_global(self) -> None:
        (v,) = parse('fallbackcommand="/g"\n' + BLOCK).virtuals
        assert v.fallbackcommand == '"/g"'
        (v,) = parse('fallbackcommand="/g"\n' + BLOCK + "\tfallbackcommand=/v\n").virtuals
        assert v.fallbackcommand == "/v"


class TestSources:
    def test_values_remember_their_lines(self) -> None:
        config = parse("checktimeout=3\n\n" + BLOCK + "\tservice=http\n\tquiescent=yes\n")
        assert config.settings.sources["checktimeout"] == 1
        (v,) = config.virtuals
        assert v.line == 3
        assert (v.sources["service"], v.sources["quiescent"]) == (5, 6)
        assert v.reals[0].line == 4


def test_warnings_collected_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse("checkcount=2\nsupervised\n" + BLOCK)
    assert [(w.line, w.message[:20]) for w in config.warnings] == [
        (1, "checkcount option is"),
        (2, "please update your c"),
    ]
    assert capsys.readouterr() == ("", "")


def test_error_keeps_the_warnings_issued_before_it() -> None:
    err = parse_error("checkcount=2\nquiescent=maybe\n")
    assert [w.line for w in err.warnings] == [1]
    assert err.perl_text(42) == (
        "Error [42] reading file /etc/ha.d/test.cf at line 2: quiescent must be 'yes' or 'no'\n"
    )


def test_file_tests_when_asked(tmp_path: Any) -> None:
    log = tmp_path / "ld.log"
    parse(f'logfile="{log}"\n' + BLOCK, check_files=True)
    assert log.exists()
    err = parse_error('logfile="/proc/none/x.log"\n' + BLOCK, check_files=True)
    assert err.message == "unable to open logfile: /proc/none/x.log"
    # Under -d (or supervised=yes before it) the original does not test the logfile.
    parse('logfile="/proc/none/x.log"\n' + BLOCK, check_files=True, debug=True)
    parse('supervised=yes\nlogfile="/proc/none/x.log"\n' + BLOCK, check_files=True)
    err = parse_error(BLOCK + "\tmonitorfile=/proc/none/m.log\n", check_files=True)
    assert err.message == "unable to open monitorfile /proc/none/m.log: No such file or directory"
    config = parse(f"maintenancedir={tmp_path}/nope\n" + BLOCK, check_files=True)
    assert [w.message for w in config.warnings] == ["maintenance directory does not exist"]
