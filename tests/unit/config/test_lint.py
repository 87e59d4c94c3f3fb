"""Each warning of `ldirectordctl validate` (config/lint.py), on the smallest file
that shows it, and its absence where the file is right."""

from __future__ import annotations

import os
from pathlib import Path

from ldirectord_py.config import Config, ConfigWarning
from ldirectord_py.config.lint import CODES, Machine, lint, not_checked, router_prefixes

from .conftest import RESOLVER, parse

OK = "/bin/sh"
MACHINE = Machine(resolver=RESOLVER, sendmail=OK, perl=OK, sysctl=lambda path: None)


def warnings(text: str, machine: Machine = MACHINE, path: str | None = None) -> list[ConfigWarning]:
    config = parse(text)
    if path is not None:
        config = Config(path, config.settings, config.virtuals, config.warnings, config.digest)
    found = lint(config, machine)
    assert all(w.code in CODES for w in found)
    return found


def codes(text: str, machine: Machine = MACHINE) -> list[tuple[int | None, str]]:
    return [(w.line, w.code) for w in warnings(text, machine)]


HTTP = '\tservice=http\n\trequest="/health"\n\treceive="OK"\n'


def test_a_clean_file_has_no_warning() -> None:
    assert codes("virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n" + HTTP) == []


def test_gate_real_port_different_from_the_virtuals() -> None:
    text = "virtual=127.0.0.100:80\n\treal=127.0.0.11:8080 gate\n\treal=127.0.0.12:8080 masq\n"
    (w,) = warnings(text + HTTP)
    assert (w.line, w.code) == (2, "gate-port")
    assert "the kernel sends to port 80 and ignores 8080" in w.message
    ipip = "virtual=127.0.0.100:80\n\treal=127.0.0.11:81 ipip\n" + HTTP
    assert codes(ipip) == [(2, "gate-port")]


def test_checkcommand_missing_or_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    head = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tchecktype=external\n"
    assert codes(head + f"\tcheckcommand={script}\n") == [(4, "checkcommand")]  # mode 644
    script.chmod(0o755)
    assert codes(head + f"\tcheckcommand={script}\n") == []
    (w,) = warnings(head + f'\tcheckcommand="{script} -v"\n')
    assert "cannot carry arguments" in w.message and "No such file" in w.message
    (w,) = warnings(head)
    assert "/bin/true counts every real as up" in w.message


def test_fallbackcommand_and_callback_missing() -> None:
    text = (
        'fallbackcommand = "/nonexistent/anycast-down"\n'
        'callback = "no-such-command-h12p --now"\n'
        "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
        + HTTP
        + "\tfallbackcommand=/bin/true\n"
    )
    found = warnings(text)
    assert [(w.line, w.code) for w in found] == [(1, "fallbackcommand"), (2, "callback")]
    assert "/nonexistent/anycast-down: No such file or directory" in found[0].message
    assert "no-such-command-h12p is not found in PATH" in found[1].message


def test_checktimeout_not_below_checkinterval() -> None:
    text = "checkinterval=5\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
    connect = text + "\tchecktype=connect\n\tchecktimeout=5\n"
    (w,) = warnings(connect)
    assert (w.line, w.code) == (5, "timeout-interval")
    assert "checktimeout 5 of virtual 127.0.0.100:80 is not below its checkinterval 5" in w.message
    assert codes(text + "\tchecktype=connect\n\tchecktimeout=4\n") == []
    # a negotiate check lasts negotiatetimeout (default 30) against checkinterval 5
    assert codes(text + HTTP) == [(1, "timeout-interval")]  # where checkinterval is
    # the original's defaults alone (30 and 10) say nothing
    assert codes("virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n" + HTTP) == []


