"""The failure classes of check results (checks/result.py): every failure says its
kind where it is made, so nothing downstream reads a reason's words; every kind
reaches the event and the metrics label."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ldirectord_py.checks
from ldirectord_py.checks import result as result_module
from ldirectord_py.checks.result import FailureKind
from ldirectord_py.config import parse_text
from ldirectord_py.config.resolve import StaticResolver
from ldirectord_py.engine import Engine, RealChanged, RealState
from ldirectord_py.observe.metrics import REASON_LABELS, Metrics

CHECKS = Path(ldirectord_py.checks.__file__).parent


def _unkinded(path: Path) -> list[str]:
    """The `CheckFailed(...)` calls in `path` that leave the kind to its default."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        if name != "CheckFailed":
            continue
        if len(node.args) < 2 and not any(k.arg == "kind" for k in node.keywords):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_every_check_failure_names_its_kind() -> None:
    """`CheckFailed(reason)` alone would say `other` for whatever the reason says:
    each check passes the kind it knows (checks/*.py, read as source)."""
    files = sorted(CHECKS.glob("*.py"))
    assert len(files) > 15, files  # the scan reads the check modules
    assert [p for p in files if "CheckFailed(" in p.read_text()], "no CheckFailed found"
    assert [line for path in files for line in _unkinded(path)] == []


def test_nothing_classifies_a_reason_by_its_words() -> None:
    assert not hasattr(result_module, "kind_of")
    assert not hasattr(result_module, "failure_kind")


CONFIG = "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate 4\n\tservice=http\n"


@pytest.mark.parametrize("kind", [k for k in FailureKind if k is not FailureKind.NONE])
def test_every_kind_reaches_the_event_and_the_metrics_label_unchanged(kind: FailureKind) -> None:
    """A new FailureKind needs no change past checks/result.py: the engine carries
    it into RealChanged and the metrics use its value as the `reason` label."""
    config = parse_text(
        CONFIG, "/etc/ha.d/test.cf", resolver=StaticResolver({}, {}), check_files=False
    )
    engine = Engine(config, 0.0)
    virtual = config.virtuals[0]
    ident = virtual.check_identity(virtual.reals[0])
    engine.record(ident, True, "ok", 1.0)
    down = [
        e for e in engine.record(ident, False, "x", 2.0, kind=kind) if isinstance(e, RealChanged)
    ]
    assert [(e.new, e.kind) for e in down] == [(RealState.DOWN, kind)]
    assert engine.real_status(virtual, virtual.reals[0]).last_kind is kind

    metrics = Metrics(lambda: None)
    metrics.observe_check("dns", False, 0.1, kind)
    assert metrics.check_failures.labels("dns", kind.value)._value.get() == 1
    assert kind.value in REASON_LABELS


def test_a_dns_error_rcode_is_its_own_kind_not_no_answer() -> None:
    assert FailureKind.DNS_RCODE.value == "dns_rcode"
    assert FailureKind.DNS_RCODE is not FailureKind.NO_ANSWER  # set by checks/dns.py
