"""The seam between the daemon's lifecycle and the work it supervises.

The lifecycle (pid file, signals, reload, autoreload, execute= instances) lives
in `ldirectord_py.daemon.mainloop`; what a running instance actually does (health
checks, the engine, the ip_vs and route writers) plugs in here as a Director.
`checking_director` is the production one (ldirectord_py.daemon.checking); the
IdleDirector runs the lifecycle alone, for tests of every lifecycle contract.

The daemon guarantees the call order start → reload* → stop, one call at a
time, each with a complete, validated Config. Signals are acted on between
calls, so a call should return promptly and leave long-running work (the check
loop) to tasks it owns; `stop` ends them. A Director that raises is logged
and the daemon keeps running (a reload that raises keeps the old config as
current); it should therefore apply a config atomically or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ldirectord_py.config import Config
from ldirectord_py.observe.log import Log


@dataclass(frozen=True)
class WatchdogFacts:
    """What the systemd watchdog reads every tick: `last_result_at` as in status()
    (monotonic seconds of the last completed check, None: none yet) and the writers
    the supervisor reports stalled."""

    last_result_at: float | None
    stalled_writers: tuple[str, ...] = ()


class Director(Protocol):
    async def start(self, config: Config) -> None:
        """Take over: program the table for `config` and begin checking (the original's
        ld_start). Long-running work is started as tasks, not awaited here."""

    async def reload(self, config: Config) -> None:
        """Switch to a new config that has already been parsed completely."""

    async def stop(self) -> None:
        """Stop checking and clean up per `cleanstop` before the daemon exits."""

    def status(self) -> dict[str, Any]:
        """What the status socket serves: plain JSON-ready data. The optional key
        `last_result_at` (monotonic seconds of the last completed check) feeds the
        systemd watchdog; without it the daemon counts as making progress."""

    # Optional, looked up with getattr by the main loop:
    #   async wait_ready() -> None: return once the first round's table is
    #       programmed (systemd READY=1); without it, ready when start() returns.
    #   async command(name, args) -> dict: ldirectordctl drain|undrain|check-now.
    #   use_state_file(path) -> None: where to keep state across restarts (drains).
    #   watchdog_facts() -> WatchdogFacts: what the watchdog needs from status(),
    #       without building the whole document on the loop every tick.


class IdleDirector:
    """Checks nothing and programs nothing: the daemon's lifecycle without a data plane."""

    def __init__(self, log: Log | None = None) -> None:
        self.config: Config | None = None

    async def start(self, config: Config) -> None:
        self.config = config

    async def reload(self, config: Config) -> None:
        self.config = config

    async def stop(self) -> None:
        self.config = None

    def status(self) -> dict[str, Any]:
        return {"status": "running", "virtuals": []}


def checking_director(log: Log) -> Director:
    """The production director (imported on use: `status` and friends never need it)."""
    from ldirectord_py.daemon.checking import CheckingDirector

    return CheckingDirector(log)
