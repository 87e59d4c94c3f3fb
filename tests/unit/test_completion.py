"""The bash completion files the packages install (compat/bash-completion/):
click's scripts for ldirectordctl and ldirectord-anycast are fresh, and the
hand-written one for ldirectord offers exactly the drop-in's actions and options
and completes them in a real bash."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

from ldirectord_py.cli import ldirectord

REPO = Path(__file__).resolve().parents[2]
COMPLETION = REPO / "compat" / "bash-completion"


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
        assert (COMPLETION / name).read_text() == text, (
            f"compat/bash-completion/{name} is stale: run .venv/bin/python scripts/build-completion"
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
