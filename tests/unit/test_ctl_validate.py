"""`ldirectordctl validate`: what an operator runs before a reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ldirectord_py.cli.ctl import _register, cli

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
checktimeout=3
logfile="{log}"
virtual=127.0.0.100:8080
\treal=127.0.0.11:8080 gate 2
\treal=127.0.0.12:8080 masq
\tservice=http
\trequest="health"
\treceive="OK"
\tpasswd="hunter2"

"""


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _register()
    return CliRunner()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ld.cf"
    path.write_text(text.format(log=tmp_path / "ld.log"))
    return str(path)


def test_valid_config_prints_effective_values_with_origins(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(cli, ["validate", write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "valid" in out.splitlines()[0]
    assert "virtual tcp:127.0.0.100:8080 (line 3):" in out
    assert "checktimeout      3" in out and "(global, line 1)" in out
    assert "negotiatetimeout  3" in out  # the cascade, filled in
    assert "scheduler         wrr                            (default)" in out
    assert "real 127.0.0.11:8080 gate weight 2 (line 4)" in out
    assert "GET http://127.0.0.11:8080/health expecting /OK/" in out
    assert "hunter2" not in out  # secrets are masked


def test_json_has_every_virtual_and_real(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", "--json", write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["valid"] is True
    (virtual,) = data["virtuals"]
    assert virtual["identity"] == "tcp:127.0.0.100:8080"
    assert [r["address"] for r in virtual["reals"]] == ["127.0.0.11", "127.0.0.12"]
    assert virtual["reals"][1]["forward"] == "masq"
    assert virtual["reals"][0]["url"] == "http://127.0.0.11:8080/health"
    assert virtual["negotiatetimeout"] == 3


def test_invalid_config_exits_2_naming_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("\tservice=http", "\tservice=gopher"))
    result = runner.invoke(cli, ["validate", path])
    assert result.exit_code == 2
    assert f"{path}:6: service must be dns" in result.output
    assert "service=gopher" in result.output  # the offending line is quoted


def test_invalid_config_as_json(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "quiescent = yes # c\n")
    result = runner.invoke(cli, ["validate", "--json", path])
    assert result.exit_code == 2
    data = json.loads(result.output)
    assert data["valid"] is False
    assert data["errors"] == [
        {"path": path, "line": 1, "message": "quiescent must be 'yes' or 'no'"}
    ]


def test_missing_file_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", str(tmp_path / "nope.cf")])
    assert result.exit_code == 1
    assert "not found" in result.output


def test_shipped_example_is_valid(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--json", str(REPO / "examples" / "ldirectord.cf")])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["virtuals"]) == 4


MANY_ERRORS = """\
checktimeout=0
virtual=127.0.0.100:8080
\treal=127.0.0.11:8080 gate
\tservice=gopher
\tpasswd = hunter2
quiescent = maybe
virtual=127.0.0.101:8080
\treal=127.0.0.12:8080 gate
\tscheduler=wrrr
"""


def test_every_error_in_one_run(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, MANY_ERRORS)
    result = runner.invoke(cli, ["validate", path])
    assert result.exit_code == 2
    lines = [x for x in result.output.splitlines() if x.startswith(path + ":")][:-1]
    assert [x.split(": ")[0] for x in lines] == [f"{path}:{n}" for n in (1, 4, 5, 6, 9)]
    assert f"{path}:9: scheduler wrrr of virtual=127.0.0.101:8080 is not an ip_vs" in result.output
    assert result.output.endswith(f"{path}: invalid: 5 errors, 0 warnings\n")
    assert "hunter2" not in result.output  # the unquoted passwd line is an error, masked


def test_errors_and_secrets_in_json(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, MANY_ERRORS)
    result = runner.invoke(cli, ["validate", "--json", path])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    data = json.loads(result.output)
    assert (data["schema"], data["valid"], data["strict"]) == (1, False, False)
    assert [e["line"] for e in data["errors"]] == [1, 4, 5, 6, 9]
    assert data["errors"][2]["message"] == 'Unknown command "\tpasswd = ********\n"'


def test_json_masks_secrets_of_a_valid_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", "--json", write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    (virtual,) = json.loads(result.output)["virtuals"]
    assert virtual["passwd"] == "********" and virtual["secret"] == ""


GATE_PORT = """\
logfile="{log}"
virtual=127.0.0.100:80
\treal=127.0.0.11:8080 gate
\tservice=http
\trequest="health"
\treceive="OK"
"""


def test_warnings_and_strict(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, GATE_PORT)
    result = runner.invoke(cli, ["validate", path])
    assert result.exit_code == 0, result.output
    assert f"{path}:3: warning: real 127.0.0.11:8080 of virtual 127.0.0.100:80 uses gate" in (
        result.output
    )
    assert "[gate-port]" in result.output
    strict = runner.invoke(cli, ["validate", "--strict", path])
    assert strict.exit_code == 1
    data = json.loads(runner.invoke(cli, ["validate", "--json", "--strict", path]).output)
    assert data["valid"] is True and data["strict"] is True
    assert data["warnings"] == [
        {
            "path": path,
            "line": 3,
            "code": "gate-port",
            "message": data["warnings"][0]["message"],
        }
    ]
    assert data["not_checked"] == []
    clean = write(tmp_path, GATE_PORT.replace("8080", "80"))
    assert runner.invoke(cli, ["validate", "--strict", clean]).exit_code == 0


def test_router_config_checks_anycast_vips(runner: CliRunner, tmp_path: Path) -> None:
    text = "anycastprefix = 198.51.100.0/24\n" + GATE_PORT.replace("127.0.0.100", "198.51.100.10")
    path = write(tmp_path, text.replace("8080", "80"))
    plain = runner.invoke(cli, ["validate", "--json", path])
    assert "routers accept" in json.loads(plain.output)["not_checked"][0]
    router = tmp_path / "frr.conf"
    router.write_text("ip prefix-list A seq 5 permit 192.0.2.0/24 ge 32 le 32\n")
    result = runner.invoke(cli, ["validate", "--strict", "--router-config", str(router), path])
    assert result.exit_code == 1
    assert "anycast VIP 198.51.100.10/32 is in no prefix" in result.output
    router.write_text("nothing here\n")
    result = runner.invoke(cli, ["validate", "--router-config", str(router), path])
    assert result.exit_code == 1 and "no prefix list" in result.output
