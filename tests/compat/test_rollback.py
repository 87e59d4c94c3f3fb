"""Rollback stays possible (issue 15 item 7): extension directives behind the
`#ldirectord-py:` marker are comments to the Perl original and directives to us.

The file is docs/migration.md's example (between its rollback-example markers),
so the documentation is what is tested. The Perl original is run, not imitated:
Debian's package `ldirectord` (make deps installs it; under our Debian package
it is diverted to /usr/sbin/ldirectord.distrib-perl).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ldirectord_py.config import ConfigError, directives, parse_text
from ldirectord_py.config.extensions import EXTENSION_DIRECTIVES, MARKER

REPO = Path(__file__).resolve().parents[2]
MIGRATION = REPO / "docs" / "migration.md"
PERL_CANDIDATES = ("/usr/sbin/ldirectord.distrib-perl", "/usr/sbin/ldirectord")


def _example() -> str:
    text = MIGRATION.read_text()
    block = re.search(
        r"<!-- rollback-example.*?-->\n```\n(.*?)```\n<!-- /rollback-example -->", text, re.S
    )
    assert block, "docs/migration.md lost its rollback example"
    return block.group(1)


def _perl() -> str:
    for path in PERL_CANDIDATES:
        if os.access(path, os.X_OK):
            with open(path, "rb") as fh:
                if b"perl" in fh.readline():
                    return path
    pytest.fail("the Perl ldirectord is missing: install the Debian package ldirectord (make deps)")


def _run_perl(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    """`ldirectord CFG status` of the Perl original on `text` (log in tmp_path)."""
    log = tmp_path / "perl.log"
    body = re.sub(r"(?m)^logfile=.*$", f'logfile="{log}"', text)
    cfg = tmp_path / name
    cfg.write_text(body)
    return subprocess.run(
        ["perl", _perl(), str(cfg), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )


def test_the_perl_original_accepts_the_marked_file(tmp_path: Path) -> None:
    example = _example()
    assert MARKER in example
    done = _run_perl(tmp_path, "h15o-rollback-marked.cf", example)
    # status of a configuration that parses, with nothing running: exit 3
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stdout == f"ldirectord is stopped for {tmp_path / 'h15o-rollback-marked.cf'}\n"
    assert "Error" not in done.stderr and "Unknown command" not in done.stderr


def test_the_perl_original_refuses_the_same_file_unmarked(tmp_path: Path) -> None:
    plain = _example().replace(MARKER + " ", "")
    done = _run_perl(tmp_path, "h15o-rollback-plain.cf", plain)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert re.search(r"line 3: Unknown command metricsaddress=127\.0\.0\.1:9588", done.stderr)


def test_ours_reads_the_marked_and_the_unmarked_file_alike() -> None:
    example = _example()
    marked = parse_text(example, "t.cf", check_files=False)
    plain = parse_text(example.replace(MARKER + " ", ""), "t.cf", check_files=False)
    assert marked.settings == plain.settings and marked.virtuals == plain.virtuals
    assert marked.settings.metricsaddress == "127.0.0.1:9588"
    assert [str(p) for p in marked.settings.anycast.prefixes] == ["198.51.100.0/24"]
    (virtual,) = marked.virtuals
    assert virtual.anycast is not None
    assert virtual.anycast.med == 10 and virtual.anycast.communities == ("65000:100",)
    assert marked.settings.sources["metricsaddress"] == 3, "file:line as written"


def test_a_directive_both_know_is_refused_behind_the_marker() -> None:
    text = f"checkinterval=5\n{MARKER} checktimeout=3\n"
    with pytest.raises(ConfigError) as err:
        parse_text(text, "t.cf", check_files=False)
    assert err.value.line == 2
    assert "not 'checktimeout'" in err.value.message


def test_the_extension_set_is_what_the_perl_original_does_not_know() -> None:
    source = Path(_perl()).read_text(errors="replace")
    ours = {d.name for d in (*directives.GLOBAL_DIRECTIVES, *directives.VIRTUAL_DIRECTIVES)}
    unknown = {n for n in ours if not re.search(rf"\b{re.escape(n)}\b", source)}
    assert unknown == EXTENSION_DIRECTIVES
