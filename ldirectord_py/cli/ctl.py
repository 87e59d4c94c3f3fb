"""ldirectordctl: the operator's tool next to the drop-in (validate, list, and more).

Each subcommand lives in its own module and registers itself on `cli` here.
"""

from __future__ import annotations

import click

from ldirectord_py import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="ldirectordctl")
def cli() -> None:
    """Inspect and control ldirectord-py."""


def _register() -> None:
    """Import the subcommand modules; each adds itself to `cli`."""
    from ldirectord_py.cli import (  # noqa: F401
        ctl_control,
        ctl_list,
        ctl_maintenance,
        ctl_routes,
        ctl_status,
        ctl_validate,
    )


def main() -> None:
    _register()
    cli(prog_name="ldirectordctl")
