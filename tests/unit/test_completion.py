"""The completion files the packages install (compat/bash-completion/ and
compat/zsh-completion/): click's scripts for ldirectordctl and ldirectord-anycast
are fresh, the hand-written ones for ldirectord offer exactly the drop-in's
actions and options and complete them in a real bash and a real zsh, and
ldirectordctl completes its subcommands, running instances and reals."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

from ldirectord_py.cli import ldirectord

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO / "compat"
COMPLETION = COMPAT / "bash-completion"
ZSH_COMPLETION = COMPAT / "zsh-completion"


def _builder() -> object:
    spec = importlib.util.spec_from_loader(
        "build_completion",
        importlib.machinery.SourceFileLoader(
            "build_completion", str(REPO / "scripts" / "build-completion")
        ),
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_click_completion_scripts_are_fresh() -> None:
    for name, text in _builder().expected().items():  # type: ignore[attr-defined]
        assert (COMPAT / name).read_text() == text, (
            f"compat/{name} is stale: run .venv/bin/python scripts/build-completion"
        )


def _complete(words: list[str], tmp_path: Path) -> list[str]:
    bash = shutil.which("bash")
    assert bash, "bash is missing (apt-get install bash)"
    script = (
        f"source {COMPLETION / 'ldirectord'}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_ldirectord; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run([bash, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


def test_ldirectord_completion_offers_the_usage_actions(tmp_path: Path) -> None:
    usage_actions = set(re.findall(r"\b([a-z-]+)\b", ldirectord.USAGE.split("Options:")[0]))
    offered = set(_complete(["ldirectord", ""], tmp_path))
    actions = {"start", "stop", "restart", "try-restart", "reload", "force-reload", "status"}
    assert actions <= usage_actions, "the usage text changed: update the completion"
    assert actions <= offered
    assert set(_complete(["ldirectord", "-d", "x.cf", "re"], tmp_path)) == {
        "restart",
        "reload",
    }
    assert _complete(["ldirectord", "x.cf", "start", ""], tmp_path) == []
    (tmp_path / "site.cf").write_text("")
    assert "site.cf" in _complete(["ldirectord", "si"], tmp_path)
    options = set(_complete(["ldirectord", "--"], tmp_path))
    assert options == {"--debug", "--help", "--version"}


def _zsh_complete(words: list[str], tmp_path: Path) -> list[str]:
    """What compat/zsh-completion/_ldirectord offers, in a real zsh, with the
    completion builtins replaced by stand-ins that print their candidates."""
    zsh = shutil.which("zsh")
    assert zsh, "zsh is missing (apt-get install zsh; make deps installs it)"
    body = (ZSH_COMPLETION / "_ldirectord").read_text()
    quoted = " ".join(repr(w) for w in words)
    script = (
        "compadd() { if [[ $1 == -a ]]; then print -l -- ${(P)2}; "
        'else [[ $1 == -- ]] && shift; print -l -- "$@"; fi }\n'
        "_files() { print -l -- *(N) }\n"
        f"_ldirectord() {{\n{body}\n}}\n"
        f"words=({quoted}); CURRENT={len(words)}; PREFIX={words[-1]!r}\n"
        "_ldirectord\n"
    )
    out = subprocess.run([zsh, "-f", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w and w.startswith(words[-1])]


def test_zsh_completion_for_ldirectord(tmp_path: Path) -> None:
    zsh = shutil.which("zsh")
    assert zsh, "zsh is missing (apt-get install zsh; make deps installs it)"
    for path in ZSH_COMPLETION.iterdir():
        check = subprocess.run([zsh, "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, (path.name, check.stderr)
        assert path.read_text().startswith(f"#compdef {path.name[1:]}\n"), path.name
    actions = {"start", "stop", "restart", "try-restart", "reload", "force-reload", "status"}
    assert actions <= set(_zsh_complete(["ldirectord", ""], tmp_path))
    assert set(_zsh_complete(["ldirectord", "-d", "x.cf", "re"], tmp_path)) == {
        "restart",
        "reload",
    }
    assert _zsh_complete(["ldirectord", "x.cf", "start", ""], tmp_path) == []
    (tmp_path / "site.cf").write_text("")
    assert "site.cf" in _zsh_complete(["ldirectord", "si"], tmp_path)
    assert set(_zsh_complete(["ldirectord", "--"], tmp_path)) == {"--debug", "--help", "--version"}


def _click_complete(args: str, incomplete: str) -> list[str]:
    from click.shell_completion import ShellComplete

    from ldirectord_py.cli.ctl import cli

    shell = ShellComplete(cli, {}, "ldirectordctl", "_LDIRECTORDCTL_COMPLETE")
    return [item.value for item in shell.get_completions(args.split(), incomplete)]


def test_ldirectordctl_completes_commands_instances_and_reals(
    tmp_path: Path, monkeypatch: object
) -> None:
    import pytest

    from ldirectord_py import runpaths
    from ldirectord_py.cli import daemon_client

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    assert {"drain", "undrain", "reload", "status"} <= set(_click_complete("", ""))
    assert "--dry-run" in _click_complete("reload", "--")
    assert "--force" in _click_complete("drain", "--")
    monkeypatch.setattr(runpaths, "RUN_DIR", str(tmp_path))
    (tmp_path / "ldirectord.site-a.cf.sock").touch()
    (tmp_path / "ldirectord.site-b.cf.sock").touch()
    assert _click_complete("status --config", "site-") == ["site-a.cf", "site-b.cf"]
    status = {"virtuals": [{"reals": [{"real": "10.0.0.1:80"}, {"real": "10.0.0.2:80"}]}]}
    monkeypatch.setattr(daemon_client, "one_status", lambda config: status)
    assert _click_complete("drain -c site-a.cf", "10.0.0.") == ["10.0.0.1:80", "10.0.0.2:80"]
    monkeypatch.setattr(daemon_client, "one_status", lambda config: 1 / 0)
    assert _click_complete("drain", "10") == [], "quiet when no daemon answers"
