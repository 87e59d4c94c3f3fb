"""`ldirectordctl drain|undrain|check-now|reload`: commands to the running daemon,
each answered with its result (unlike `ldirectord reload`, which only signals).

They refuse what is most likely a mistake: a drain of a real that no virtual
service names (a typo would otherwise be "kept for later" and drain nothing)
exits 1 with the configured reals that come closest, unless `--force`.
"""

from __future__ import annotations

import difflib
from typing import Any

import click

from ldirectord_py.cli.daemon_client import (
    NoDaemon,
    config_option,
    configured_real_names,
    fail,
    one_status,
    report,
    send,
)

NEAR_MATCHES = 5


def configured_reals(status: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, real) for every real of the status document, as configured and
    as the kernel stores it (a gate real takes its virtual's port)."""
    out: list[tuple[str, str]] = []
    for virtual in status.get("virtuals") or []:
        service = str(virtual.get("service") or virtual.get("virtual") or "?")
        for real in virtual.get("reals") or []:
            for name in (real.get("real"), real.get("kernel")):
                if name and (service, str(name)) not in out:
                    out.append((service, str(name)))
    return out


def _matches(key: Any, name: str) -> bool:
    from ldirectord_py.engine.drain import DrainKey

    try:
        real = DrainKey.parse(name)
    except ValueError:
        return False
    return real.address == key.address and (key.port is None or real.port == key.port)


def near_matches(text: str, names: list[str], limit: int = NEAR_MATCHES) -> list[str]:
    """The configured reals closest to what was typed: same address first, then
    the most similar spellings."""
    from ldirectord_py.engine.drain import DrainKey

    unique = list(dict.fromkeys(names))
    try:
        address = DrainKey.parse(text).address
        same = [n for n in unique if _matches(DrainKey(address), n)]
    except ValueError:
        same = []
    similar = difflib.get_close_matches(text, unique, n=limit, cutoff=0.6)
    return list(dict.fromkeys(same + similar))[:limit]


def refuse_unknown_real(config: str | None, name: str, real: str) -> None:
    """Exit 1 unless some virtual service of the daemon has `real` (or, for
    undrain, unless it is drained now): with the near matches and the way out."""
    from ldirectord_py.engine.drain import DrainKey

    try:
        key = DrainKey.parse(real)
    except ValueError as exc:
        fail(f"{name}: {exc}")
    try:
        status = one_status(config)
    except NoDaemon as exc:
        fail(str(exc))
    reals = configured_reals(status)
    if any(_matches(key, r) for _s, r in reals):
        return
    if name == "undrain" and any(_matches(key, str(d)) for d in status.get("drained") or ()):
        return
    near = near_matches(str(key), [r for _s, r in reals])
    hint = f"; near matches: {', '.join(near)}" if near else "; it has no real like it"
    fail(
        f"{name} {key}: no virtual service of {status.get('config') or 'the daemon'} has "
        f"this real{hint} (--force {name}s it anyway, for a real still to come)"
    )


@click.command(name="drain")
@config_option
@click.option("--force", is_flag=True, help="Also a real no virtual service has (yet).")
@click.argument("real", shell_complete=configured_real_names)
def drain_command(config: str | None, force: bool, real: str) -> None:
    """Weight 0 for REAL (ADDR or ADDR:PORT) everywhere.

    The real keeps its connections and its checks; the drain survives reload and
    restart, like a file in maintenancedir. A REAL that no virtual service has is
    refused (exit 1, with the nearest configured reals) unless --force."""
    if not force:
        refuse_unknown_real(config, "drain", real)
    report(send(config, "drain", {"real": real}, 30.0))


@click.command(name="undrain")
@config_option
@click.option("--force", is_flag=True, help="Also a real no virtual service has.")
@click.argument("real", shell_complete=configured_real_names)
def undrain_command(config: str | None, force: bool, real: str) -> None:
    """Give REAL back the weight its checks decide.

    A REAL that is not drained and that no virtual service has is refused (exit
    1, with the nearest configured reals) unless --force."""
    if not force:
        refuse_unknown_real(config, "undrain", real)
    report(send(config, "undrain", {"real": real}, 30.0))


def down_lines(status: dict[str, Any]) -> list[str]:
    """`  DOWN 10.0.0.5:80 in TCP 192.0.2.1:80: <reason>` for every real down."""
    out = []
    for virtual in status.get("virtuals") or []:
        where = virtual.get("service") or virtual.get("virtual") or "?"
        for real in virtual.get("reals") or []:
            if real.get("state") == "down":
                reason = real.get("last_reason") or "no reason recorded"
                out.append(f"  down: {real.get('real')} in {where}: {reason}")
    return out


@click.command(name="check-now")
@config_option
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the round.")
def check_now_command(config: str | None, timeout: float) -> None:
    """Run every check at once and print how the round went, naming each real
    that is down and why."""
    reply = send(config, "check-now", {}, timeout)
    if reply.get("ok") and reply.get("down"):
        try:
            lines = down_lines(one_status(config))
        except NoDaemon:
            lines = []
        if lines:
            reply = {**reply, "message": "\n".join([str(reply.get("message", "")), *lines])}
    report(reply)


@click.command(name="reload")
@config_option
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the reload.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the file on disk would change (ip_vs table, routes); apply nothing.",
)
def reload_command(config: str | None, timeout: float, dry_run: bool) -> None:
    """Reload the config and report the result.

    Exit 0 when applied, 1 when refused: the daemon keeps running the old config
    and the errors are printed. With --dry-run the daemon reads the file and
    prints what a reload would change in the desired ip_vs table and the anycast
    routes, with the virtuals and reals added, removed and changed; nothing is
    applied (exit 1 if the file would be refused)."""
    args = {"dry_run": True} if dry_run else {}
    report(send(config, "reload", args, timeout))
