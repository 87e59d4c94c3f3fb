"""The failure classes of check results (checks/result.py): the text classifier
used while a check does not set its kind itself, and `failure_kind`."""

from __future__ import annotations

import pytest

from ldirectord_py.checks.result import CheckResult, FailureKind, failure_kind, kind_of
from ldirectord_py.config import parse_text
from ldirectord_py.config.resolve import StaticResolver
from ldirectord_py.engine import Engine, RealChanged, RealState
from ldirectord_py.observe.metrics import REASON_LABELS, Metrics


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("timeout after 5s", "timeout"),
        ("negotiate: receive did not match", "receive_mismatch"),
        ("connect: connect refused", "refused"),
        ("status 503", "http_status"),
        ("Server in maintenance", "maintenance"),
        ("something new", "other"),
    ],
)
def test_reasons_become_bounded_labels(reason: str, kind: str) -> None:
    assert kind_of(reason) == kind


def test_the_kind_a_check_set_wins_over_its_text() -> None:
    assert failure_kind(CheckResult(False, "timeout after 3s", 3.0, FailureKind.RESET)) == "reset"
    assert failure_kind(CheckResult(False, "timeout after 3s", 3.0)) == FailureKind.TIMEOUT
    assert failure_kind(CheckResult(False, "timeout", 3.0, FailureKind.OTHER)) == "timeout"
    assert failure_kind(CheckResult(True, "ok", 0.1)) is FailureKind.NONE


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
    metrics.observe_check("dns", False, "x", 0.1, kind)
    assert metrics.check_failures.labels("dns", kind.value)._value.get() == 1
    assert kind.value in REASON_LABELS


def test_a_dns_error_rcode_is_its_own_kind_not_no_answer() -> None:
    assert FailureKind.DNS_RCODE.value == "dns_rcode"
    assert kind_of("SERVFAIL") is FailureKind.OTHER  # set by checks/dns.py, not read from text
