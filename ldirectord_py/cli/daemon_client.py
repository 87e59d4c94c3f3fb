"""Finding the running daemon(s) from `ldirectordctl`, and saying why not.

Every subcommand that talks to a daemon goes through here, so the `--config`
option, the choice of socket and the wording of each failure (none running,
several running, no socket, permission, no answer) exist once. A failure exits
1 with `ldirectordctl: <why>` on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import click
from click.shell_completion import CompletionItem

from ldirectord_py import runpaths
from ldirectord_py.observe.schema import StatusSnapshot
from ldirectord_py.observe.status_socket import read_status, send_command

EXIT_FAILED = 1


def running_configs(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """TAB on --config: the instances that have a control socket now."""
    names = [runpaths.RunPaths.beside(path).cfgname for path in runpaths.all_sockets()]
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def configured_real_names(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """TAB on a REAL: the reals of the daemon meant, as configured (quiet when it
    cannot be asked: completion never prints an error)."""
    try:
        status = one_status(ctx.params.get("config"))
    except Exception:  # NoDaemon, or a reply of another shape
        return []
    names = dict.fromkeys(
        str(real.get("real"))
        for virtual in status.get("virtuals") or []
        for real in virtual.get("reals") or []
        if real.get("real")
    )
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


config_option: Callable[[Any], Any] = click.option(
    "-c",
    "--config",
    metavar="NAME|PATH",
    shell_complete=running_configs,
    help="The daemon of this config (default: the only one running; for status: all).",
)
"""`--config`: one daemon, named like its pid file (the config's name after its last `/`)."""


class NoDaemon(Exception):
    """No running daemon answers where the caller asked (the message says where)."""


def socket_for(config: str) -> str:
    """The control socket of the daemon of `config` (a name or a path)."""
    return runpaths.RunPaths(os.path.basename(config)).socket


def sockets(config: str | None) -> list[str]:
    """The socket of `config`, or of every running daemon (NoDaemon if none)."""
    if config is not None:
        return [socket_for(config)]
    found = runpaths.all_sockets()
    if not found:
        raise NoDaemon(
            f"no ldirectord-py daemon is running (no status socket in {runpaths.RUN_DIR})"
        )
    return found


def the_socket(config: str | None) -> str:
    """The one daemon a command is meant for (NoDaemon unless exactly one is meant)."""
    found = sockets(config)
    if len(found) != 1:
        raise NoDaemon(f"{len(found)} daemons are running; name one with --config")
    return found[0]


def why(path: str, exc: BaseException, timeout: float | None = None) -> str:
    """What a failed exchange with the daemon at `path` means, for an operator."""
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return f"{path}: no such socket: is the daemon for it running?"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied (the control socket is root's)"
    if isinstance(exc, TimeoutError):
        wait = f" within {timeout:g} s" if timeout is not None else ""
        return f"{path}: no answer{wait}"
    return f"{path}: the daemon does not answer: {exc}"


def fail(message: str) -> NoReturn:
    click.echo(f"ldirectordctl: {message}", err=True)
    sys.exit(EXIT_FAILED)


def send(config: str | None, command: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The reply of the one daemon meant (exit 1 saying why there is none)."""
    try:
        path = the_socket(config)
    except NoDaemon as exc:
        fail(str(exc))
    try:
        return send_command(path, command, args, timeout)
    except (OSError, ValueError) as exc:
        fail(why(path, exc, timeout))


def statuses(config: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(socket, status document) of the daemon of `config`, or of every running one.

    Raises NoDaemon with the reason when none answers."""
    paths = sockets(config)
    out = []
    for path in paths:
        try:
            out.append((path, read_status(path)))
        except (OSError, ValueError) as exc:
            if config is not None or isinstance(exc, PermissionError):
                raise NoDaemon(why(path, exc)) from exc
    if not out:
        raise NoDaemon(f"no ldirectord-py daemon answers on {', '.join(paths)}")
    return out


def one_status(config: str | None) -> dict[str, Any]:
    """The status document of the one daemon a command is meant for (NoDaemon)."""
    path = the_socket(config)
    try:
        return read_status(path)
    except (OSError, ValueError) as exc:
        raise NoDaemon(why(path, exc)) from exc


def statuses_or_exit(config: str | None) -> list[tuple[str, dict[str, Any]]]:
    """The running daemons' status documents, or exit 1 saying why there are none."""
    try:
        return statuses(config)
    except NoDaemon as exc:
        fail(str(exc))


def decoded_or_exit(
    documents: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[tuple[str, StatusSnapshot]]:
    """The documents as typed snapshots (observe/schema.py), or exit 1 naming the
    field a daemon got wrong."""
    out = []
    for path, document in documents:
        try:
            out.append((path, StatusSnapshot.from_json(document)))
        except ValueError as exc:
            fail(f"the status from {path} does not decode: {exc}")
    return out


def snapshots_or_exit(config: str | None) -> list[tuple[str, StatusSnapshot]]:
    """The running daemons' status snapshots, or exit 1 saying why there are none."""
    return decoded_or_exit(statuses_or_exit(config))


def snapshots_quiet() -> list[StatusSnapshot]:
    """Every running daemon's snapshot; those that do not answer, or send something
    that does not decode, are left out (for additions to a kernel listing)."""
    out = []
    for path in runpaths.all_sockets():
        try:
            out.append(StatusSnapshot.from_json(read_status(path)))
        except (OSError, ValueError):
            continue
    return out


def report(reply: dict[str, Any]) -> None:
    """Print a command's reply: its message on stdout, its error on stderr (exit 1)."""
    if reply.get("message"):
        click.echo(reply["message"])
    if not reply.get("ok"):
        fail(str(reply.get("error", "failed")))
