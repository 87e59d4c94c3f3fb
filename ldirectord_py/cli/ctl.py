"""ldirectordctl: the operator's tool next to the drop-in (validate, list, and more).

Each subcommand lives in its own module as a plain click command; `_register`
below is the one place that adds them to `cli` (a new subcommand is one module
and one line there). The daemon-finding and `--config` they share are in
`daemon_client`.
"""

from __future__ import annotations

import click

from ldirectord_py import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="ldirectordctl")
def cli() -> None:
    """Inspect and control ldirectord-py."""


def _register() -> None:
    """Add every subcommand to `cli` (idempotent: a name is added once)."""
    from ldirectord_py.cli import (
        ctl_control,
        ctl_list,
        ctl_maintenance,
        ctl_routes,
        ctl_status,
        ctl_validate,
    )

    for command in (
        ctl_status.status_command,
        ctl_routes.routes_command,
        ctl_list.list_command,
        ctl_validate.validate,
        ctl_control.drain_command,
        ctl_control.undrain_command,
        ctl_control.check_now_command,
        ctl_control.reload_command,
        ctl_maintenance.maintenance_command,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="ldirectordctl")
