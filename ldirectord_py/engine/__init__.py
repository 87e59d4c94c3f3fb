"""The pure engine: configuration and check results in, desired state and typed events out."""

from ldirectord_py.engine.engine import CheckTarget, Engine, RealStatus, VirtualStatus
from ldirectord_py.engine.events import (
    Alert,
    CommandRequested,
    DesiredTableChanged,
    Event,
    FailureCountReset,
    FallbackChanged,
    MonitorRecord,
    RealChanged,
    RealState,
    ServiceRefusedByConfig,
    SoftFailure,
)

__all__ = [
    "Alert",
    "CheckTarget",
    "CommandRequested",
    "DesiredTableChanged",
    "Engine",
    "Event",
    "FailureCountReset",
    "FallbackChanged",
    "MonitorRecord",
    "RealChanged",
    "RealState",
    "RealStatus",
    "ServiceRefusedByConfig",
    "SoftFailure",
    "VirtualStatus",
]
