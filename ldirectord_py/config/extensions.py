"""Extension directives the Perl original reads as comments: rollback stays possible.

The Perl ldirectord refuses every directive it does not know ("Unknown command
metricsaddress", exit 2), so a file with this project's additions (anycast*,
gobgp*, metricsaddress) cannot go back to it. Written behind the marker
`#ldirectord-py:`, such a line is a comment to the original and a directive to
us, with the same meaning and the same file:line in every message:

    #ldirectord-py: anycastprefix=198.51.100.0/24
    #ldirectord-py: metricsaddress=127.0.0.1:9588
    virtual=198.51.100.10:80
        real=10.0.0.1:80 gate
        #ldirectord-py: anycastmed=10

Indent it as the directive it stands for (in a virtual block: four spaces or a
tab before the `#`). Only extension directives may follow the marker: a
directive both programs know would then mean one thing to us and nothing to
the original, so it is refused with the line that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MARKER = "#ldirectord-py:"

EXTENSION_DIRECTIVES = frozenset(
    {
        "anycastcommunity",
        "anycastdown",
        "anycastholddown",
        "anycastinterface",
        "anycastmaxwithdraw",
        "anycastmed",
        "anycastmethod",
        "anycastnexthop",
        "anycastprefix",
        "anycaststop",
        "anycaststopwait",
        "anycastwhen",
        "gobgpapi",
        "gobgpversion",
        "metricsaddress",
    }
)
"""The directives of this project that the Perl original does not know."""

_MARKED = re.compile(r"^([ \t]*)" + re.escape(MARKER) + r"[ \t]?(.*)$", re.ASCII | re.DOTALL)
_NAME = re.compile(r"[A-Za-z0-9_]*", re.ASCII)


def unmask(text: str, error: Callable[[int, str], None]) -> str:
    """`text` with each marked line turned into the directive behind its marker
    (indentation kept, so line numbers and blocks stay as written). A marker before
    another directive goes to `error(line, message)` (the parse context's: it
    raises, or, reading on, keeps it and the line stays a comment)."""
    if MARKER not in text:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        marked = _MARKED.match(line)
        if marked is None:
            continue
        indent, directive = marked.groups()
        name = _NAME.match(directive)
        word = name.group(0) if name else ""
        if word not in EXTENSION_DIRECTIVES:
            shown = word or directive.strip() or "nothing"
            error(
                index + 1,
                f"{MARKER} is for the directives the Perl original does not know "
                f"(anycast*, gobgpapi, gobgpversion, metricsaddress), not {shown!r}: "
                "write a directive both know without the marker\n",
            )
            continue
        lines[index] = indent + directive
    return "\n".join(lines)
