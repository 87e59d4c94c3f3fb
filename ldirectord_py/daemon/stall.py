"""When the health checks count as stalled: one rule for the director's own report
(log, status, metrics) and for the systemd watchdog in the main loop."""

from __future__ import annotations

from dataclasses import dataclass

from ldirectord_py.config import Config


@dataclass(frozen=True)
class WatchdogRule:
    """When the health checks count as stalled, so that the systemd watchdog goes unfed.

    Stalled means: no check has completed for longer than

        max(3 x C, C + T, W)

    where C is the longest check interval in the configuration (global or any
    virtual's), T the longest time one check may take (negotiatetimeout, or
    checktimeout x checkcount for ping), and W the watchdog timeout systemd set
    (`WatchdogSec=`). Three intervals tolerate a slow round; C + T lets a
    configuration whose only backend hangs until its timeout (checkinterval=1,
    negotiatetimeout=30) count as alive, because its checks do complete, as
    failures; W keeps a short `WatchdogSec=` from restarting a daemon whose
    interval is longer. Until the first check completes the time is counted from
    the daemon's start (or the reload that last changed the rule's inputs). A
    configuration without virtual services never stalls. The checking director
    applies the same rule (without W) to log and report the stall.
    """

    interval: float
    timeout: float
    watchdog: float

    @classmethod
    def for_config(cls, config: Config, watchdog: float) -> WatchdogRule:
        interval, timeout = _bounds(config)
        return cls(interval, timeout, watchdog)

    @property
    def limit(self) -> float:
        return max(3 * self.interval, self.interval + self.timeout, self.watchdog)

    def stalled(self, last_result_at: float | None, since: float, now: float) -> bool:
        """True if nothing completed within `limit` seconds of `now`."""
        latest = since if last_result_at is None else max(last_result_at, since)
        return now - latest > self.limit


def _bounds(config: Config) -> tuple[float, float]:
    """The longest check interval and the longest time one check may take."""
    interval = float(config.settings.checkinterval)
    timeout = 0.0
    for virtual in config.virtuals:
        interval = max(interval, float(virtual.checkinterval))
        per_check = max(virtual.negotiatetimeout, virtual.checktimeout * virtual.checkcount)
        timeout = max(timeout, float(per_check))
    return interval, timeout


@dataclass(frozen=True)
class StallChange:
    """The checker stalled (`stalled`) or recovered; `quiet` is how long no check
    has completed, `limit` the rule's limit."""

    stalled: bool
    quiet: float
    limit: float

    @property
    def text(self) -> str:
        if self.stalled:
            return (
                f"Health checks stalled: no check has completed for {self.quiet:.0f} "
                f"seconds (limit {self.limit:g})"
            )
        return "Health checks are completing again"


class StallWatch:
    """The director's own report of a stalled checker (log, status, metrics): the
    time of the last check result, and the rule applied at each tick."""

    def __init__(self, since: float) -> None:
        self.last_result_at: float | None = None
        self.since = since
        """When counting started: start, or the last reload."""
        self.stalled = False
        self.limit: float | None = None
        self._rule: tuple[Config, WatchdogRule] | None = None
        """The rule of the configuration checked last: it is applied every second,
        and looking through 10,000 virtuals each time held the loop ~10 ms."""

    def result(self, now: float) -> None:
        """A check completed (or was decided without running: maintenance)."""
        self.last_result_at = now

    def restart(self, now: float) -> None:
        self.since = now

    def prepare(self, config: Config) -> None:
        """Work out `config`'s rule now (a reload does it in its thread), so that
        the first check after the switch does not look through every virtual on
        the loop."""
        self._rule = (config, WatchdogRule.for_config(config, 0.0))

    def check(self, config: Config | None, has_checks: bool, now: float) -> StallChange | None:
        """Apply the rule at `now`; the change to report, if the state changed."""
        if config is None or not has_checks:
            self.stalled = False
            return None
        cached = self._rule
        if cached is not None and cached[0] is config:
            rule = cached[1]
        else:
            rule = WatchdogRule.for_config(config, 0.0)
            self._rule = (config, rule)
        stalled = rule.stalled(self.last_result_at, self.since, now)
        change = None
        if stalled != self.stalled:
            last = self.last_result_at if self.last_result_at is not None else self.since
            change = StallChange(stalled, now - last, rule.limit)
        self.stalled, self.limit = stalled, rule.limit
        return change
