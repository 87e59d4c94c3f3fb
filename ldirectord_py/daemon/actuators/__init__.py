"""The actuators: one per kind of effect, each acting on the engine's events.

`Actuators.apply` matches each event on its class and hands it to the one
actuator for it; the checking director only wires them:

- log (actuators/log.py): every worded event, in the original's words, at its
  syslog priority, with the reason after a transition;
- metrics (observe/metrics.py `Metrics.observe`): transitions and fallbacks counted;
- monitor files (actuators/monitor.py): MonitorRecord lines appended per batch;
- mail (daemon/mailer.py): Alert sent when the daemon's status is one it wants;
- fallbackcommands (actuators/commands.py): CommandRequested run in order;
- the ip_vs table (actuators/table.py): submitted to the ip_vs writer once per
  batch when DesiredTableChanged (or the engine) says so, and the anycast
  coordinator told.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ldirectord_py.daemon.actuators.commands import CommandQueue
from ldirectord_py.daemon.actuators.log import log_event
from ldirectord_py.daemon.actuators.monitor import MonitorFiles
from ldirectord_py.daemon.actuators.table import TableSubmission
from ldirectord_py.daemon.mailer import Mailer
from ldirectord_py.engine.events import (
    Alert,
    CommandRequested,
    DesiredTableChanged,
    Event,
    FallbackChanged,
    MonitorRecord,
    RealChanged,
)
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.metrics import Metrics


class Actuators:
    """Routes each event to its actuator (no decision is taken here)."""

    def __init__(
        self,
        log: Log,
        monitor: MonitorFiles,
        commands: CommandQueue,
        mailer: Mailer,
        table: TableSubmission,
        status_word: Callable[[], str],
    ) -> None:
        self.log = log
        self.monitor = monitor
        self.commands = commands
        self.mailer = mailer
        self.table = table
        self.metrics: Metrics | None = None
        self.status_word = status_word
        """The daemon's status for `emailalertstatus` ("starting", "running", ...)."""

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            match event:
                case MonitorRecord():
                    self.monitor.add(event)
                case RealChanged() | FallbackChanged():
                    log_event(self.log, event)
                    if self.metrics is not None:
                        self.metrics.observe(event)
                case CommandRequested():
                    self.commands.put(event)
                case Alert():
                    self.mailer.send(event, self.status_word())
                case DesiredTableChanged():
                    pass  # the table actuator compares versions when the batch ends
                case _:
                    log_event(self.log, event)


__all__ = ["Actuators", "CommandQueue", "MonitorFiles", "TableSubmission", "log_event"]
