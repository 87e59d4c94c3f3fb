"""Log priorities (issue 15): syslog gets each line's priority, a stream that is
the journal gets `<N>` prefixes, a file and a terminal the original's plain line."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from ldirectord_py.observe import log as logmod
from ldirectord_py.observe.log import (
    FileSink,
    Log,
    Priority,
    StderrSink,
    SupervisedSink,
    SyslogSink,
    is_journal,
)


def test_priorities_are_the_syslog_ones() -> None:
    assert [int(p) for p in Priority] == [3, 4, 5, 6, 7]


def test_syslog_gets_each_lines_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(logmod.syslog, "openlog", lambda *a: None)
    monkeypatch.setattr(logmod.syslog, "syslog", lambda prio, msg: sent.append((prio, msg)))
    log = Log(SyslogSink("local0"))
    log.err("e")
    log.warning("w")
    log.notice("n")
    log.info("i")
    log.debug_detail("not shown without -d")
    assert sent == [(3, "e"), (4, "w"), (5, "n"), (6, "i")]


def journal_of(path: Path) -> str:
    info = os.stat(path)
    return f"{info.st_dev}:{info.st_ino}"


def test_a_stream_that_is_the_journal_gets_priority_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "journal"
    with open(out, "w") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setenv("JOURNAL_STREAM", journal_of(out))
        log = Log(StderrSink(), debug=True)
        log.notice("Deleted real server: 127.0.0.11:80 (127.0.0.100:80)")
        log.err("system(x) failed: exit status 1")
        log.debug_detail("Running system(x)")
    assert out.read_text() == (
        "<5>Deleted real server: 127.0.0.11:80 (127.0.0.100:80)\n"
        "<3>system(x) failed: exit status 1\n"
        "<7>Running system(x)\n"
    )


def test_a_stream_that_is_not_the_journal_gets_the_plain_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.write_text("")
    out = tmp_path / "out"
    with open(out, "w") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setenv("JOURNAL_STREAM", journal_of(other))  # another file: not us
        Log(SupervisedSink()).notice("Added real server: a (b) (Weight set to 1)")
    assert out.read_text().endswith("] Added real server: a (b) (Weight set to 1)\n")
    assert not out.read_text().startswith("<")
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not is_journal(io.StringIO())


def test_the_log_file_keeps_the_originals_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ldirectord.log"
    Log(FileSink(str(path), "t.cf")).err("Error: virtual service not programmed: x")
    text = path.read_text()
    assert text.startswith("[") and f"|t.cf|{os.getpid()}] Error: virtual" in text
    assert "<3>" not in text


def test_library_messages_keep_their_level_as_priority() -> None:
    import logging

    from ldirectord_py.daemon.library_logging import _ToDaemonLog

    seen: list[tuple[str, Priority]] = []

    class Sink_(logmod.Sink):
        def write(self, message: str) -> None:
            raise AssertionError("emit is used")

        def emit(self, message: str, priority: Priority) -> None:
            seen.append((message, priority))

    handler = _ToDaemonLog(Log(Sink_()))
    logger = logging.getLogger("h12e.library")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("slow")
        logger.error("broken")
        logger.info("not passed on")
    finally:
        logger.removeHandler(handler)
    assert seen == [
        ("h12e.library: slow", Priority.WARNING),
        ("h12e.library: broken", Priority.ERR),
    ]
