"""The status snapshot's JSON (observe/schema.py): versioned, decoded leniently
(older documents, unknown keys) and strictly (a wrong type names the field)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner

from ldirectord_py.cli.ctl_status import status_command
from ldirectord_py.observe.schema import (
    SCHEMA_VERSION,
    AnycastSnapshot,
    InterfacesSnapshot,
    RealState,
    StatusSnapshot,
    VipSnapshot,
    VipState,
)

# a document as releases before the schema served it (no "schema" key)
SCHEMA_1 = {
    "status": "running",
    "config": "/etc/ha.d/ldirectord.cf",
    "pid": 4242,
    "started_at": 1795000000.0,
    "last_result_at": 123.4,
    "dataplane": {"converged": True, "last_error": None, "operations": 4, "errors": 0,
                  "reconciles": 3, "available": True, "refused": {}},
    "writers": {"ipvs": {"crashes": 0, "last_crash": None, "last_crash_at": None,
                         "restarting": False, "stalled": False}},
    "watchdog": {"stalled": False, "limit": 30.0, "last_result_age": 0.4},
    "drained": ["192.0.2.2:80"],
    "virtuals": [
        {"virtual": "tcp:198.51.100.10:80", "service": "TCP 198.51.100.10:80",
         "fallback_active": False,
         "reals": [{"real": "192.0.2.1:80", "kernel": "192.0.2.1:80", "weight": 1,
                    "drained": False, "state": "up", "since": 1795000010.0, "failures": 0,
                    "last_ok": True, "last_reason": "ok", "last_latency": 0.0021}]}
    ],
    "anycast": {"enabled": True, "method": "interface",
                "vips": [{"vip": "198.51.100.10/32", "state": "announced", "reason": "...",
                          "since": 1795000011.0, "virtuals": ["198.51.100.10:80 tcp"],
                          "guarded": False}],
                "gobgp": None,
                "interfaces": {"desired": {"lo": ["198.51.100.10/32"]},
                               "actual": {"lo": ["198.51.100.10/32"]}}},
}  # fmt: skip


def test_an_older_document_decodes_as_schema_1() -> None:
    snapshot = StatusSnapshot.from_json(SCHEMA_1)
    assert snapshot.schema == 1
    [virtual] = snapshot.virtuals
    [real] = virtual.reals
    assert (real.state, real.weight, real.programmed_weight) == (RealState.UP, 1, None)
    assert snapshot.anycast.interfaces is not None
    assert snapshot.anycast.interfaces.carrying("198.51.100.10/32") == ("lo",)
    assert snapshot.writers["ipvs"].crashes == 0


def test_keys_this_reader_does_not_know_are_ignored() -> None:
    newer = dict(SCHEMA_1, schema=SCHEMA_VERSION, something_new={"x": 1})
    assert StatusSnapshot.from_json(newer).schema == SCHEMA_VERSION


def test_a_round_trip_keeps_every_value() -> None:
    snapshot = StatusSnapshot(
        schema=SCHEMA_VERSION,
        anycast=AnycastSnapshot(
            enabled=True,
            method="interface",
            vips=(VipSnapshot(vip="198.51.100.10/32", state=VipState.HELD, guarded=True),),
            interfaces=InterfacesSnapshot(actual={"lo": ("198.51.100.10/32",)}),
        ),
    )
    assert StatusSnapshot.from_json(json.loads(json.dumps(snapshot.to_json()))) == snapshot
    assert StatusSnapshot().anycast.to_json() == {"enabled": False}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["virtuals"][0]["reals"][0].update(weight="5"), "status.virtuals[0].reals[0].weight"),  # noqa: E501
        (lambda d: d["virtuals"][0]["reals"][0].update(state="up!"), "status.virtuals[0].reals[0].state"),  # noqa: E501
        (lambda d: d.update(drained="192.0.2.2:80"), "status.drained"),
        (lambda d: d["dataplane"].update(converged=1), "status.dataplane.converged"),
    ],
)  # fmt: skip
def test_a_wrong_type_is_an_error_naming_the_field(change: Any, where: str) -> None:
    document = json.loads(json.dumps(SCHEMA_1))
    change(document)
    with pytest.raises(ValueError, match=f"^{re.escape(where)}: "):
        StatusSnapshot.from_json(document)


def test_ldirectordctl_reports_a_document_it_cannot_read_without_a_traceback(
    monkeypatch: Any,
) -> None:
    broken = dict(SCHEMA_1, virtuals="none")
    monkeypatch.setattr(
        "ldirectord_py.cli.daemon_client.statuses",
        lambda config, quiet=False: [("/run/ldirectord.x.cf.sock", broken)],
    )
    result = CliRunner().invoke(status_command, [])
    assert result.exit_code == 1
    assert "the status from /run/ldirectord.x.cf.sock does not decode: status.virtuals" in (
        result.output
    )
    assert "Traceback" not in result.output
    as_json = CliRunner().invoke(status_command, ["--json"])
    assert as_json.exit_code == 1  # not printed as if it were fine either
