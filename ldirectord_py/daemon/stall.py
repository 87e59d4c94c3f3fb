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


_last_bounds: tuple[Config, float, float] | None = None
"""The bounds of the configuration asked for last: the rule is applied every
second, and looking through 10,000 virtuals each time held the loop ~10 ms."""


def _bounds(config: Config) -> tuple[float, float]:
    """The longest check interval and the longest time one check may take."""
    global _last_bounds
    cached = _last_bounds
    if cached is not None and cached[0] is config:
        return cached[1], cached[2]
    interval = float(config.settings.checkinterval)
    timeout = 0.0
    for virtual in config.virtuals:
        interval = max(interval, float(virtual.checkinterval))
        per_check = max(virtual.negotiatetimeout, virtual.checktimeout * virtual.checkcount)
        timeout = max(timeout, float(per_check))
    _last_bounds = (config, interval, timeout)
    return interval, timeout
