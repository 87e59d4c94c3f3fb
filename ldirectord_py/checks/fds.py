"""Who may hold how many file descriptors: the checks' share is reserved.

The process has RLIMIT_NOFILE (soft) descriptors for everything. If clients of
the control socket or the metrics port could take them all, checks would fail
with "too many open files" and healthy reals would be deleted. So the limit is
split once, up front, and each side keeps to its share:

- `daemon`: the daemon's own (stdio, log files, pid file, netlink, gRPC
  channels, the resolver, listening sockets, external checks' pipes): 64, or
  5% of the limit if that is more;
- `clients`: the most descriptors control and metrics clients may hold at once,
  together (the daemon refuses or closes clients beyond it): 10% of the limit,
  at most CLIENTS_MAX, at least 8;
- `checks`: everything else, the scheduler's admission budget (a check starts
  only when the descriptors it can hold fit).

`plan_fds()` is the one place this is computed: the scheduler takes `checks`,
the control socket and the metrics server take `clients`.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

DAEMON_MIN = 64
CLIENTS_MAX = 1024
CLIENTS_MIN = 8
CHECKS_MIN = 8


@dataclass(frozen=True)
class FdPlan:
    """The split of RLIMIT_NOFILE's soft limit (see the module docstring)."""

    limit: int
    daemon: int
    clients: int
    checks: int


def nofile_limit() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def plan_fds(limit: int | None = None) -> FdPlan:
    """The split for `limit` descriptors (default: the current soft limit)."""
    total = nofile_limit() if limit is None else limit
    daemon = max(DAEMON_MIN, total // 20)
    clients = max(CLIENTS_MIN, min(CLIENTS_MAX, total // 10))
    checks = max(CHECKS_MIN, total - daemon - clients)
    return FdPlan(total, daemon, clients, checks)


def client_fd_allowance() -> int:
    """The most descriptors control and metrics clients may hold at once."""
    return plan_fds().clients
