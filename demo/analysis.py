"""From the lab's timeline and the client's requests to the summary: how long each
step took, how many requests failed in each measured window, and whether any was
lost outside them."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from demo.timeline import Served, Timeline

READY = "phase-ready"
BACKENDS_DOWN = "phase-backends-down"
BACKENDS_UP = "phase-backends-up"
LB_FROZEN = "phase-lb-frozen"
MAINTENANCE_ON = "phase-maintenance-on"
MAINTENANCE_DRAINED = "maintenance-drained"
MAINTENANCE_OFF = "maintenance-off"
DROP_REASON = "router-drop-reason"
"""Why the router ended site A's session (BFD session down, hold timer expired)."""
BGP_ONLY_REFERENCE = "2.67 s, 38 failed requests"
"""The same phase with BGP only (hold time 3 s; `python -m demo.lab --no-bfd`),
as demo/README.md gives it: the figure a newcomer compares BFD's with."""


@dataclass(frozen=True)
class Window:
    """Requests that start in [start, end] may fail because of what the lab did."""

    name: str
    start: float
    end: float

    def holds(self, t: float) -> bool:
        return self.start <= t <= self.end


def first_served(requests: Sequence[Served], site: str, after: float) -> float | None:
    """When the client got its first answer from `site` to a request sent after `after`
    (the answer's time: a request sent into a black hole may still be answered by the
    other site after a SYN retransmission, so its start says little)."""
    ends = [r.end for r in requests if r.ok and r.site == site and r.start >= after]
    return min(ends) if ends else None


def stays_with(requests: Sequence[Served], site: str, start: float, end: float) -> bool:
    """Every answered request that started in [start, end] came from `site` (and there was one)."""
    answered = [r for r in requests if r.ok and start <= r.start <= end]
    return bool(answered) and all(r.site == site for r in answered)


def _event_time(timeline: Timeline, kind: str, after: float) -> float | None:
    event = timeline.first(kind, after)
    return event.t if event else None


