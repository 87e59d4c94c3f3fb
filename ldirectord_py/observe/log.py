"""The daemon's log, written where the `logfile` directive says, as the original writes it.

Operators grep these lines and logrotate rotates the file without a postrotate
hook, so the format and the open-per-line behaviour are part of the contract:

* a `logfile` starting with `/` is a file; every line is
  `[Fri Nov 27 01:24:29 2026|CFGNAME|PID] message`, and the file is opened and
  closed for every line (a rotated file is simply recreated);
* anything else names a syslog facility (ident `ldirectord`, option pid);
* `-d` sends every message to stderr, `supervised=yes` to stdout as
  `[<localtime>] message`.

Every line has a syslog priority (issue 15): err for failures, warning for what
degrades service without a state change, notice for transitions, info for the
rest, debug for `-d` detail. The original logs everything at info; the text stays
the original's, only the priority is new. Syslog gets it as the message's
priority; a stream that is systemd's journal (`JOURNAL_STREAM` names its device
and inode) gets it as a `<N>` prefix, which journald strips and keeps as the
priority; a log file and a terminal get the plain line.

If a line cannot be written to the file, the message goes to stderr instead.
"""

from __future__ import annotations

import os
import sys
import syslog
import time
from enum import IntEnum
from typing import TextIO


class Priority(IntEnum):
    """Syslog priorities (RFC 5424 severities) the daemon uses."""

    ERR = syslog.LOG_ERR
    WARNING = syslog.LOG_WARNING
    NOTICE = syslog.LOG_NOTICE
    INFO = syslog.LOG_INFO
    DEBUG = syslog.LOG_DEBUG


# Facility names as syslog.conf spells them; the original passes the name to
# Sys::Syslog, which accepts these (with or without a LOG_ prefix).
_FACILITIES: dict[str, int] = {
    "auth": syslog.LOG_AUTH,
    "authpriv": syslog.LOG_AUTHPRIV,
    "cron": syslog.LOG_CRON,
    "daemon": syslog.LOG_DAEMON,
    "ftp": getattr(syslog, "LOG_FTP", 11 << 3),
    "kern": syslog.LOG_KERN,
    "lpr": syslog.LOG_LPR,
    "mail": syslog.LOG_MAIL,
    "news": syslog.LOG_NEWS,
    "syslog": syslog.LOG_SYSLOG,
    "user": syslog.LOG_USER,
    "uucp": syslog.LOG_UUCP,
    **{f"local{i}": getattr(syslog, f"LOG_LOCAL{i}") for i in range(8)},
}


def localtime_text(now: float | None = None) -> str:
    """Perl's scalar localtime(): `Fri Nov  7 01:24:29 2026` (day padded with a space)."""
    return time.asctime(time.localtime(now))


def syslog_facility(name: str) -> int:
    """The facility code for a `logfile` value; unknown names fall back to `user`,
    which is what syslog(3) uses when no facility is given."""
    key = name.strip().lower()
    key = key.removeprefix("log_")
    return _FACILITIES.get(key, syslog.LOG_USER)


class Sink:
    """Where one log line goes."""

    def write(self, message: str) -> None:
        raise NotImplementedError

    def emit(self, message: str, priority: Priority) -> None:
        """One line at `priority`; sinks that cannot carry a priority just write it."""
        self.write(message)

    def close(self) -> None:
        """Release anything held open between lines (only syslog holds anything)."""

    def is_journal(self) -> bool:
        """Whether lines go to systemd's journal (which rate-limits a chatty unit)."""
        return False


