"""`receive` is a Perl regular expression, matched by the `regex` package (a
backtracking engine like Perl's, a superset of Python's `re`) once a few
spellings are translated, within a hard time bound and off the event loop.

Matching follows Perl's byte-string semantics: the text is the raw bytes of the
reply (decoded as Latin-1, one character per byte), the pattern is the UTF-8 bytes
of the configured string read the same way, and `\\w`, `\\d`, `\\s`, `\\b` and
case-insensitive matching are ASCII-only, as Perl does for a byte string outside
`use utf8` and locales.

Translated: `\\z` (end) to `\\Z`; `\\Z` (end, or before a final newline) to
`(?=\\n?\\Z)`; `(?<name>...)` to `(?P<name>...)`; `\\k<name>`/`\\k{name}`/`\\g{name}`
to `(?P=name)`; `\\h`/`\\H` to `[ \\t]`/`[^ \\t]`; `\\Q...\\E` to an escaped literal;
POSIX classes such as `[:alpha:]` inside brackets. Not supported (a check with such
a pattern is down with reason "bad receive regex: ..."): code blocks `(?{...})`,
recursion `(?R)`/`(?1)`, `\\K`, conditionals on names, Unicode properties `\\p{..}`,
and the empty pattern's "last successful pattern" behaviour (an empty receive means
"match anything" here).

Why bounded: a backtracking engine can take time quadratic or worse in the text
(`status.*ok` against a megabyte of "status " takes over a minute with `re`),
and a backend chooses the text. A text of up to INLINE_TEXT_LIMIT characters is
first tried on the loop for at most INLINE_TIME (every healthy reply ends here);
anything longer, or slower, is matched in a thread with the GIL released and a
nice value MATCH_NICE above the loop's, for at most MATCH_TIME_LIMIT. A match that
needs longer fails the check
("receive match exceeded ..."): the one verdict that can differ from the
original's, whose optimiser answers some such texts at once (docs/checks/http.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import re
from dataclasses import dataclass

import regex as _engine  # type: ignore[import-untyped]

from ldirectord_py.checks.result import CheckFailed, FailureKind

INLINE_TEXT_LIMIT = 64 * 1024
INLINE_TIME = 0.002
MATCH_TIME_LIMIT = 0.25
MATCH_THREADS = 1
MATCH_NICE = 10

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


class BadPattern(ValueError):
    """A `receive` pattern that cannot be compiled (the message says why)."""


@dataclass(frozen=True, slots=True)
class Receive:
    """A compiled `receive` pattern. `literal` is set when the pattern is plain
    text (optionally anchored at the start: `anchored`), the usual case ("OK",
    "^200"): then a substring test decides, in linear time and with no engine."""

    source: str
    compiled: object  # a regex.Pattern (the package has no type information)
    literal: str | None = None
    anchored: bool = False


_META = frozenset(".^$*+?{}[]\\|()")


@functools.lru_cache(maxsize=4096)
def compile_receive(pattern: str) -> Receive:
    """Compile a Perl `receive` pattern; raises BadPattern if it cannot be."""
    raw = pattern.encode("utf-8").decode("latin-1")
    translated = _translate(raw)
    try:
        compiled = _engine.compile(translated, _engine.ASCII | _engine.VERSION0)
    except _engine.error as e:
        raise BadPattern(str(e)) from e
    except (ValueError, OverflowError, RecursionError) as e:
        raise BadPattern(f"{type(e).__name__}: {e}") from e
    anchored = translated.startswith("^")
    text = translated[1:] if anchored else translated
    if text and _META.isdisjoint(text):
        return Receive(pattern, compiled, text, anchored)
    return Receive(pattern, compiled)


def is_empty_receive(receive: str) -> bool:
    """The original's `!($recstr =~ /.+/)`: empty, or nothing but newlines."""
    return re.search(".+", receive) is None


_pool: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None


def _lower_priority() -> None:
    """A matching thread yields the CPU to the loop's (Linux nice values are per
    thread): a backend's text may cost CPU, never the other checks' turn."""
    with contextlib.suppress(OSError):
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, min(19, mine + MATCH_NICE))


def _match_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The matching threads of this process (made again after a fork)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        pool = concurrent.futures.ThreadPoolExecutor(
            MATCH_THREADS, "ldirectord-receive", initializer=_lower_priority
        )
        _pool = (os.getpid(), pool)
    return _pool[1]


def _search_off_loop(receive: Receive, text: str) -> bool:
    # concurrent=True: the engine releases the GIL while it matches (the loop
    # thread runs on); timeout: it raises TimeoutError past the bound
    found = receive.compiled.search(  # type: ignore[attr-defined]
        text, timeout=MATCH_TIME_LIMIT, concurrent=True
    )
    return found is not None


async def matches(receive: Receive, text: str) -> bool:
    """True if the pattern matches somewhere in `text` (a bytes-as-str); raises
    CheckFailed if it takes longer than MATCH_TIME_LIMIT to decide."""
    if receive.literal is not None:
        if receive.anchored:
            return text.startswith(receive.literal)
        return receive.literal in text
    if len(text) <= INLINE_TEXT_LIMIT:
        try:
            found = receive.compiled.search(text, timeout=INLINE_TIME)  # type: ignore[attr-defined]
        except TimeoutError:
            pass  # a slow one: off the loop
        else:
            return found is not None
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_match_pool(), _search_off_loop, receive, text)
    except TimeoutError as e:
        raise CheckFailed(f"receive match exceeded {MATCH_TIME_LIMIT:g}s", FailureKind.OTHER) from e


async def search(pattern: str, text: str) -> bool:
    """compile_receive and matches in one (BadPattern, CheckFailed as they do)."""
    return await matches(compile_receive(pattern), text)
