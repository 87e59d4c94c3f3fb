"""`ldirectordctl reload --dry-run`: what the file on disk would change, not applied.

The running engine and anycast policy each build their successor for the new
configuration exactly as a reload does (`Engine.reload`, `AnycastPolicy.reload`:
pure, the running ones are only read), and the desired ip_vs table and routes of
the two are compared. Check state carries over as in a real reload: a real that
is up now is up in the preview; a new real or VIP shows as a reload would first
program it, before its first check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ldirectord_py.config import Config
from ldirectord_py.daemon.drains import stored_keys
from ldirectord_py.engine.drain import DrainKey, apply_drains
from ldirectord_py.ipvs.model import Destination, VirtualService
from ldirectord_py.routing.model import HostPrefix, Route


def _service_text(service: VirtualService) -> str:
    flags = f" {service.sched_flags}" if service.sched_flags else ""
    persistent = f" persistent {service.persistence}" if service.persistence else ""
    return f"{service} {service.scheduler}{flags}{persistent}"


def _destination_text(destination: Destination) -> str:
    thresholds = ""
    if destination.upper_threshold or destination.lower_threshold:
        thresholds = f" u:{destination.upper_threshold} l:{destination.lower_threshold}"
    return (
        f"{destination} {destination.forwarding.name.title()} weight {destination.weight}"
        f"{thresholds}"
    )


def table_change(old: Sequence[VirtualService], new: Sequence[VirtualService]) -> list[str]:
    """ipvsadm-like lines: `+` added, `-` removed, `~` changed (old -> new)."""
    before = {s.key: s for s in old}
    after = {s.key: s for s in new}
    lines: list[str] = []
    for key, service in after.items():
        previous = before.get(key)
        if previous is None:
            lines.append(f"+ {_service_text(service)}")
            lines += [f"+   -> {_destination_text(d)}" for d in service.destinations]
            continue
        head = (
            f"~ {_service_text(previous)} -> {service.scheduler}"
            if previous != service
            else f"  {service}"
        )
        rows = _destination_rows(previous.destinations, service.destinations)
        if rows or previous != service:
            lines.append(head)
            lines += rows
    for key, service in before.items():
        if key not in after:
            lines.append(f"- {_service_text(service)}")
            lines += [f"-   -> {_destination_text(d)}" for d in service.destinations]
    return lines


def _destination_rows(old: Sequence[Destination], new: Sequence[Destination]) -> list[str]:
    before = {d.key: d for d in old}
    after = {d.key: d for d in new}
    rows: list[str] = []
    for key, destination in after.items():
        previous = before.get(key)
        if previous is None:
            rows.append(f"+   -> {_destination_text(destination)}")
        elif previous != destination:
            rows.append(f"~   -> {_destination_text(previous)} => {_destination_text(destination)}")
    rows += [f"-   -> {_destination_text(d)}" for k, d in before.items() if k not in after]
    return rows


def _route_text(route: Route) -> str:
    parts = [str(route.prefix)]
    if route.next_hop:
        parts.append(f"next hop {route.next_hop}")
    if route.med is not None:
        parts.append(f"med {route.med}")
    if route.communities:
        parts.append("communities " + " ".join(route.communities))
    if route.prepend:
        parts.append(f"prepend {route.prepend}")
    return ", ".join(parts)


def route_change(
    old: Mapping[HostPrefix, Route],
    new: Mapping[HostPrefix, Route],
    added: Sequence[HostPrefix],
) -> list[str]:
    """`+` announced, `-` withdrawn, `~` attributes changed; the VIPs the new file
    `added` wait for their first check (nothing is announced before it)."""
    lines: list[str] = []
    for prefix, route in new.items():
        if prefix not in old:
            lines.append(f"+ {_route_text(route)}")
        elif old[prefix] != route:
            lines.append(f"~ {_route_text(old[prefix])} => {_route_text(route)}")
    lines += [f"- {_route_text(r)}" for p, r in old.items() if p not in new]
    lines += [
        f"? {prefix}: a new VIP, announced once its first check round says so"
        for prefix in added
        if prefix not in new
    ]
    return lines


def preview(director: Any, config: Config, drained: frozenset[DrainKey]) -> list[str]:
    """The lines `reload --dry-run` prints after the config change: the desired
    ip_vs table and routes, as they are and as the new file would make them (with
    the `drained` reals at weight 0, expanded to the stored form by the writer's
    rule, `stored_keys`)."""
    engine = getattr(director, "engine", None)
    if engine is None:
        return ["(no check state yet: the daemon has not started checking)"]
    clock = getattr(director, "clock", time.monotonic)
    now = clock()
    successor = engine.reload(config, now)
    old_table = apply_drains(engine.desired(), stored_keys(drained, engine))
    new_table = apply_drains(successor.desired(), stored_keys(drained, successor))
    lines = ["desired ip_vs table:"]
    lines += [f"  {line}" for line in table_change(old_table, new_table)] or ["  no change"]
    policy = getattr(getattr(director, "anycast", None), "policy", None)
    if policy is not None and (policy.enabled or config.settings.anycast.prefixes):
        next_policy = policy.reload(config, now)
        known = {d.vip for d in policy.decisions()}
        added = [d.vip for d in next_policy.decisions() if d.vip not in known]
        rows = route_change(policy.desired().routes, next_policy.desired().routes, added)
        lines.append("anycast routes:")
        lines += [f"  {line}" for line in rows] or ["  no change"]
    return lines


def drained_reals(director: Any) -> frozenset[DrainKey]:
    """The drained reals (they survive a reload): the director's drain store, read
    directly (the status document would convert every changed entry on the loop)."""
    store = getattr(director, "drains", None)
    return frozenset(store.keys) if store is not None else frozenset()
