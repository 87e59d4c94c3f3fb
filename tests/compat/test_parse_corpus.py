"""Our parser against the golden corpus of parse verdicts recorded from the Perl original.

The cases are tests/compat/parse_corpus/cases.py; the Perl verdicts (exit code, stdout,
stderr of `ldirectord <file> status`) are parse_corpus/verdicts.json, recorded by

    sudo python3 tests/compat/record_perl_verdicts.py

For each case: exit 2 <=> ConfigError, with the same `Error [PID] reading file CONFIG at
line N: MSG` text and the same warnings before it; exit 3 <=> a Config whose warnings
print exactly the recorded stderr. Pure: names resolve from the case table through
StaticResolver, never through DNS.

`test_perl_recording_is_reproducible` re-runs the Perl original on a few cases, so the
corpus cannot silently rot: it needs root and the Debian package ldirectord.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
RECORDER = HERE / "record_perl_verdicts.py"


def _load_verdict_module() -> ModuleType:
    name = "ldpy_parse_corpus_verdict"
    if name not in sys.modules:
        path = HERE / "parse_corpus" / "verdict.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


verdict = _load_verdict_module()
cases = verdict.cases
CORPUS = verdict.load_corpus()

# Cases whose recorded messages contain control characters or bytes >= 0x7f. The Perl
# original echoes them raw; our parser escapes them (\r -> `\r`, else `\xNN`), a
# deliberate deviation, so for these the comparison applies that escaping to the
# recorded text. test_escaped_list_is_exact keeps this list honest.
ESCAPED = frozenset(
    {
        "blk-crlf-unknown",  # `Unknown command "\tbogus=1\r\n"`
        "gb-nul-line",  # a line of NULs, echoed by `Unknown command`
        "gb-binary-global",  # \xff\xfe\x01 ... \x7f
        "gb-binary-in-block",  # ANSI escape sequences (\x1b)
        "gb-utf8-unknown",  # UTF-8 bytes \xc3\xa9
        "gb-utf8-bom",  # \xef\xbb\xbf before logfile= on line 1
        "gb-form-feed-indent",  # \x0c
    }
)

# Decided deviations: case name -> (why, function from the recorded messages to the
# messages we expect instead). Each is listed in docs/compatibility.md.
DEVIATIONS: dict[str, tuple[str, object]] = {
    "rg-port-on-both-ends": (
        "ranges compare as numbers (quirk 13, fixed), so an accidental range of two "
        "billion addresses is refused instead of silently expanding to nothing",
        lambda case, want: [
            "Error [PID] reading file CONFIG at line 3: Invalid Range: "
            "0.0.0.80-127.0.0.12: 2130706365 addresses, more than the 65536 one "
            "range may hold\n"
        ],
    ),
}

# Perl's own diagnostics on stderr, which are not configuration messages and are not
# compared (they are kept in verdicts.json). Each must match one of these.
KNOWN_PERL_DIAGNOSTICS = (
    # _ld_read_config_virtual_resolve on a virtual whose host or port does not resolve
    re.compile(r"^Use of uninitialized value \$ip_port in pattern match \(m//\) at "),
    # a syslog facility as logfile= on a machine without /dev/log (the recorder hides it)
    re.compile(r"^setlogsock\(\): type='unix': path not available at "),
)

# A few varied cases re-recorded live by test_perl_recording_is_reproducible.
LIVE_SAMPLE = (
    "std-baseline",
    "gl-checkinterval-00",
    "gl-supervised-yes",
    "gl-fallback-hostname-service",
    "vl-http-protocol-udp",
    "blk-ws-only-5-spaces",
    "blk-crlf-unknown",
    "rl-req-rcv-digits-inside",
    "vn-checkinterval-two-virtuals",
    "mf-unwritable",
    "gb-binary-global",
)


def test_corpus_is_recorded_from_the_current_cases() -> None:
    """verdicts.json holds exactly cases.py, in order (re-record after editing cases)."""
    recorded = {c.name: (c.description, c.config) for c in CORPUS}
    wanted = {name: (description, text) for name, description, text in cases.CASES}
    # Compare by name, not the (up to 100 kB) texts, so a failure prints a short diff.
    stale = sorted(n for n in recorded.keys() | wanted.keys() if recorded.get(n) != wanted.get(n))
    assert not stale and list(recorded) == list(wanted), (
        f"parse_corpus/verdicts.json is stale ({len(stale)} cases, e.g. {stale[:5]}): "
        "run `sudo python3 tests/compat/record_perl_verdicts.py`"
    )


def test_corpus_size_and_names() -> None:
    names = [c.name for c in CORPUS]
    assert len(names) >= 150
    assert len(set(names)) == len(names)
    assert all(c.rc in (2, 3) for c in CORPUS), "status on a parsed file exits 3 (stopped)"


def test_corpus_stdout_is_the_status_line() -> None:
    """Accepted files print the status line; rejected ones print nothing on stdout
    (supervised=yes also logs to stdout, with timestamps)."""
    for case in CORPUS:
        lines = [x for x in case.stdout.splitlines() if not x.startswith("[TIME] ")]
        expected = ["ldirectord is stopped for CONFIG"] if case.rc == 3 else []
        assert lines == expected, case.name


def test_perl_diagnostics_are_known() -> None:
    for case in CORPUS:
        for line in verdict.split_stderr(case.stderr)[1]:
            assert any(p.match(line) for p in KNOWN_PERL_DIAGNOSTICS), (case.name, line)


def test_escaped_list_is_exact() -> None:
    with_controls = {
        c.name
        for c in CORPUS
        if any(verdict.has_controls(m) for m in verdict.split_stderr(c.stderr)[0])
    }
    assert with_controls == ESCAPED


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_parse_verdict(case: object, tmp_path: Path) -> None:
    deviation = DEVIATIONS.get(case.name)  # type: ignore[attr-defined]
    problem = verdict.check(
        case,
        tmp_path,
        escaped=case.name in ESCAPED,  # type: ignore[attr-defined]
        expect=deviation[1] if deviation else None,
    )
    assert problem is None, problem


@pytest.mark.root
def test_perl_recording_is_reproducible(tmp_path: Path) -> None:
    """Re-run the Perl original on a sample and compare with verdicts.json."""
    if not os.access("/usr/sbin/ldirectord", os.X_OK):
        pytest.fail(
            "/usr/sbin/ldirectord missing: install the Debian package ldirectord (make deps)"
        )
    if os.geteuid() != 0:
        pytest.fail("re-recording the Perl verdicts needs root (a private mount namespace)")
    out = tmp_path / "verdicts.json"
    argv = [sys.executable, str(RECORDER), "--out", str(out)]
    for name in LIVE_SAMPLE:
        argv += ["--only", name]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    fresh = {v["name"]: v for v in json.loads(out.read_text())}
    stored = {c.name: c for c in CORPUS}
    assert sorted(fresh) == sorted(LIVE_SAMPLE)
    for name, new in fresh.items():
        old = stored[name]
        assert (new["rc"], new["stdout"], new["stderr"]) == (old.rc, old.stdout, old.stderr), name
