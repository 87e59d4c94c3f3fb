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
from ldirectord_py.cli.daemon_client import config_option, decoded_or_exit, statuses_or_exit
from ldirectord_py.observe.schema import RealSnapshot, StatusSnapshot


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


def _weight(real: RealSnapshot) -> str:
    """The weight the table has or is about to have; the kernel's beside it when
    they differ ("5 (kernel 0)"), "-" when the real is not in the table."""
    shown = "-" if real.weight is None else str(real.weight)
    if real.weight != real.programmed_weight:
        kernel = "-" if real.programmed_weight is None else str(real.programmed_weight)
        shown += f" (kernel {kernel})"
    return shown


def render_status(path: str, status: StatusSnapshot, now: float | None = None) -> str:
    now = time.time() if now is None else now
    out = [f"config:    {status.config or '?'}  (socket {path})"]
    if status.started_at:
        pid = status.pid if status.pid is not None else "?"
        out.append(f"uptime:    {_duration(now - status.started_at)}  (pid {pid})")
    out.append(f"status:    {status.status or '?'}")
    plane = status.dataplane
    plane_text = "converged" if plane.converged else "not converged"
    if plane.last_error:
        plane_text += f"; last error: {plane.last_error}"
    counts = f"{plane.operations} operations, {plane.errors} errors"
    out.append(f"dataplane: {plane_text} ({counts})")
    if status.last_reload is not None:
        reload = status.last_reload
        trigger = f", by {reload.trigger}" if reload.trigger else ""
        if reload.ok:
            result = "applied" + (f": {reload.change.counts()}" if reload.change else "")
        else:
            result = f"REFUSED: {reload.error or '?'}"
            if reload.where and reload.where not in result:
                result += f" ({reload.where})"
        out.append(f"reload:    {result} at {_since(reload.at, now)}{trigger}")
    for name, writer in sorted(status.writers.items()):
        if writer.crashes or writer.stalled:
            stalled = "STALLED; " if writer.stalled else ""
            out.append(
                f"writer:    {name}: {stalled}{writer.crashes} failures, restarted "
                f"(last: {writer.last_crash})"
            )
    watchdog = status.watchdog
    age = watchdog.last_result_age
    if watchdog.stalled:
        out.append(f"checks:    STALLED: none completed for {age if age is not None else '?'}s")
    elif age is not None:
        out.append(f"checks:    completing (last {age:.1f}s ago)")
    if status.drained:
        out.append(f"drained:   {', '.join(status.drained)}")
    for virtual in status.virtuals:
        head = f"virtual {virtual.virtual}"
        if virtual.fallback_active:
            head += "  [fallback active]"
        if virtual.service and not virtual.programmed and status.schema >= 2:
            head += "  [not programmed]"
        out.append("")
        out.append(head)
        rows = [("REAL", "STATE", "WEIGHT", "FAILS", "LATENCY", "SINCE", "LAST RESULT")]
        for real in virtual.reals:
            rows.append(
                (
                    real.real,
                    real.state.value + (" (drained)" if real.drained else ""),
                    _weight(real) if status.schema >= 2 else _plain_weight(real),
                    str(real.failures),
                    _latency(real.last_latency),
                    _since(real.since, now),
                    real.last_reason,
                )
            )
        out += table_lines(rows)
    if status.anycast.enabled:
        out.append("")
        out.extend(render_routes([(path, status)]).rstrip("\n").split("\n"))
    return "\n".join(out) + "\n"


def _plain_weight(real: RealSnapshot) -> str:
    """A schema-1 daemon reports one weight only."""
    return "-" if real.weight is None else str(real.weight)


@click.command(name="status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="The whole status document as JSON.")
@bfd_option
def status_command(config: str | None, as_json: bool, bfd: str) -> None:
    """The daemon's reals, fallbacks, anycast and dataplane."""
    documents = statuses_or_exit(config)
    statuses = decoded_or_exit(documents)
    readings = read_bfd(bfd)
    if as_json:
        # the documents as the daemons serve them (keys this client does not know included)
        doc: Any = documents[0][1] if len(documents) == 1 else {p: s for p, s in documents}
        if readings:
            doc = {**doc, "bfd": [r.to_json() for r in readings]}
        click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))
        return
    click.echo("\n".join(render_status(p, s) for p, s in statuses), nl=False)
    click.echo("".join(f"{line}\n" for line in bfd_lines(readings)), nl=False)
