"""`ldirectordctl status`: what the running daemon knows, from its status socket.

Config file, uptime, every virtual with its reals (state, weight, last check
result and latency, consecutive failures, since when), fallback, the anycast
decisions with GoBGP's state, and the dataplane's reconcile state.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ldirectord_py.cli.ctl_bfd import bfd_lines, bfd_option, read_bfd
from ldirectord_py.cli.ctl_routes import render_routes, table_lines
from ldirectord_py.cli.daemon_client import config_option, statuses_or_exit


def _since(epoch: float | None, now: float) -> str:
    if not epoch:
        return "-"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(epoch))} ({_duration(now - epoch)})"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _latency(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}ms"


def render_status(path: str, status: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    out = [f"config:    {status.get('config') or '?'}  (socket {path})"]
    if status.get("started_at"):
        out.append(
            f"uptime:    {_duration(now - status['started_at'])}  (pid {status.get('pid', '?')})"
        )
    out.append(f"status:    {status.get('status', '?')}")
    plane = status.get("dataplane") or {}
    plane_text = "converged" if plane.get("converged") else "not converged"
    if plane.get("last_error"):
        plane_text += f"; last error: {plane['last_error']}"
    counts = f"{plane.get('operations', 0)} operations, {plane.get('errors', 0)} errors"
    out.append(f"dataplane: {plane_text} ({counts})")
    for name, writer in sorted((status.get("writers") or {}).items()):
        if writer.get("crashes") or writer.get("stalled"):
            stalled = "STALLED; " if writer.get("stalled") else ""
            out.append(
                f"writer:    {name}: {stalled}{writer.get('crashes', 0)} failures, restarted "
                f"(last: {writer.get('last_crash')})"
            )
    watchdog = status.get("watchdog") or {}
    age = watchdog.get("last_result_age")
    if watchdog.get("stalled"):
        out.append(f"checks:    STALLED: none completed for {age if age is not None else '?'}s")
    elif age is not None:
        out.append(f"checks:    completing (last {age:.1f}s ago)")
    if status.get("drained"):
        out.append(f"drained:   {', '.join(status['drained'])}")
    for virtual in status.get("virtuals") or []:
        head = f"virtual {virtual['virtual']}"
        if virtual.get("fallback_active"):
            head += "  [fallback active]"
        out.append("")
        out.append(head)
        rows = [("REAL", "STATE", "WEIGHT", "FAILS", "LATENCY", "SINCE", "LAST RESULT")]
        for real in virtual.get("reals") or []:
            weight = real.get("weight")
            rows.append(
                (
                    real["real"],
                    real["state"] + (" (drained)" if real.get("drained") else ""),
                    "-" if weight is None else str(weight),
                    str(real.get("failures", 0)),
                    _latency(real.get("last_latency")),
                    _since(real.get("since"), now),
                    real.get("last_reason") or "",
                )
            )
        out += table_lines(rows)
    anycast = status.get("anycast") or {}
    if anycast.get("enabled"):
        out.append("")
        out.extend(render_routes([(path, status)]).rstrip("\n").split("\n"))
    return "\n".join(out) + "\n"


@click.command(name="status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="The whole status document as JSON.")
@bfd_option
def status_command(config: str | None, as_json: bool, bfd: str) -> None:
    """The daemon's reals, fallbacks, anycast and dataplane."""
    statuses = statuses_or_exit(config)
    readings = read_bfd(bfd)
    if as_json:
        doc: Any = statuses[0][1] if len(statuses) == 1 else {p: s for p, s in statuses}
        if readings:
            doc = {**doc, "bfd": [r.to_json() for r in readings]}
        click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))
        return
    click.echo("\n".join(render_status(p, s) for p, s in statuses), nl=False)
    click.echo("".join(f"{line}\n" for line in bfd_lines(readings)), nl=False)
