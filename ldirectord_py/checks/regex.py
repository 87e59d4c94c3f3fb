"""`receive` is a Perl regular expression; Python's `re` is close enough once a few
spellings are translated.

Matching follows Perl's byte-string semantics: the text is the raw bytes of the
reply (decoded as Latin-1, one character per byte), the pattern is the UTF-8 bytes
of the configured string read the same way, and `\\w`, `\\d`, `\\s`, `\\b` and
case-insensitive matching are ASCII-only (`re.ASCII`), as Perl does for a byte
string outside `use utf8` and locales.

Translated: `\\z` (end) to `\\Z`; `\\Z` (end, or before a final newline) to
`(?=\\n?\\Z)`; `(?<name>...)` to `(?P<name>...)`; `\\k<name>`/`\\k{name}`/`\\g{name}`
to `(?P=name)`; `\\h`/`\\H` to `[ \\t]`/`[^ \\t]`; `\\Q...\\E` to an escaped literal;
POSIX classes such as `[:alpha:]` inside brackets. Not supported (a check with such
a pattern is down with reason "bad receive regex: ..."): code blocks `(?{...})`,
recursion `(?R)`/`(?1)`, `\\K`, conditionals on names, Unicode properties `\\p{..}`,
and the empty pattern's "last successful pattern" behaviour (an empty receive means
"match anything" here).
"""

from __future__ import annotations

import functools
import re

_POSIX = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "word": "A-Za-z0-9_",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
    "ascii": r"\x00-\x7f",
}


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            if d == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if d == "E":  # a stray \E is a no-op in Perl
                i += 2
                continue
            if not in_class:
                if d == "z":
                    out.append(r"\Z")
                    i += 2
                    continue
                if d == "Z":
                    out.append(r"(?=\n?\Z)")
                    i += 2
                    continue
                if d in "kg" and i + 2 < n and pattern[i + 2] in "<{'":
                    close = {"<": ">", "{": "}", "'": "'"}[pattern[i + 2]]
                    end = pattern.find(close, i + 3)
                    if end > 0:
                        name = pattern[i + 3 : end]
                        out.append(f"(?P={name})" if not name.isdigit() else f"\\{name}")
                        i = end + 1
                        continue
            if d == "h":
                out.append(r"[ \t]" if not in_class else r" \t")
                i += 2
                continue
            if d == "H" and not in_class:
                out.append(r"[^ \t]")
                i += 2
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end > 0:
                    name = pattern[i + 2 : end]
                    negated = name.startswith("^")
                    body = _POSIX.get(name.lstrip("^"))
                    if body is not None and not negated:
                        out.append(body)
                        i = end + 2
                        continue
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a `]` (after an optional `^`) right after `[` is a literal
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append(r"\]")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        if c == "(" and pattern.startswith("(?'", i):
            end = pattern.find("'", i + 3)
            if end > 0:
                out.append(f"(?P<{pattern[i + 3 : end]}>")
                i = end + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def as_bytes_text(data: bytes) -> str:
    """Bytes as a str with one character per byte (Perl's byte-string view)."""
    return data.decode("latin-1")


@functools.lru_cache(maxsize=4096)
def compile_receive(pattern: str) -> re.Pattern[str]:
    """Compile a Perl `receive` pattern; raises re.error if Python cannot."""
    raw = pattern.encode("utf-8").decode("latin-1")
    return re.compile(_translate(raw), re.ASCII)


def is_empty_receive(receive: str) -> bool:
    """The original's `!($recstr =~ /.+/)`: empty, or nothing but newlines."""
    return re.search(".+", receive) is None


def search(pattern: str, text: str) -> bool:
    """True if the Perl pattern matches somewhere in `text` (a bytes-as-str)."""
    return compile_receive(pattern).search(text) is not None
