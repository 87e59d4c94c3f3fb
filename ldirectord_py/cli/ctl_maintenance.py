"""`ldirectordctl maintenance on|off [VIP...]`: planned maintenance of this site.

`on` moves the VIPs' routes away and waits until traffic to them has stopped:
exit 0 and "drained: safe to stop the backends", or exit 1 and what is still
active when the timeout ends (the VIPs stay in maintenance either way). `off`
announces them again (after anycastholddown). See daemon/planned_maintenance.py.
"""

from __future__ import annotations

import click

from ldirectord_py.cli.daemon_client import config_option, report, send

ANSWER_MARGIN = 15.0
"""Seconds on top of the drain timeout for the daemon's answer (route confirmation)."""


@click.command(name="maintenance")
@config_option
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="Seconds `on` waits for traffic to stop.",
)
@click.argument("action", type=click.Choice(["on", "off"]))
@click.argument("vips", nargs=-1, metavar="[VIP]...")
def maintenance_command(
    config: str | None, timeout: float, action: str, vips: tuple[str, ...]
) -> None:
    """Move this site's anycast routes away (on) or back (off).

    VIP: anycast addresses of the config (default: all of them). `on` withdraws
    (or de-prefers, as anycastdown says), then waits until no new connection and
    no packet reaches them: exit 0 when drained, 1 with what is still active."""
    args = {"action": action, "vips": list(vips), "timeout": timeout}
    report(send(config, "maintenance", args, timeout + ANSWER_MARGIN))