def test_timeout_interval_weighs_the_deadline_the_check_runs_under() -> None:
    """The registry's deadline rule, as the runner arms it: a udp connect check is
    a ping (checkcount x checktimeout), ldap lasts checktimeout, `on` never waits."""
    head = "checkinterval=10\nvirtual=127.0.0.100:53\n\treal=127.0.0.11:53 gate\n"
    tries = "\tchecktype=connect\n\tcheckcount=3\n\tchecktimeout=4\n"
    udp = warnings(head + "\tprotocol=udp\n" + tries)
    assert [(w.line, w.code) for w in udp] == [(5, "udp-connect"), (7, "timeout-interval")]
    w = udp[1]
    assert w.message.startswith(
        "checkcount x checktimeout 12 of virtual 127.0.0.100:53 is not below its checkinterval"
        " 10: a check that hangs outlasts the interval, the next one is skipped, and a hung"
        " real is found down only after 12 s"
    )
    assert codes(head + "\tprotocol=tcp\n" + tries) == [], "over tcp: one connect of 4 s"
    ldap = "\tservice=ldap\n\tchecktype=negotiate\n\tchecktimeout=10\n"
    (w,) = warnings(head + ldap)
    assert (w.line, w.code) == (6, "timeout-interval")
    assert "checktimeout 10 of virtual 127.0.0.100:53" in w.message
    assert codes(head + "\tchecktype=on\n\tchecktimeout=10\n") == [], "on asks nothing"


def test_unresolvable_host_names() -> None:
    text = (
        "smtp = mail.invalid\ngobgpapi = gobgp.invalid:50051\nanycastprefix = 198.51.100.0/24\n"
        "metricsaddress = localhost:9588\n"
        "virtual=198.51.100.10:80\n\treal=127.0.0.11:80 gate\n\temailalert=ops@example.org\n" + HTTP
    )
    found = [(w.line, w.code, w.message.split(" does")[0]) for w in warnings(text)]
    assert found == [
        (1, "unresolvable", "smtp host mail.invalid"),
        (2, "unresolvable", "gobgpapi host gobgp.invalid"),
    ]


def test_oracle_checks_only_the_listener() -> None:
    text = (
        "virtual=127.0.0.100:1521\n\treal=127.0.0.11:1521 gate\n"
        '\tservice=oracle\n\tdatabase="ORCL"\n'
    )
    (w,) = warnings(text)
    assert (w.line, w.code) == (3, "oracle-check")
    assert "TNS listener accepts a connection for SID ORCL" in w.message


def test_anycast_prefix_unused_and_router_prefixes(tmp_path: Path) -> None:
    text = (
        "anycastprefix = 198.51.100.0/24\nanycastprefix = 203.0.113.0/24\n"
        "virtual=198.51.100.10:80\n\treal=127.0.0.11:80 gate\n" + HTTP
    )
    assert codes(text) == [(2, "anycast-prefix-unused")]
    frr = "ip prefix-list ANYCAST4 seq 5 permit 198.51.100.0/25 ge 32 le 32\n"
    assert codes(text, _with_router(frr)) == [(2, "anycast-prefix-unused")]
    elsewhere = "ip prefix-list ANYCAST4 seq 5 permit 192.0.2.0/24 ge 32 le 32\n"
    found = codes(text, _with_router(elsewhere))
    assert found == [(2, "anycast-prefix-unused"), (3, "anycast-router-prefix")]
    bird = "define ANYCAST4 = [ 198.51.100.0/24{32,32} ];\n"
    assert codes(text, _with_router(bird)) == [(2, "anycast-prefix-unused")]
    only_24 = "define ANYCAST4 = [ 198.51.100.0/24 ];\n"  # no host routes accepted
    assert (3, "anycast-router-prefix") in codes(text, _with_router(only_24))


def _with_router(text: str) -> Machine:
    prefixes = router_prefixes(text)
    assert prefixes, text
    return Machine(
        resolver=RESOLVER, sendmail=OK, perl=OK, sysctl=lambda p: None, router=tuple(prefixes)
    )


def test_shipped_router_examples_parse() -> None:
    root = Path(__file__).resolve().parents[3] / "examples"
    for name in ("router-bird.conf", "router-frr.conf"):
        networks = {str(p.network) for p in router_prefixes((root / name).read_text())}
        assert "198.51.100.0/24" in networks, name


def test_quiescent_with_persistent() -> None:
    text = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n" + HTTP
    assert codes(text + "\tpersistent=300\n\tquiescent=yes\n") == [(7, "quiescent-persistent")]
    assert codes(text + "\tpersistent=300\n\tquiescent=no\n") == []
    expiring = Machine(resolver=RESOLVER, sendmail=OK, perl=OK, sysctl=lambda p: "1")
    assert codes(text + "\tpersistent=300\n\tquiescent=yes\n", expiring) == []


