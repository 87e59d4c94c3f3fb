"""The ip_vs table actuator: the engine's desired table, drains applied, handed to
the ip_vs writer, and the anycast coordinator told what the writer now holds.

Submitted at most once per batch of check results, and only when the engine's
decisions changed the table (`DesiredTableChanged`, or another engine after a
reload): the writer converges the kernel on its own schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from ldirectord_py.daemon.drains import Drains, apply_drains
from ldirectord_py.engine import Engine
from ldirectord_py.ipvs.model import ServiceKey, VirtualService
from ldirectord_py.ipvs.writer import DataplaneView


class TableWriter(Protocol):
    """What the ip_vs writer offers this actuator (IPVSWriter)."""

    def submit(
        self, desired: Iterable[VirtualService], also_owned: Iterable[ServiceKey] = ()
    ) -> None: ...


class RouteFollower(Protocol):
    """What the anycast coordinator offers this actuator (AnycastCoordinator)."""

    def update(self, engine: Engine, dataplane: DataplaneView, *, force: bool = False) -> None: ...


class TableSubmission:
    def __init__(
        self,
        writer: TableWriter,
        view: Callable[[], DataplaneView],
        anycast: RouteFollower,
        drains: Drains,
    ) -> None:
        """`view`: what the writer last found in the kernel."""
        self.writer = writer
        self.view = view
        self.anycast = anycast
        self.drains = drains
        self._submitted: tuple[Engine, int] | None = None

    def pending(self, engine: Engine) -> bool:
        """Whether the writer holds an older table than `engine` wants."""
        return self._submitted != (engine, engine.version)

    def held(self, engine: Engine) -> None:
        """The writer already holds what `engine` wants (a reload that changed nothing)."""
        self._submitted = (engine, engine.version)
        self.anycast.update(engine, self.view())

    def submit(self, engine: Engine, also_owned: Iterable[ServiceKey] = ()) -> None:
        self._submitted = (engine, engine.version)
        self.writer.submit(apply_drains(engine.desired(), self.drains.keys_for(engine)), also_owned)
        self.anycast.update(engine, self.view())
