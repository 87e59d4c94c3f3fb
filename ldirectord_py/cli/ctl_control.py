"""`ldirectordctl drain|undrain|check-now|reload`: commands to the running daemon,
each answered with its result (unlike `ldirectord reload`, which only signals)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ldirectord_py.cli.ctl import cli

EXIT_FAILED = 1


def _send(config: str | None, command: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The reply of the one daemon meant (exit 1 with the reason otherwise)."""
    from ldirectord_py.observe.status_socket import all_status_sockets, send_command, socket_path

    if config is not None:
        path = socket_path(os.path.basename(config))
    else:
        paths = all_status_sockets()
        if len(paths) != 1:
            what = "no daemon is running" if not paths else f"{len(paths)} daemons are running"
            click.echo(f"ldirectordctl: {what}; name one with --config", err=True)
            sys.exit(EXIT_FAILED)
        path = paths[0]
    try:
        return send_command(path, command, args, timeout)
    except FileNotFoundError:
        error = f"{path}: no such socket: is the daemon for it running?"
    except PermissionError:
        error = f"{path}: permission denied (the control socket is root's)"
    except TimeoutError:
        error = f"{path}: no answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        error = f"{path}: {exc}"
    click.echo(f"ldirectordctl: {error}", err=True)
    sys.exit(EXIT_FAILED)


def _report(reply: dict[str, Any]) -> None:
    if reply.get("message"):
        click.echo(reply["message"])
    if not reply.get("ok"):
        click.echo(f"ldirectordctl: {reply.get('error', 'failed')}", err=True)
        sys.exit(EXIT_FAILED)


_config_option = click.option(
    "-c", "--config", metavar="NAME|PATH", help="The daemon of this config (needed if several run)."
)


@cli.command(name="drain")
@_config_option
@click.argument("real")
def drain_command(config: str | None, real: str) -> None:
    """Weight 0 for REAL (ADDR or ADDR:PORT) everywhere.

    The real keeps its connections and its checks; the drain survives reload and
    restart, like a file in maintenancedir."""
    _report(_send(config, "drain", {"real": real}, 30.0))


@cli.command(name="undrain")
@_config_option
@click.argument("real")
def undrain_command(config: str | None, real: str) -> None:
    """Give REAL back the weight its checks decide."""
    _report(_send(config, "undrain", {"real": real}, 30.0))


@cli.command(name="check-now")
@_config_option
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the round.")
def check_now_command(config: str | None, timeout: float) -> None:
    """Run every check at once and print how the round went."""
    _report(_send(config, "check-now", {}, timeout))


@cli.command(name="reload")
@_config_option
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the reload.")
def reload_command(config: str | None, timeout: float) -> None:
    """Reload the config and report the result.

    Exit 0 when applied, 1 when refused: the daemon keeps running the old config
    and the errors are printed."""
    _report(_send(config, "reload", {}, timeout))
