"""The ip_vs schedulers: what `ldirectordctl validate` accepts for `scheduler=`.

The Perl original (and so the drop-in's parser) accepts any lowercase word, and
only the kernel says no, at run time, for that one service. A typo such as
`wrrr` is therefore caught here, before a config is pushed anywhere: the
set is every scheduler module of the Linux kernel (net/netfilter/ipvs/ip_vs_*.c).
"""

from __future__ import annotations

from ldirectord_py.config.errors import ConfigError
from ldirectord_py.config.model import Config

IPVS_SCHEDULERS = frozenset(
    {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}
)


def unknown_schedulers(config: Config) -> list[ConfigError]:
    """One error per virtual whose scheduler no ip_vs module provides, naming the
    file and the line where the scheduler was written (or the virtual's line)."""
    errors = []
    for virtual in config.virtuals:
        if virtual.scheduler in IPVS_SCHEDULERS:
            continue
        line = virtual.sources.get("scheduler", virtual.line)
        known = " ".join(sorted(IPVS_SCHEDULERS))
        errors.append(
            ConfigError(
                config.path,
                line,
                f"scheduler {virtual.scheduler} of virtual={virtual.hostport} is not an ip_vs "
                f"scheduler (the kernel knows: {known})",
            )
        )
    return errors
