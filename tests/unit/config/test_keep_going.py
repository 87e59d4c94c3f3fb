"""`load_all`/`parse_all` (what `ldirectordctl validate` runs) read on after an
error; the drop-in's `parse_text` stops at the first. The first error found
reading on is always the one the drop-in (and so the Perl original) reports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings

from ldirectord_py.config import ConfigError, parse_text
from ldirectord_py.config.lint import CODES, Machine, lint
from ldirectord_py.config.parser import load_all, parse_all

from .conftest import RESOLVER
from .test_fuzz import mutated

CORPUS_DIR = Path(__file__).resolve().parents[2] / "compat" / "parse_corpus"


def _verdict_module() -> ModuleType:
    name = "ldpy_parse_corpus_verdict"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CORPUS_DIR / "verdict.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


verdict = _verdict_module()
CORPUS = verdict.load_corpus()


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_first_error_read_on_is_the_drop_ins(case: object, tmp_path: Path) -> None:
    data, path = verdict.materialise(case, tmp_path)
    options = {"hostname": verdict.cases.HOSTNAME, "resolver": verdict.resolver()}
    with verdict.memory_guard():
        report = parse_all(data, path, **options)  # type: ignore[arg-type]
        try:
            config = parse_text(data, path, **options)  # type: ignore[arg-type]
        except ConfigError as first:
            assert report.errors, "the drop-in refuses the file, reading on found nothing"
            got = report.errors[0]
            assert (got.path, got.line, got.message) == (first.path, first.line, first.message)
            return
    assert report.errors == ()
    assert report.config == config


MANY = """\
checktimeout=0
bogus=1
virtual=127.0.0.100:80
\treal=127.0.0.11:80 gate
\tservice=gopher
\tscheduler=wrr
virtual=[2001:db8::1]:80
\treal=127.0.0.12:80 gate
virtual=127.0.0.101:80
\treal=no-such-host:80 gate
\treal=127.0.0.13:80 bridge
\tchecktype=sometimes
virtual=127.0.0.102:80
\treal=127.0.0.14:80 gate
virtual=127.0.0.102:80
\treal=127.0.0.15:80 gate
quiescent = maybe
virtual=127.0.0.103:80
\treal=127.0.0.16:80 gate
"""


def test_many_errors_in_one_run() -> None:
    report = parse_all(MANY, "/etc/ha.d/many.cf", resolver=RESOLVER, check_files=False)
    found = sorted(report.errors, key=lambda e: e.line or 0)
    assert [(e.line, e.message.split(":")[0][:40]) for e in found] == [
        (1, "invalid check timeout value"),
        (2, "Unknown command bogus=1\n "),
        (5, "service must be dns, ftp, http, https, h"),
        (7, "cannot specify an IPv6 address here. ple"),
        (10, "invalid address (no-such-host) for real "),
        (11, "forward method must be gate, masq or ipi"),
        (12, 'checktype must be "connect", "negotiate"'),
        (17, "duplicate virtual server"),  # where the block ends, as the original
        (17, "quiescent must be 'yes' or 'no'"),
    ]
    assert report.config is not None  # what had no error is still read
    assert [v.identity for v in report.config.virtuals] == [
        "tcp:127.0.0.102:80",
        "tcp:127.0.0.103:80",
    ]
    with pytest.raises(ConfigError) as first:
        parse_text(MANY, "/etc/ha.d/many.cf", resolver=RESOLVER, check_files=False)
    assert (first.value.line, first.value.message) == (1, "invalid check timeout value")


def test_anycast_errors_after_the_whole_file_are_all_reported() -> None:
    text = (
        "anycastprefix = 198.51.100.0/24\nanycastmethod = interface\n"
        "virtual=198.51.100.10:80\n\treal=127.0.0.11:80 gate\n\tanycastdown = med 5\n"
        "virtual=192.0.2.10:80\n\treal=127.0.0.11:80 gate\n\tanycastmed = 1\n"
    )
    report = parse_all(text, "/etc/ha.d/a.cf", resolver=RESOLVER, check_files=False)
    assert [e.line for e in report.errors] == [8, 5]
    assert "outside every anycastprefix" in report.errors[0].message
    assert "needs anycastmethod = gobgp" in report.errors[1].message


def test_a_marker_before_a_directive_both_know_is_one_error_read_on() -> None:
    """`#ldirectord-py:` before a directive the original knows: the drop-in stops
    there, reading on reports it (the line stays a comment) and goes on."""
    text = "#ldirectord-py: checkinterval=5\nbogus=1\n"
    report = parse_all(text, "/etc/ha.d/m.cf", resolver=RESOLVER, check_files=False)
    assert [e.line for e in report.errors] == [1, 2]
    assert "not 'checkinterval'" in report.errors[0].message
    assert report.config is not None and report.config.settings.checkinterval == 10
    with pytest.raises(ConfigError) as first:
        parse_text(text, "/etc/ha.d/m.cf", resolver=RESOLVER, check_files=False)
    assert (first.value.line, first.value.message) == (1, report.errors[0].message)


def test_unreadable_file_is_one_error(tmp_path: Path) -> None:
    report = load_all(str(tmp_path / "missing.cf"))
    assert report.config is None
    assert [e.message for e in report.errors] == [f"can not open file {tmp_path / 'missing.cf'}"]


@settings(
    max_examples=2_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_reading_on_never_crashes_and_agrees_on_the_first_error(data: bytes) -> None:
    """Whatever the bytes: no exception, the drop-in's error first, and the
    linter runs on what was read."""
    path = "/etc/ha.d/fuzz.cf"
    report = parse_all(data, path, resolver=RESOLVER, check_files=False)
    assert report.config is not None
    lines = data.count(b"\n") + 1
    assert all(e.line is None or 0 <= e.line <= lines for e in report.errors)
    try:
        parse_text(data, path, resolver=RESOLVER, check_files=False)
    except ConfigError as first:
        assert report.errors[0].message == first.message
        assert report.errors[0].line == first.line
    else:
        assert report.errors == ()
    machine = Machine(resolver=RESOLVER, sendmail="/bin/sh", sysctl=lambda p: None)
    for warning in lint(report.config, machine):
        assert warning.code in CODES
