"""The `--bfd` option of `ldirectordctl routes` and `status`: the BFD sessions of
the daemon beside gobgpd (ldirectord_py/routing/bfd.py), read by the command
line only, never by the daemon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ldirectord_py.routing.bfd import (
    BfdReading,
    BfdSourceError,
    parse_source,
    read_all,
    render_lines,
)


def _check(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        parse_source(value)
    except BfdSourceError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


bfd_option: Callable[[Any], Any] = click.option(
    "--bfd",
    default="auto",
    show_default=True,
    metavar="auto|none|bird:SOCKET|frr[:VTYDIR]",
    callback=_check,
    help="Where to read the BFD sessions beside gobgpd (auto: the usual places, quiet if none).",
)


def read_bfd(option: str) -> list[BfdReading]:
    return read_all(option)


def bfd_lines(readings: list[BfdReading]) -> list[str]:
    if not readings:
        return []
    return ["BFD (the router drops this site after that much silence):", *render_lines(readings)]
