"""Our parser against the 53 parse verdicts recorded from the Perl original by the compat
harness, kept in tests/data/compat-harness/observed/parse-matrix/ (see tests/data/README.md).

For each recorded file: exit 2 <=> ConfigError, with the same `Error [PID] reading file
CONFIG at line N: MSG` text (and the same warnings before it); exit 3 <=> a Config whose
warnings print exactly the recorded stderr. Pure: names resolve from a fixed table
(tests/compat/parse_corpus/cases.py), never through DNS. The larger corpus recorded
from tests/compat/parse_corpus/cases.py is tests/compat/test_parse_corpus.py.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_verdict_module() -> ModuleType:
    name = "ldpy_parse_corpus_verdict"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "compat" / "parse_corpus" / "verdict.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


verdict = _load_verdict_module()

try:
    MATRIX = verdict.load_recorded_matrix()
    LOAD_ERROR = None
except FileNotFoundError as exc:
    MATRIX, LOAD_ERROR = [], str(exc)

# Cases whose recorded messages contain control characters, compared with our escaping
# of them (a deliberate deviation, see ldirectord_py/config/errors.py). None so far:
# the recorded CR (global-crlf) is not echoed in its message.
ESCAPED: frozenset[str] = frozenset()

# Decided deviations: case name -> (why, function from the recorded messages to the
# messages we expect instead). None so far.
DEVIATIONS: dict[str, tuple[str, object]] = {}


def test_recorded_matrix_is_present_and_complete() -> None:
    assert LOAD_ERROR is None, LOAD_ERROR
    names = [c.name for c in MATRIX]
    # DESIGN.md and the spec say 54, but the harness's PARSE_CASES defines 53 and
    # events.jsonl / summary.txt hold 53.
    assert len(names) == 53, f"expected the 53 recorded verdicts, found {len(names)}"
    assert len(set(names)) == len(names), "case names must be unique"


def test_recorded_matrix_agrees_with_summary() -> None:
    """events.jsonl (what we test against) and summary.txt (what people read) agree."""
    assert LOAD_ERROR is None, LOAD_ERROR
    summary = verdict.REPO_ROOT / verdict.MATRIX_RELPATH / "summary.txt"
    rcs = {}
    for line in summary.read_text().splitlines():
        m = re.match(r"^(\S+)\s+rc=(\d+)\s", line)
        if m:
            rcs[m.group(1)] = int(m.group(2))
    assert rcs == {c.name: c.rc for c in MATRIX}


def test_escaped_list_is_exact() -> None:
    with_controls = {
        c.name
        for c in MATRIX
        if any(verdict.has_controls(m) for m in verdict.split_stderr(c.stderr)[0])
    }
    assert with_controls == ESCAPED


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: c.name)
def test_recorded_verdict(case: object, tmp_path: Path) -> None:
    deviation = DEVIATIONS.get(case.name)  # type: ignore[attr-defined]
    problem = verdict.check(
        case,
        tmp_path,
        escaped=case.name in ESCAPED,  # type: ignore[attr-defined]
        expect=deviation[1] if deviation else None,
    )
    assert problem is None, problem
