"""Messages of libraries (grpc, pyroute2, the check modules' stdlib `logging`) go to
the daemon's log: after daemonizing, stderr is /dev/null, and a traceback sent to
unconfigured stdlib logging would be lost."""

from __future__ import annotations

import logging

from ldirectord_py.observe.log import Log, Priority

LIBRARY_LEVEL = logging.WARNING


class _ToDaemonLog(logging.Handler):
    def __init__(self, log: Log) -> None:
        super().__init__(LIBRARY_LEVEL)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            priority = Priority.ERR if record.levelno >= logging.ERROR else Priority.WARNING
            for line in text.split("\n"):
                self.log.write(line, priority)
        except Exception:
            self.handleError(record)


def route_library_logging(log: Log) -> None:
    """Send WARNING and above from every stdlib logger to `log` (once per process)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToDaemonLog):
            root.removeHandler(handler)
    root.addHandler(_ToDaemonLog(log))
    if root.level > LIBRARY_LEVEL or root.level == logging.NOTSET:
        root.setLevel(LIBRARY_LEVEL)
    logging.raiseExceptions = False
