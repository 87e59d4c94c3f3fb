"""The man pages: built from man/src by scripts/build-man, committed, valid roff,
and complete (every directive the parser knows, every command, every exit code)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ldirectord_py.config.directives import GLOBAL_DIRECTIVES, VIRTUAL_DIRECTIVES
from ldirectord_py.daemon.lifecycle import COMMANDS

REPO = Path(__file__).resolve().parents[2]
PAGES = ("ldirectord.8", "ldirectordctl.8", "ldirectord-anycast.8")


def build_man() -> ModuleType:
    path = REPO / "scripts" / "build-man"
    loader = importlib.machinery.SourceFileLoader("build_man", str(path))
    spec = importlib.util.spec_from_loader("build_man", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_man"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is missing: install the Debian package `{package}`")
    return path


def test_committed_pages_are_what_the_sources_build() -> None:
    built = build_man().build()
    assert sorted(built) == sorted(PAGES)
    for name, text in built.items():
        committed = (REPO / "man" / name).read_text()
        assert committed == text, f"man/{name} is out of date: run scripts/build-man"


def test_every_directive_of_the_parser_is_in_ldirectord_8() -> None:
    page = (REPO / "man" / "ldirectord.8").read_text()
    names = {d.name for d in (*GLOBAL_DIRECTIVES, *VIRTUAL_DIRECTIVES)}
    names |= {"fallback6", "real6", "virtual", "virtual6"}
    missing = sorted(n for n in names if rf"\fB{n}\fR" not in page)
    assert not missing, f"not documented in man/src/directives.txt: {missing}"


def test_anycast_and_metrics_directives_are_documented() -> None:
    page = (REPO / "man" / "ldirectord.8").read_text()
    for name in (
        "anycastprefix", "anycastmethod", "gobgpapi", "anycastinterface", "anycastnexthop",
        "anycastcommunity", "anycastmed", "anycastdown", "anycastwhen", "anycastholddown",
        "anycastmaxwithdraw", "anycaststop", "metricsaddress",
    ):  # fmt: skip
        assert rf"\fB{name}\fR" in page, name


def test_a_new_directive_without_docs_fails_the_build() -> None:
    module = build_man()
    entries = module.read_directives(REPO / "man" / "src" / "directives.txt")
    tables = module.parser_tables()
    module.check_directives(entries, tables)  # complete today
    tables["global"]["brandnewdirective"] = True
    with pytest.raises(module.ManError, match="brandnewdirective"):
        module.check_directives(entries, tables)
    virtual_only = {"global": {}, "virtual": {"anycastprefix": True}}
    with pytest.raises(module.ManError, match="anycastprefix is accepted in virtual"):
        module.check_directives(entries, virtual_only)


def test_every_command_and_exit_status_is_in_ldirectord_8() -> None:
    page = (REPO / "man" / "ldirectord.8").read_text()
    for command in COMMANDS:
        assert rf"\fB{command.replace('-', chr(92) + '-')}\fR" in page, command
    exit_section = page.split(".SH EXIT STATUS", 1)[1].split(".SH", 1)[0]
    assert re.findall(r"^\.TP\n(\d+)$", exit_section, re.M) == ["0", "1", "2", "3", "255"]


def test_every_ldirectordctl_command_is_documented() -> None:
    from ldirectord_py.cli import ctl

    ctl._register()
    page = (REPO / "man" / "ldirectordctl.8").read_text()
    for command in ctl.cli.commands:
        assert f".TP\n\\fB{command.replace('-', chr(92) + '-')}\\fR" in page, command


@pytest.mark.parametrize("name", PAGES)
def test_pages_render_without_warnings(name: str) -> None:
    path = REPO / "man" / name
    groff = _tool("groff", "groff-base")
    res = subprocess.run(
        [groff, "-ww", "-z", "-man", str(path)], capture_output=True, text=True, check=False
    )
    assert (res.returncode, res.stderr) == (0, "")
    man = _tool("man", "man-db")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_STDERR="1")
    res = subprocess.run(
        [man, "--warnings", "-E", "UTF-8", "-l", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (res.returncode, res.stderr) == (0, "")
    title = name.removesuffix(".8").upper()
    assert res.stdout.startswith(f"{title}(8)")
    assert "NAME" in res.stdout and "SEE ALSO" in res.stdout


def test_check_mode_reports_stale_pages(tmp_path: Path) -> None:
    module = build_man()
    assert module.main(["--out", str(tmp_path)]) == 0
    assert module.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "ldirectord.8").write_text("stale\n")
    assert module.main(["--check", "--out", str(tmp_path)]) == 1
