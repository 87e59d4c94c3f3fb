"""Docs and scripts name only code that exists (issue 12 item 7).

A doc that points to a function which was renamed or removed sends the next
engineer looking for it (compat/README.md once named `WatchdogRule` in
mainloop.py, long after it moved). Checked here, by reading the source (no
import of the product beyond what scripts import):

* every `ldirectord_py/....py` path in docs/, compat/, scripts/, man/src/,
  README.md and bench/README.md exists, and a backticked name right after it,
  "`ldirectord_py/daemon/stall.py` (`WatchdogRule`)", is defined in that file;
* every backticked `Module.name` or `Class.name` whose first part is a module
  (file stem) or a class of the package names something defined there (a
  history that names old code on purpose writes "(since removed)" after it);
* every `from ldirectord_py... import NAME` in scripts/ imports.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ldirectord_py"
DOCS = [
    *sorted((REPO / "docs").rglob("*.md")),
    *sorted((REPO / "compat").glob("*.md")),
    *sorted((REPO / "man" / "src").glob("*.txt")),
    REPO / "README.md",
    REPO / "bench" / "README.md",
]
SCRIPTS = sorted(p for p in (REPO / "scripts").rglob("*") if p.is_file())

PATH_REF = re.compile(r"(ldirectord_py(?:/[A-Za-z0-9_]+)+\.py)`?(?: \(`([A-Za-z_][A-Za-z0-9_]*)`)?")
DOTTED_REF = re.compile(
    r"`([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`(?! \(since removed\))"
)
FILE_SUFFIXES = frozenset(
    {"py", "service", "init", "cf", "md", "txt", "proto", "json", "yml", "yaml", "toml", "sh"}
)
"""`ldirectord.service`, `model.py`: file names, not members."""


def _sources() -> dict[Path, str]:
    return {p: p.read_text() for p in PACKAGE.rglob("*.py") if "_gen" not in p.parts}


SOURCES = _sources()


def _defines(source: str, name: str) -> bool:
    """Whether `name` is defined anywhere in `source`: a function, a class, an
    assignment, an annotated attribute, an enum member or a `self.` attribute."""
    pattern = (
        rf"(?m)^\s*(?:async\s+)?def {name}\b|^\s*class {name}\b|^\s*{name}\s*[:=]"
        rf"|\bself\.{name}\s*[:=]"
    )
    return re.search(pattern, source) is not None


def _modules(stem: str) -> list[str]:
    return [src for path, src in SOURCES.items() if path.stem == stem]


def _classes(name: str) -> list[str]:
    return [src for src in SOURCES.values() if re.search(rf"(?m)^class {name}\b", src)]


def _doc_lines() -> Iterator[tuple[Path, int, str]]:
    for path in [*DOCS, *SCRIPTS]:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            yield path, number, line


def test_paths_and_the_names_after_them_exist() -> None:
    missing = []
    seen = 0
    for path, number, line in _doc_lines():
        for match in PATH_REF.finditer(line):
            seen += 1
            target = REPO / match.group(1)
            where = f"{path.relative_to(REPO)}:{number}"
            if not target.is_file():
                missing.append(f"{where}: {match.group(1)} does not exist")
            elif match.group(2) and not _defines(target.read_text(), match.group(2)):
                missing.append(f"{where}: {match.group(2)} is not in {match.group(1)}")
    assert seen > 0, "no reference found: the pattern no longer matches the docs"
    assert not missing, "\n".join(missing)


def test_module_and_class_members_named_in_docs_exist() -> None:
    missing = []
    checked = 0
    for path, number, line in _doc_lines():
        for match in DOTTED_REF.finditer(line):
            owner, member = match.groups()
            if member in FILE_SUFFIXES:
                continue
            candidates = _modules(owner) or _classes(owner)
            if not candidates:
                continue  # not ours: asyncio.timeout, ldirectord.cf, ...
            checked += 1
            if not any(_defines(src, member) for src in candidates):
                where = f"{path.relative_to(REPO)}:{number}"
                missing.append(f"{where}: `{owner}.{member}` is not defined in {owner}")
    assert checked > 0, "no reference found: the pattern no longer matches the docs"
    assert not missing, "\n".join(missing)


def test_scripts_import_what_exists() -> None:
    problems = []
    for script in SCRIPTS:
        try:
            tree = ast.parse(script.read_text())
        except (SyntaxError, UnicodeDecodeError):
            continue  # a shell script
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ldirectord_py"):
                module = importlib.import_module(str(node.module))
                problems += [
                    f"{script.relative_to(REPO)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if not hasattr(module, alias.name)
                    and importlib.util.find_spec(f"{node.module}.{alias.name}") is None
                ]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_stale_reference() -> None:
    """The rule above, applied to the line that was wrong."""
    stale = "`ldirectord_py/daemon/mainloop.py` (`WatchdogRule`)"
    match = PATH_REF.search(stale)
    assert match is not None
    assert not _defines((REPO / match.group(1)).read_text(), str(match.group(2)))
    assert _defines((PACKAGE / "daemon" / "stall.py").read_text(), "WatchdogRule")
