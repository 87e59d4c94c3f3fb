"""`ldirectordctl list` against ipvsadm on the same real kernel table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from ldirectord_py.cli.ctl import _register, cli

TABLE = [
    ("-A", "-t", "192.0.2.10:80", "-s", "wrr"),
    ("-a", "-t", "192.0.2.10:80", "-r", "198.51.100.11:80", "-g", "-w", "2"),
    (
        "-a",
        "-t",
        "192.0.2.10:80",
        "-r",
        "198.51.100.12:8080",
        "-m",
        "-w",
        "0",
        "-x",
        "50",
        "-y",
        "5",
    ),
    ("-A", "-u", "192.0.2.10:53", "-s", "rr", "-o"),
    ("-a", "-u", "192.0.2.10:53", "-r", "198.51.100.21:53", "-i"),
    ("-A", "-f", "7", "-s", "sh", "-b", "sh-port", "-p", "600", "-M", "255.255.255.0"),
    ("-a", "-f", "7", "-r", "198.51.100.31:0", "-g"),
    ("-A", "-t", "[2001:db8::10]:443", "-s", "lc", "-p", "300"),
    ("-a", "-t", "[2001:db8::10]:443", "-r", "[2001:db8:1::11]:443", "-m", "-w", "7"),
    ("-A", "-f", "9", "-6", "-s", "mh"),
]

FORMS = [
    ["-n"],
    ["-n", "--stats"],
    ["-n", "--rate"],
    ["-n", "--thresholds"],
    ["-n", "--persistent-conn"],
    ["-n", "--stats", "--exact"],
    ["-n", "-t", "192.0.2.10:80"],
    ["-n", "-u", "192.0.2.10:53"],
    ["-n", "-f", "7"],
    ["-n", "-f", "9", "-6"],
    ["-n", "-t", "[2001:db8::10]:443", "--thresholds"],
    ["-n", "-c"],
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _register()
    return CliRunner()


@pytest.mark.parametrize("form", FORMS, ids=[" ".join(f) for f in FORMS])
def test_list_prints_what_ipvsadm_prints(
    ipvs_table: Any, runner: CliRunner, form: list[str]
) -> None:
    for command in TABLE:
        ipvs_table(*command)
    expected = ipvs_table("-L", *form)
    result = runner.invoke(cli, ["list", "-L", *form])
    assert result.exit_code == 0, result.output
    assert result.output == expected


def test_missing_service_is_an_error_like_ipvsadm(ipvs_table: Any, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["list", "-n", "-t", "192.0.2.99:80"])
    assert result.exit_code == 1
    assert "No such service" in result.output


def test_health_column_and_json(ipvs_table: Any, runner: CliRunner) -> None:
    for command in TABLE[:3]:
        ipvs_table(*command)
    result = runner.invoke(cli, ["list", "-n", "--health"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].endswith(" Health")
    assert [line.split()[-1] for line in lines if line.startswith("  -> 198.")] == [
        "unknown",
        "unknown",
    ]
    data = json.loads(runner.invoke(cli, ["list", "-n", "--json"]).output)
    (service,) = data["services"]
    assert service["service"] == "TCP 192.0.2.10:80"
    assert sorted(d["address"] for d in service["destinations"]) == [
        "198.51.100.11",
        "198.51.100.12",
    ]
