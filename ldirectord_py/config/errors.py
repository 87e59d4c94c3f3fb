"""Configuration errors and warnings, each naming the file and line it comes from.

The parser never prints: it raises ConfigError and returns warnings. The CLI and
the daemon decide where the text goes (stderr while starting, the log on reload),
using `perl_text()` so that scripts which grep the original's messages still match.
"""

from __future__ import annotations

from dataclasses import dataclass


def _printable(text: str) -> str:
    """Escape control bytes other than tab and newline, so garbage input cannot
    corrupt a terminal or a log line (the Perl original echoes them raw)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\t\n" or 0x20 <= code < 0x7F:
            out.append(ch)
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(f"\\x{code:02x}")
    return "".join(out)


def _perl_text(kind: str, pid: int, path: str, line: int | None, message: str) -> str:
    """Format like ldirectord's config_error/config_warn: the message is chomped once
    and ends with exactly one newline; the location part is left out for line <= 0."""
    msg = message[:-1] if message.endswith("\n") else message
    prefix = f"{kind} [{pid}]"
    if line is not None and line > 0:
        prefix += f" reading file {path} at line {line}"
    return f"{prefix}: {_printable(msg)}\n"


class ConfigError(Exception):
    """A configuration the Perl original would reject (exit 2)."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        self.warnings: tuple[ConfigWarning, ...] = ()
        """Warnings issued before the error (the original prints them first)."""
        self.logfile: str | None = None
        """The `logfile` read before the error, if any: where the original logs it."""
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line for humans: `file:line: message`."""
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {_printable(self.message.rstrip(chr(10)))}"

    def perl_text(self, pid: int) -> str:
        """The original's wording: `Error [PID] reading file CONFIG at line N: MSG`."""
        return _perl_text("Error", pid, self.path, self.line, self.message)


@dataclass(frozen=True)
class ConfigWarning:
    """A configuration the original accepts but complains about."""

    path: str
    line: int | None
    message: str
    code: str = ""
    """For `ldirectordctl validate`'s own warnings: a stable name (`gate-port`);
    empty for the warnings the original prints too."""

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: warning: {_printable(self.message)}"

    def perl_text(self, pid: int) -> str:
        return _perl_text("Warning", pid, self.path, self.line, self.message)
