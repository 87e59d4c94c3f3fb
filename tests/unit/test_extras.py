"""A check that needs a missing optional extra (the `sql` extra's asyncpg or
aiomysql) is refused when the configuration is read -- by `ldirectordctl
validate` and by `ldirectord ... start` alike -- with the file, the line and the
extra's name; never an ImportError at check time. The module is made missing by
hiding it from the import system (a None entry in sys.modules)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ldirectord_py.cli.ctl import _register, cli
from ldirectord_py.config import ConfigError, parse_text
from ldirectord_py.config.extras import SERVICE_EXTRAS, missing_extra

PGSQL = """\
virtual=127.0.0.100:5432
\treal=127.0.0.11:5432 gate
\tchecktype={checktype}
\tservice={service}
\tlogin="u"
\tpasswd="p"
\tdatabase="d"
\trequest="select 1"
"""


def config(service: str, checktype: str = "negotiate") -> str:
    return PGSQL.format(service=service, checktype=checktype)


@pytest.mark.parametrize("service", sorted(SERVICE_EXTRAS))
def test_missing_extra_is_a_config_error_naming_the_extra_and_line(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, module = SERVICE_EXTRAS[service]
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError) as err:
        parse_text(config(service), "/etc/ha.d/db.cf", check_files=False)
    text = err.value.perl_text(1)
    assert "reading file /etc/ha.d/db.cf at line 4:" in text
    assert f"service = {service} needs the Python module {module}" in text
    assert "install the 'sql' extra (pip install 'ldirectord-py[sql]')" in text


def test_installed_extra_and_other_checktypes_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_text(config("pgsql"), "db.cf", check_files=False).virtuals
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    # a combined check (checktype = N) negotiates too; connect and off never import it
    with pytest.raises(ConfigError):
        parse_text(config("pgsql", "3"), "db.cf", check_files=False)
    for checktype in ("connect", "off", "on"):
        assert parse_text(config("pgsql", checktype), "db.cf", check_files=False).virtuals
    assert missing_extra("negotiate", "http") is None


def test_validate_refuses_it_with_exit_2_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aiomysql", None)
    path = tmp_path / "db.cf"
    path.write_text(config("mysql"))
    _register()
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "install the 'sql' extra" in result.output
    assert "Traceback" not in result.output