def _diff(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else round(end - start, 4)


def _failed(requests: Sequence[Served], window: Window | None) -> int:
    if window is None:
        return 0
    return sum(1 for r in requests if not r.ok and window.holds(r.start))


def summarize(
    timeline: Timeline,
    requests: Sequence[Served],
    *,
    request_timeout: float,
    hold_time: float,
    settle: float,
    detector: str = "",
) -> dict[str, Any]:
    """The summary document (summary.json); `settle` is how long after a switch the
    traffic must stay at the new site to count as moved."""
    windows: list[Window] = []
    doc: dict[str, Any] = {}
    # The measured run starts once site A serves the client (before, the lab was
    # still starting and the client's requests had nowhere to go).
    ready = _event_time(timeline, READY, 0.0)
    if ready is not None:
        requests = [r for r in requests if r.start >= ready]
        doc["measured_from"] = ready
    phase_ends: dict[str, float] = {}
    kinds = (BACKENDS_DOWN, BACKENDS_UP, MAINTENANCE_ON, LB_FROZEN)
    starts = {k: _event_time(timeline, k, 0.0) for k in kinds}
    ordered = sorted((t, k) for k, t in starts.items() if t is not None)
    for i, (_t, k) in enumerate(ordered):
        phase_ends[k] = ordered[i + 1][0] if i + 1 < len(ordered) else float("inf")

    down = starts[BACKENDS_DOWN]
    if down is not None:
        decision = _event_time(timeline, "decision-A-withdrawn", down) or _event_time(
            timeline, "log-A-withdrawn", down
        )
        route = _event_time(timeline, "route-via-B", down)
        traffic = first_served(requests, "B", down)
        end = max((x for x in (route, traffic) if x is not None), default=None)
        window = Window("backends of A stopped", down - request_timeout, end) if end else None
        if window:
            windows.append(window)
        moved = traffic is not None and stays_with(
            requests, "B", traffic + settle, phase_ends[BACKENDS_DOWN]
        )
        doc["backends_down"] = {
            "at": down,
            "decision_at": decision,
            "route_at": route,
            "traffic_at": traffic,
            "detection_s": _diff(decision, down),
            "propagation_s": _diff(route, decision),
            "switch_s": _diff(traffic, down),
            "failed_requests": _failed(requests, window),
            "traffic_moved": moved,
        }

    up = starts[BACKENDS_UP]
    if up is not None:
        decision = _event_time(timeline, "decision-A-announced", up) or _event_time(
            timeline, "log-A-announced", up
        )
        route = _event_time(timeline, "route-via-A", up)
        traffic = first_served(requests, "A", up)
        end = max((x for x in (route, traffic) if x is not None), default=None)
        window = Window("backends of A restored", up - request_timeout, end) if end else None
        if window:
            windows.append(window)
        back = traffic is not None and stays_with(
            requests, "A", traffic + settle, phase_ends[BACKENDS_UP]
        )
        doc["backends_restored"] = {
            "at": up,
            "decision_at": decision,
            "route_at": route,
            "traffic_at": traffic,
            "detection_s": _diff(decision, up),
            "propagation_s": _diff(route, decision),
            "recovery_s": _diff(traffic, up),
            "failed_requests": _failed(requests, window),
            "traffic_came_back": back,
        }

    on = starts[MAINTENANCE_ON]
    off = _event_time(timeline, MAINTENANCE_OFF, on) if on is not None else None
    if on is not None and off is not None:
        planned, window = _planned(timeline, requests, on, off, request_timeout, settle)
        planned["traffic_came_back"] = planned["traffic_back_at"] is not None and stays_with(
            requests, "A", planned["traffic_back_at"] + settle, phase_ends[MAINTENANCE_ON]
        )
        doc["planned_maintenance"] = planned
        windows.append(window)

    frozen = starts[LB_FROZEN]
    if frozen is not None:
        route = _event_time(timeline, "route-via-B", frozen)
        session = _event_time(timeline, "bgp-down-A", frozen)
        traffic = first_served(requests, "B", frozen)
        end = max((x for x in (route, traffic) if x is not None), default=None)
        window = Window("load balancer A frozen", frozen - request_timeout, end) if end else None
        if window:
            windows.append(window)
        doc["lb_killed"] = {
            "at": frozen,
            "hold_time_s": hold_time,
            "detector": detector or f"BGP hold time {hold_time:.0f} s",
            "bgp_only_reference": BGP_ONLY_REFERENCE,
            "session_down_at": session,
            "dropped_by": _dropped_by(timeline, frozen),
            "route_at": route,
            "traffic_at": traffic,
            "router_drop_s": _diff(route, frozen),
            "switch_s": _diff(traffic, frozen),
            "failed_requests": _failed(requests, window),
            "router_dropped": route is not None,
            "traffic_moved": traffic is not None
            and stays_with(requests, "B", traffic + settle, phase_ends[LB_FROZEN]),
        }

    # A BGP session that went down before the kill, start-up included, is a flap
    # (BFD timers too tight for this machine): the lab did nothing to cause it.
    until = frozen if frozen is not None else float("inf")
    flaps = [e for e in timeline.events if e.kind.startswith("bgp-down-") and e.t < until]
    doc["session_flaps"] = len(flaps)
    outside = [r for r in requests if not r.ok and not any(w.holds(r.start) for w in windows)]
    by_site = Counter(r.site for r in requests if r.ok)
    errors = Counter(r.error for r in requests if not r.ok)
    doc["requests"] = {
        "total": len(requests),
        "ok": sum(by_site.values()),
        "failed": len(requests) - sum(by_site.values()),
        "by_site": dict(sorted(by_site.items())),
        "errors": dict(sorted(errors.items())),
        "lost_outside_windows": len(outside),
        "lost_outside_windows_at": [r.start for r in outside[:20]],
    }
    doc["windows"] = [w.__dict__ for w in windows]
    doc["checks"] = {
        "traffic_moved_to_b": bool(doc.get("backends_down", {}).get("traffic_moved")),
        "traffic_came_back_to_a": bool(doc.get("backends_restored", {}).get("traffic_came_back")),
        "router_dropped_killed_lb": bool(doc.get("lb_killed", {}).get("router_dropped")),
        "no_request_lost_outside_windows": not outside,
        "no_bgp_session_flap": not flaps,
    }
    if "planned_maintenance" in doc:
        p = doc["planned_maintenance"]
        doc["checks"]["planned_maintenance_drained_and_moved"] = bool(
            p["drained_at"] and p["traffic_moved"] and p["traffic_came_back"]
        )
    return doc


def _planned(
    timeline: Timeline,
    requests: Sequence[Served],
    on: float,
    off: float,
    request_timeout: float,
    settle: float,
) -> tuple[dict[str, Any], Window]:
    """The planned maintenance phase: the two route switches, and the requests that
    failed at each (only those in flight at the instant the router switches may)."""
    drained = _event_time(timeline, MAINTENANCE_DRAINED, on)
    route_away = _event_time(timeline, "route-via-B", on)
    traffic_away = first_served(requests, "B", on)
    route_back = _event_time(timeline, "route-via-A", off)
    traffic_back = first_served(requests, "A", off)
    away_end = max((x for x in (route_away, traffic_away) if x is not None), default=on) + settle
    back_end = max((x for x in (route_back, traffic_back) if x is not None), default=off) + settle
    away = Window("planned maintenance: switch to B", on - request_timeout, away_end)
    back = Window("planned maintenance: switch back to A", off - request_timeout, back_end)
    phase = Window("planned maintenance of A", on - request_timeout, back_end)
    failed_away = _failed(requests, away)
    failed_back = _failed(requests, back)
    doc = {
        "switch_away": switch_report(requests, away, route_away),
        "switch_back": switch_report(requests, back, route_back),
        "at": on,
        "drained_at": drained,
        "off_at": off,
        "drained_s": _diff(drained, on),
        "route_away_s": _diff(route_away, on),
        "route_back_s": _diff(route_back, off),
        "traffic_back_at": traffic_back,
        "traffic_moved": traffic_away is not None,
        "failed_switch_away": failed_away,
        "failed_switch_back": failed_back,
        "failed_otherwise": _failed(requests, phase) - failed_away - failed_back,
        "failed_requests": _failed(requests, phase),
    }
    return doc, phase


def switch_report(requests: Sequence[Served], window: Window, at: float | None) -> dict[str, Any]:
    """The requests around one route switch at the router (`at`, from its FIB): how
    many were in flight at that instant, which failed, and whether each failed one
    was in flight then (the only ones that may fail: their later packets reach the
    other site, which has no connection for them) or not (a fault to explain)."""
    failed = [r for r in requests if not r.ok and window.holds(r.start)]
    if at is None:
        return {
            "at": None,
            "in_flight": None,
            "failed_in_flight": None,
            "failed": [{"start": r.start, "end": r.end, "error": r.error} for r in failed],
        }
    in_flight = [r for r in requests if r.start <= at <= r.end]
    return {
        "at": at,
        "in_flight": len(in_flight),
        "failed_in_flight": sum(1 for r in failed if r.start <= at <= r.end),
        "failed_not_in_flight": sum(1 for r in failed if not r.start <= at <= r.end),
        "request_s_median": _median([r.end - r.start for r in in_flight]),
        "failed": [
            {"start": round(r.start - at, 4), "end": round(r.end - at, 4), "error": r.error}
            for r in failed
        ],
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def _dropped_by(timeline: Timeline, after: float) -> str | None:
    event = timeline.first(DROP_REASON, after)
    if event is None or " ended with " not in event.text:
        return None
    return event.text.split(" ended with ", 1)[1].strip("'\"")


def _in_flight(switch: dict[str, Any]) -> str:
    if switch.get("in_flight") is None:
        return "not seen"
    return f"{switch['failed_in_flight']} of {switch['in_flight']}"


def _s(value: float | None) -> str:
    if value is None:
        return "not seen"
    return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"


def summary_table(doc: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    d = doc.get("backends_down")
    if d:
        rows += [
            ("Both backends of site A stopped", ""),
            ("  detection: backends stopped -> daemon A withdraws the VIP", _s(d["detection_s"])),
            ("  propagation: decision -> route via site B at the router", _s(d["propagation_s"])),
            ("  client traffic at site B, after the backends stopped", _s(d["switch_s"])),
            ("  failed requests", str(d["failed_requests"])),
        ]
    r = doc.get("backends_restored")
    if r:
        rows += [
            ("Backends of site A restarted", ""),
            ("  detection: backends back -> daemon A announces the VIP", _s(r["detection_s"])),
            ("  propagation: decision -> route via site A at the router", _s(r["propagation_s"])),
            ("  time to recover: client traffic back at site A", _s(r["recovery_s"])),
            ("  failed requests", str(r["failed_requests"])),
        ]
    m = doc.get("planned_maintenance")
    if m:
        unplanned = (doc.get("backends_down") or {}).get("failed_requests")
        rows += [
            ("Planned maintenance of site A (on, drained, backends restarted, off)", ""),
            ("  maintenance on -> drained: safe to stop the backends", _s(m["drained_s"])),
            ("  maintenance on -> route via site B at the router", _s(m["route_away_s"])),
            ("  maintenance off -> route via site A at the router", _s(m["route_back_s"])),
            (
                "  failed requests: switch to B / backends down / switch back",
                f"{m['failed_switch_away']} / {m['failed_otherwise']} / {m['failed_switch_back']}",
            ),
            (
                "  of them in flight at the router's switch / requests in flight then",
                f"{_in_flight(m['switch_away'])} / {_in_flight(m['switch_back'])}",
            ),
            ("  the unplanned failure of the same backends, this run", f"{unplanned} failed"),
        ]
    k = doc.get("lb_killed")
    if k:
        rows += [
            ("Load balancer of site A killed (no FIN: frozen)", ""),
            (
                f"  router drops site A ({k['detector']})",
                _s(k["router_drop_s"]) + (f" ({k['dropped_by']})" if k.get("dropped_by") else ""),
            ),
            ("  client traffic at site B, after the kill", _s(k["switch_s"])),
            ("  failed requests", str(k["failed_requests"])),
        ]
        if not k["detector"].startswith("BGP"):
            rows.append(("  the same with BGP only (hold time 3 s, demo/README.md)",
                         k["bgp_only_reference"]))  # fmt: skip
    q = doc["requests"]
    sites = ", ".join(f"{s} {n}" for s, n in q["by_site"].items())
    rows += [
        ("Requests", f"{q['total']} ({q['ok']} ok: {sites}; {q['failed']} failed)"),
        ("  failed outside the measured windows", str(q["lost_outside_windows"])),
    ]
    width = max(len(a) for a, _ in rows) + 2
    lines = ["SUMMARY", "-" * (width + 24)]
    lines += [f"{a:<{width}}{b}" if b else a for a, b in rows]
    checks = doc["checks"]
    lines.append("-" * (width + 24))
    lines.append(
        "checks: " + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in checks.items())
    )
    return "\n".join(lines) + "\n"
