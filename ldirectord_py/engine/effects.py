"""What the engine asks the actors to do besides converging ip_vs.

The engine never performs I/O: it returns these values, and the daemon hands each
to its one writer (the log, the shell runner, the monitor files, the mailer).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogLine:
    """A message for the log, in the original's wording where operators grep for it."""

    text: str


@dataclass(frozen=True)
class RunCommand:
    """A shell command, run through /bin/sh as the original runs fallbackcommand."""

    command: str
    virtual: str


@dataclass(frozen=True)
class MonitorLine:
    """One check result for a virtual's `monitorfile`; the writer prefixes
    `[<localtime>] [<pid>] ` as the original does."""

    path: str
    text: str


@dataclass(frozen=True)
class Alert:
    """An e-mail alert: the writer sends it if `status` is in `statuses`."""

    virtual: str
    subject: str
    to: str
    statuses: frozenset[str]
    smtp: str | None
    sender: str | None
    servicename: str | None
    comment: str | None


Effect = LogLine | RunCommand | MonitorLine | Alert
