"""The pure engine: configuration and check results in, desired state and effects out."""

from ldirectord_py.engine.effects import Alert, Effect, LogLine, MonitorLine, RunCommand
from ldirectord_py.engine.engine import CheckTarget, Engine, RealStatus, VirtualStatus

__all__ = [
    "Alert",
    "CheckTarget",
    "Effect",
    "Engine",
    "LogLine",
    "MonitorLine",
    "RealStatus",
    "RunCommand",
    "VirtualStatus",
]
