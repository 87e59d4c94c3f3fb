"""Shared facts live in one place each (issue 12 item 6), and dead code stays gone
(item 7): read from the source, so a second copy fails here before review.

* runtime paths (pid, lock, socket, drains, maintenance) in `runpaths`, the
  IPv4/IPv6 network alias and the anycast-prefix test in `networks`: leaf
  modules that import nothing of the package;
* observe/ does not import daemon/ (work kept off the loop is the leaf
  `offloop`, used by both);
* ldirectordctl: the daemon-finding texts and `--config` in cli/daemon_client.py
  only, every subcommand added to the group in ctl._register only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from click.testing import CliRunner

from ldirectord_py import runpaths
from ldirectord_py.networks import inside

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ldirectord_py"
SOURCES = {
    p.relative_to(REPO).as_posix(): p.read_text()
    for p in PACKAGE.rglob("*.py")
    if "_gen" not in p.parts
}

OBSERVE_TO_DAEMON_LEFT: dict[str, set[str]] = {}
"""Imports from observe/ into daemon/ not yet moved: none left, and none may come."""


def _imports(source: str) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module if node.level == 0 else f".{node.module}")
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def _holding(pattern: str) -> list[str]:
    return sorted(path for path, src in SOURCES.items() if re.search(pattern, src))


def test_leaf_modules_import_nothing_of_the_package() -> None:
    for leaf in (
        "ldirectord_py/runpaths.py",
        "ldirectord_py/networks.py",
        "ldirectord_py/offloop.py",
    ):
        ours = {m for m in _imports(SOURCES[leaf]) if m.startswith(("ldirectord_py", "."))}
        assert not ours, f"{leaf} is a leaf module but imports {ours}"


def test_observe_does_not_import_daemon() -> None:
    for path, source in SOURCES.items():
        if not path.startswith("ldirectord_py/observe/"):
            continue
        daemon = {m for m in _imports(source) if m.startswith("ldirectord_py.daemon")}
        assert daemon <= OBSERVE_TO_DAEMON_LEFT.get(path, set()), (path, daemon)


def test_runtime_file_names_are_made_in_runpaths_only() -> None:
    # `ldirectord.{cfgname}.pid`-style names built anywhere else would drift apart
    built = _holding(r'f"ldirectord\.\{[^}]+\}\.(pid|lock|sock|drained|maintenance)"')
    assert built == [], built
    suffixes = _holding(r'"\.(pid|lock|sock|drained|maintenance)"')
    assert suffixes == [], suffixes
    assert _holding(r'RUN_DIR\s*=\s*"') == ["ldirectord_py/runpaths.py"]
    paths = runpaths.RunPaths("t.cf", "/x")
    assert (paths.pid, paths.lock, paths.socket, paths.drained, paths.maintenance) == (
        "/x/ldirectord.t.cf.pid",
        "/x/ldirectord.t.cf.lock",
        "/x/ldirectord.t.cf.sock",
        "/x/ldirectord.t.cf.drained",
        "/x/ldirectord.t.cf.maintenance",
    )
    assert runpaths.RunPaths.beside("/x/ldirectord.t.cf.drained") == paths


def test_runpaths_follow_run_dir_when_asked(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(runpaths, "RUN_DIR", str(tmp_path))
    assert runpaths.RunPaths("a.cf").socket == str(tmp_path / "ldirectord.a.cf.sock")
    (tmp_path / "ldirectord.b.cf.sock").touch()
    (tmp_path / "ldirectord.a.cf.sock").touch()
    (tmp_path / "ldirectord.a.cf.pid").touch()
    assert runpaths.all_sockets() == [
        str(tmp_path / "ldirectord.a.cf.sock"),
        str(tmp_path / "ldirectord.b.cf.sock"),
    ]


def test_the_network_alias_and_the_prefix_test_exist_once() -> None:
    assert _holding(r"IPv4Network \| (ipaddress\.)?IPv6Network") == ["ldirectord_py/networks.py"]
    assert _holding(r"\.subnet_of\(") == ["ldirectord_py/networks.py"]
    import ipaddress

    net = ipaddress.ip_network
    assert inside(net("198.51.100.10/32"), [net("2001:db8::/32"), net("198.51.100.0/24")])
    assert not inside(net("198.51.101.10/32"), [net("198.51.100.0/24")])
    assert not inside(net("2001:db8::1/128"), [net("198.51.100.0/24")])


def test_one_daemon_client_and_one_config_option() -> None:
    client = "ldirectord_py/cli/daemon_client.py"
    assert _holding(r'"--config"') == [client]
    assert _holding(r"no such socket: is the daemon") == [client]
    assert _holding(r"name one with --config") == [client]


def test_subcommands_are_registered_in_one_place() -> None:
    from ldirectord_py.cli import ctl

    assert _holding(r"@cli\.command") == []
    assert _holding(r"\.add_command\(") == ["ldirectord_py/cli/ctl.py"]
    listed = CliRunner().invoke(ctl.cli, ["--help"]).output
    for name in (
        "status",
        "routes",
        "list",
        "validate",
        "drain",
        "undrain",
        "check-now",
        "reload",
        "maintenance",
    ):
        assert re.search(rf"^  {name}\b", listed, re.M), (name, listed)


def test_dead_code_stays_gone() -> None:
    assert _holding(r"def by_key\b") == []
    assert _holding(r"def raise_nofile_limit\b") == []
