"""The original's line structure: column-0 globals and indented virtual blocks.

Legacy files depend on these exact rules (spec 2.1, quirk 7), so they are kept:
only `\\n` ends a line; inside a block a `#` line is skipped, everything from the
first `#` on is cut (quoted values included), tabs count as four spaces, and a line
with fewer than four leading spaces (a blank line too) ends the block and is then
read as a global line. A `virtual=` line with nothing after it is read twice, which
is how the original ends up reporting it as a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

VIRTUAL_LINE = re.compile(r"virtual(6)?\s*=\s*(.*)", re.ASCII)
_BLOCK_COMMENT = re.compile(r"\s*#", re.ASCII)
_BLOCK_BODY = re.compile(r" {4,}(.+)", re.ASCII)


@dataclass(frozen=True)
class GlobalLine:
    """A line outside any block, with its newline (messages quote it raw)."""

    line: int
    text: str


@dataclass(frozen=True)
class BlockLine:
    """One directive inside a virtual block: `command` is the text after the
    indentation with comments cut; `raw` is the line as written."""

    line: int
    command: str
    raw: str


@dataclass(frozen=True)
class VirtualBlock:
    line: int
    ipv6: bool
    value: str
    body: tuple[BlockLine, ...]
    end_line: int
    """The line the block ended on: where the original reports a duplicate."""


def split_lines(text: str) -> list[str]:
    """Lines as Perl's `<FH>` returns them: split after each `\\n`, kept."""
    lines = text.split("\n")
    out = [ln + "\n" for ln in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def lex(lines: list[str]) -> Iterator[GlobalLine | VirtualBlock]:
    """Yield global lines and whole virtual blocks in file order."""
    index = 0
    pending: tuple[str, int] | None = None
    replayed = False
    while True:
        if pending is not None:
            text, lineno = pending
            pending = None
        elif index < len(lines):
            text = lines[index]
            index += 1
            lineno = index
        else:
            return
        header = VIRTUAL_LINE.match(text)
        if header is None:
            yield GlobalLine(lineno, text)
            continue
        body: list[BlockLine] = []
        last: str | None = text
        end = lineno
        while index < len(lines):
            raw = lines[index]
            index += 1
            end = index
            last = raw
            if _BLOCK_COMMENT.match(raw):
                continue
            stripped = re.sub(r"#.*", "", raw, count=1).replace("\t", "    ")
            command = _BLOCK_BODY.match(stripped)
            if command is None:
                break
            body.append(BlockLine(end, command.group(1), raw))
            last = None
        yield VirtualBlock(lineno, header.group(1) is not None, header.group(2), tuple(body), end)
        if last is not None and not (last is text and index >= len(lines) and replayed):
            # The line that ended the block is read again at the top level; at end of
            # file that is the last line read (the `virtual=` line itself if the block
            # was empty, which then parses twice -- once more only, never in a loop).
            replayed = last is text
            pending = (last, end)