def test_emailalert_without_a_mail_path() -> None:
    text = (
        "emailalert = ops@example.org\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n" + HTTP
    )
    no_sendmail = Machine(
        resolver=RESOLVER, sendmail="/nonexistent/sendmail", sysctl=lambda p: None
    )
    (w,) = warnings(text, no_sendmail)
    assert (w.line, w.code) == (1, "emailalert-mailer")
    assert codes("smtp = localhost\n" + text, no_sendmail) == []
    assert codes("emailalertstatus = none\n" + text) == [(2, "emailalert-never")]


def test_duplicate_real_and_no_reals() -> None:
    text = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\treal=127.0.0.11:80 gate 5\n" + HTTP
    (w,) = warnings(text)
    assert (w.line, w.code) == (3, "duplicate-real")
    assert "(lines 2 and 3)" in w.message
    assert codes("virtual=127.0.0.100:80\n" + HTTP) == [(1, "no-reals")]


def test_negotiate_without_request_or_receive() -> None:
    head = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
    (w,) = warnings(head + "\tservice=http\n")
    assert w.code == "negotiate-receive" and "any 2xx answer to GET / as up" in w.message
    (w,) = warnings("virtual=127.0.0.100:53\n\treal=127.0.0.11:53 gate\n\tservice=dns\n")
    assert "always down" in w.message
    assert codes(head + '\tservice=dns\n\trequest="www.example.org"\n\treceive="192.0.2"\n') == []


def test_connect_on_udp_is_a_ping() -> None:
    text = "virtual=127.0.0.100:53\n\treal=127.0.0.11:53 gate\n\tchecktype=connect\n"
    assert codes(text) == [(3, "udp-connect")]


def test_world_readable_file_with_passwords(tmp_path: Path) -> None:
    path = tmp_path / "ld.cf"
    text = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n" + HTTP + '\tpasswd="x"\n'
    path.write_text(text)
    path.chmod(0o644)
    found = warnings(text, path=str(path))
    assert [(w.line, w.code) for w in found] == [(6, "secret-readable")]
    os.chmod(path, 0o600)
    assert warnings(text, path=str(path)) == []


def test_execute_of_a_missing_file() -> None:
    text = (
        "execute = /nonexistent/other.cf\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
        + HTTP
    )
    assert codes(text) == [(1, "execute-missing")]


def test_what_is_not_checked_is_said() -> None:
    fwmark = parse("virtual=7\n\treal=127.0.0.11 gate\n\tchecktype=connect\n")
    (note,) = not_checked(fwmark, MACHINE)
    assert "iptables" in note
    plain = parse("virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n" + HTTP)
    assert not_checked(plain, MACHINE) == []


def test_every_code_is_documented_in_the_man_page() -> None:
    page = (Path(__file__).resolve().parents[3] / "man" / "src" / "ldirectordctl.txt").read_text()
    assert [c for c in CODES if f"`{c}`" not in page] == []


class _SlowResolver:
    """Answers nothing and remembers the names, as SystemResolver does on a timeout."""

    def __init__(self) -> None:
        self.timed_out: list[str] = []

    def host(self, name: str, family: int) -> str | None:
        self.timed_out.append(name)
        return None

    def service(self, name: str, protocol: str) -> int | None:
        return None


def test_a_resolver_that_does_not_answer_is_named() -> None:
    slow = _SlowResolver()
    machine = Machine(resolver=slow, sendmail=OK, perl=OK, sysctl=lambda p: None)  # type: ignore[arg-type]
    found = warnings(
        "smtp = mail.example.org\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
        '\temailalert="ops@example.org"\n' + HTTP,
        machine,
    )
    assert [(w.line, w.code) for w in found] == [(None, "resolver-timeout"), (1, "unresolvable")]
    assert "did not answer in time for mail.example.org" in found[0].message


def test_frr_ge_and_le_as_frr_reads_them() -> None:
    (exact,) = router_prefixes("ip prefix-list A seq 5 permit 198.51.100.0/24\n")
    assert (exact.ge, exact.le) == (24, 24)
    (longer,) = router_prefixes("ip prefix-list A permit 198.51.100.0/24 ge 28\n")
    assert (longer.ge, longer.le) == (28, 32)
    (upto,) = router_prefixes("ipv6 prefix-list B seq 5 permit 2001:db8::/32 le 128\n")
    assert (upto.ge, upto.le) == (32, 128)
    (plus,) = router_prefixes("define A = [ 198.51.100.0/24+ ];\n")
    assert (plus.ge, plus.le) == (24, 32)
