"""The failure classes of check results (checks/result.py): the text classifier
used while a check does not set its kind itself, and `failure_kind`."""

from __future__ import annotations

import pytest

from ldirectord_py.checks.result import CheckResult, FailureKind, failure_kind, kind_of


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
