"""`ldirectordctl routes`: each anycast VIP, its decision, why, since when, and
what GoBGP (or the interface) holds for it, from the running daemon."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from ldirectord_py.cli.ctl_bfd import bfd_lines, bfd_option, read_bfd
from ldirectord_py.cli.daemon_client import config_option, snapshots_or_exit
from ldirectord_py.observe.schema import AnycastSnapshot, GoBGPSnapshot, StatusSnapshot


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _held_by(vip: str, anycast: AnycastSnapshot) -> str:
    """What the external system reports for this VIP."""
    gobgp = anycast.gobgp
    if gobgp is not None:
        if not gobgp.connected:
            return "gobgp unreachable"
        attributes = gobgp.gobgp.get(vip)
        if not attributes:
            return "not in gobgp"
        return "in gobgp" + _attributes_text(attributes)
    present = anycast.interfaces.carrying(vip) if anycast.interfaces is not None else ()
    return f"address on {', '.join(present)}" if present else "no address"


def _attributes_text(attributes: Mapping[str, object]) -> str:
    parts = []
    for key in ("next_hop", "med", "communities", "as_path"):
        value = attributes.get(key)
        if value not in (None, "", [], ()):
            shown = " ".join(map(str, value)) if isinstance(value, list | tuple) else value
            parts.append(f"{key.replace('_', ' ')} {shown}")
    return f" ({', '.join(parts)})" if parts else ""


def _api_text(gobgp: GoBGPSnapshot) -> str:
    """'GoBGP 4.x (api.GoBgpService), found at connect' or '..., pinned'."""
    if not gobgp.api:
        return "API unknown"
    pinned = gobgp.api_version != "auto"
    return f"GoBGP {gobgp.api}, {'pinned by gobgpversion' if pinned else 'found at connect'}"


def render_routes(statuses: Sequence[tuple[str, StatusSnapshot]]) -> str:
    lines: list[str] = []
    for path, status in statuses:
        anycast = status.anycast
        head = status.config or path
        if not anycast.enabled:
            lines.append(f"{head}: no anycast VIP configured")
            continue
        lines.append(f"{head}: anycast by {anycast.method}")
        gobgp = anycast.gobgp
        if gobgp is not None:
            state = "connected" if gobgp.connected else "unreachable"
            err = gobgp.last_error
            lines.append(
                f"  gobgp {gobgp.target}: {state}"
                + (f", {_api_text(gobgp)}" if state == "connected" else "")
                + (f" ({err})" if err and state != "connected" else "")
            )
            for peer in gobgp.peers:
                lines.append(f"  peer {peer.address} AS{peer.asn}: {peer.state}")
        rows = [("VIP", "STATE", "SINCE", "HELD", "WHY")]
        for vip in anycast.vips:
            rows.append(
                (
                    vip.vip,
                    vip.state.value + (" (guard)" if vip.guarded else ""),
                    _when(vip.since),
                    _held_by(vip.vip, anycast),
                    vip.reason,
                )
            )
        lines += table_lines(rows)
    return "\n".join(lines) + "\n"


def table_lines(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows indented, columns aligned; the last column (free text) is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]


@click.command(name="routes")
@config_option
@click.option("--json", "as_json", is_flag=True, help="The daemon's anycast status as JSON.")
@bfd_option
def routes_command(config: str | None, as_json: bool, bfd: str) -> None:
    """Each anycast VIP: its decision, why, since when, what GoBGP holds."""
    statuses = snapshots_or_exit(config)
    readings = read_bfd(bfd)
    if as_json:
        doc: dict[str, Any] = {
            status.config or path: status.anycast.to_json() for path, status in statuses
        }
        if readings:
            doc["bfd"] = [r.to_json() for r in readings]
        click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))
        return
    click.echo(render_routes(statuses), nl=False)
    click.echo("".join(f"{line}\n" for line in bfd_lines(readings)), nl=False)