class FileSink(Sink):
    """A log file, reopened for every line so logrotate needs no signal."""

    def __init__(self, path: str, cfgname: str) -> None:
        self.path = path
        self.cfgname = cfgname

    def write(self, message: str) -> None:
        line = f"[{localtime_text()}|{self.cfgname}|{os.getpid()}] {message}\n"
        try:
            with open(self.path, "a", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(line)
        except OSError:
            _write_stream(sys.stderr, message + "\n")


class SyslogSink(Sink):
    """Syslog with ident `ldirectord`, the pid option and priority info."""

    def __init__(self, facility: str) -> None:
        self.facility = syslog_facility(facility)
        self._opened = False

    def write(self, message: str) -> None:
        self.emit(message, Priority.INFO)

    def emit(self, message: str, priority: Priority) -> None:
        if not self._opened:
            syslog.openlog("ldirectord", syslog.LOG_PID, self.facility)
            self._opened = True
        syslog.syslog(int(priority), message)

    def close(self) -> None:
        """Drop the connection before daemonizing closes descriptors behind its back
        (the C library would otherwise reuse or close a recycled fd number)."""
        if self._opened:
            syslog.closelog()
            self._opened = False


def is_journal(stream: TextIO, journal_stream: str | None = None) -> bool:
    """Whether `stream` is systemd's journal: `JOURNAL_STREAM` (`DEVICE:INODE`,
    set by systemd for a unit's stdout/stderr) names the stream's file."""
    value = os.environ.get("JOURNAL_STREAM") if journal_stream is None else journal_stream
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":"))
        info = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


class StreamSink(Sink):
    """A line per message on a stream; `<N>` priority prefixes when it is the journal."""

    def __init__(self, journal: bool | None = None) -> None:
        self._journal = journal

    def stream(self) -> TextIO:
        raise NotImplementedError

    def line(self, message: str) -> str:
        return message

    def is_journal(self) -> bool:
        """Decided on first use (the stream may be replaced before the first line)."""
        if self._journal is None:
            self._journal = is_journal(self.stream())
        return self._journal

    def write(self, message: str) -> None:
        self.emit(message, Priority.INFO)

    def emit(self, message: str, priority: Priority) -> None:
        prefix = f"<{int(priority)}>" if self.is_journal() else ""
        _write_stream(self.stream(), f"{prefix}{self.line(message)}\n")


class StderrSink(StreamSink):
    """`-d`: every message on stderr, as it happens."""

    def stream(self) -> TextIO:
        return sys.stderr


class SupervisedSink(StreamSink):
    """`supervised=yes`: `[<localtime>] message` on stdout, for a supervisor to collect."""

    def stream(self) -> TextIO:
        return sys.stdout

    def line(self, message: str) -> str:
        return f"[{localtime_text()}] {message}"


def _write_stream(stream: TextIO, text: str) -> None:
    """Write and flush, ignoring a closed or broken stream: losing a log line must
    never take the daemon down."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


class Log:
    """The ld_log of the original: one message per call, one trailing newline removed.

    `debug` mirrors `-d`; `debug_detail()` messages (commands run, exit status 0)
    only appear then, as the original's debug level 3 does.
    """

    def __init__(self, sink: Sink, *, debug: bool = False) -> None:
        self.sink = sink
        self.debug = debug

    @classmethod
    def build(cls, *, logfile: str, supervised: bool, cfgname: str, debug: bool) -> Log:
        """Choose the destination the way the original's ld_log does, in its order."""
        sink: Sink
        if debug:
            sink = StderrSink()
        elif supervised:
            sink = SupervisedSink()
        elif logfile.startswith("/"):
            sink = FileSink(logfile, cfgname)
        else:
            sink = SyslogSink(logfile)
        return cls(sink, debug=debug)

    def write(self, message: str, priority: Priority = Priority.INFO) -> None:
        self.sink.emit(message.removesuffix("\n"), priority)

    def info(self, message: str) -> None:
        self.write(message, Priority.INFO)

    def notice(self, message: str) -> None:
        """A transition: something an operator watches changed state."""
        self.write(message, Priority.NOTICE)

    def warning(self, message: str) -> None:
        """Service is degraded or at risk, nothing failed outright."""
        self.write(message, Priority.WARNING)

    def err(self, message: str) -> None:
        """Something failed: a write, a command, a configuration the kernel refuses."""
        self.write(message, Priority.ERR)

    def close(self) -> None:
        self.sink.close()

    @property
    def per_check(self) -> bool:
        """`-d` on a terminal or file: the original's line before every check. Not
        into the journal (`-d` under the systemd unit): thousands of lines a
        second would trip journald's rate limit and lose the lines that matter."""
        return self.debug and not self.sink.is_journal()

    def debug_detail(self, message: str) -> None:
        if self.debug:
            self.write(message, Priority.DEBUG)
