"""ldirectord-anycast: the paper's fallbackcommand, as a standalone program.

    virtual = 198.51.100.10:80
        fallbackcommand = "ldirectord-anycast --gobgpapi 127.0.0.1:50051 --prefix 198.51.100.0/24"

(Inside a virtual, quoted or not; as a global directive, without quotes: the
original keeps a global value's quotes and the shell then looks for a program
named by the whole quoted string.)

ldirectord (the Perl original and ours alike) runs the fallbackcommand as
`<command> start|stop VIP:PORT PROTO`. Mind the direction, which follows the
*fallback*, not the route:

    start  the fallback starts: every real server of the virtual is down
           -> the VIP's route is WITHDRAWN (routers send users to another site)
    stop   the fallback ends: a real server is back
           -> the VIP's route is ANNOUNCED again

For people at a shell the same actions exist as `withdraw VIP` and
`announce VIP`. VIP may be `198.51.100.10:80`, `[2001:db8:ff::10]:80` or a bare
address; fwmark services (ldirectord passes `:0 fwm`) have no address and are
refused. A VIP outside every `--prefix` is refused: nothing is announced.

Methods: `gobgp` (default) adds or deletes the /32 or /128 in gobgpd over gRPC;
`interface` adds or removes the VIP address on `--interface` (default lo) for a
routing daemon that redistributes connected routes.

Exit status: 0 done (and verified), 1 the route could not be changed (GoBGP
unreachable or failing, netlink error, missing interface), 2 refused (bad
arguments, fwmark, VIP outside the prefixes).
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from collections.abc import Sequence

import click

from ldirectord_py.networks import Network, inside
from ldirectord_py.routing.model import (
    API_VERSIONS,
    ApiVersion,
    HostPrefix,
    Origin,
    Route,
    host_prefix,
)

EXIT_FAILED = 1
EXIT_REFUSED = 2

ACTIONS = {"start": "withdraw", "stop": "announce", "withdraw": "withdraw", "announce": "announce"}


class Refused(Exception):
    pass


class Failed(Exception):
    pass


def parse_vip(text: str, proto: str | None) -> HostPrefix:
    """'198.51.100.10:80', '[2001:db8::1]:80' or a bare address -> its host prefix."""
    if proto is not None and proto.lower() in ("fwm", "fwmark"):
        raise Refused(
            f"{text} {proto}: a fwmark service has no VIP address to announce; "
            "give the anycast VIP its own virtual=ADDRESS:PORT service"
        )
    value = text.strip()
    if value.startswith("["):
        address, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise Refused(f"{text}: expected [IPv6]:PORT")
    elif value.count(":") == 1:
        address = value.partition(":")[0]
    else:
        address = value
    if not address:
        raise Refused(f"{text!r}: no VIP address (a fwmark service?)")
    try:
        return host_prefix(address)
    except ValueError:
        raise Refused(f"{text}: {address!r} is not an IP address") from None


def check_inside(vip: HostPrefix, prefixes: Sequence[Network]) -> None:
    if not inside(vip, prefixes):
        listed = ", ".join(str(p) for p in prefixes)
        raise Refused(f"{vip} is outside the anycast prefixes ({listed}): not announced")


CONNECT_ATTEMPTS = 3
"""gobgpd unreachable is retried this often (0.5 s, then 1 s apart): a fallbackcommand
that gives up on the first refused or slow connection leaves the route wrong
until the next transition, which may be hours away."""


async def via_gobgp(
    action: str, route: Route, target: str, timeout: float, version: ApiVersion = "auto"
) -> str:
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            return await _via_gobgp_once(action, route, target, timeout, version)
        except _Unreachable as exc:
            if attempt == CONNECT_ATTEMPTS - 1:
                raise Failed(str(exc.error)) from None
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover  (the loop returns or raises)


class _Unreachable(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


async def _via_gobgp_once(
    action: str, route: Route, target: str, timeout: float, version: ApiVersion
) -> str:
    from ldirectord_py.routing.gobgp import GoBGPClient, GoBGPError

    client = GoBGPClient(target, timeout=timeout, version=version)
    api = ""
    try:
        info = await client.get_bgp()
        api = client.dialect.label if client.dialect else ""
        if action == "announce":
            await client.add_path(route, local_asn=info.asn)
        else:
            await client.delete_path(route.prefix)
        paths = await client.list_paths(route.prefix.version, exact=(route.prefix,))
        ours = [p for p in paths if p.local and p.prefix == route.prefix]
        if action == "announce" and not any(p.matches(route, info.asn) for p in ours):
            raise Failed(f"GoBGP at {target}: {route.prefix} is not in its table after AddPath")
        if action == "withdraw" and ours:
            raise Failed(
                f"GoBGP at {target}: {route.prefix} is still in its table after DeletePath"
            )
    except GoBGPError as exc:
        if exc.unavailable:
            raise _Unreachable(exc) from None
        raise Failed(str(exc)) from None
    finally:
        await client.close()
    done = "announced" if action == "announce" else "withdrew"
    return f"{done} {route.prefix} via GoBGP {api} at {target}"


def via_interface(action: str, vip: HostPrefix, ifname: str) -> str:
    from ldirectord_py.routing.interface import NetlinkAddresses

    netlink = NetlinkAddresses(None)
    try:
        index = netlink.index(ifname)
        if index is None:
            raise Failed(f"interface {ifname} does not exist")
        if action == "announce":
            netlink.add(index, vip)
        else:
            netlink.remove(index, vip)
        present = vip in netlink.host_addresses(index)
    except Failed:
        raise
    except Exception as exc:
        raise Failed(f"netlink on {ifname}: {exc}") from None
    finally:
        netlink.close()
    if present != (action == "announce"):
        raise Failed(f"{vip} on {ifname}: the change did not take")
    if action == "announce":
        return f"added {vip} to {ifname}"
    return f"removed {vip} from {ifname}"


def _prefix(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Network]:
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v, strict=True))
        except ValueError as exc:
            raise click.BadParameter(f"{v}: {exc}") from None
    return out


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Announce or withdraw an anycast VIP's route; ldirectord's fallbackcommand. "
        "ACTION is start (fallback starts: all reals down -> WITHDRAW the route), "
        "stop (fallback ends -> ANNOUNCE it), or withdraw/announce by name. "
        "VIP is ADDRESS:PORT, [IPV6]:PORT or ADDRESS; PROTO (tcp, udp, fwm) is what "
        "ldirectord appends. Exit 0 done, 1 could not change the route, 2 refused."
    ),
)
@click.option(
    "--gobgpapi",
    default="127.0.0.1:50051",
    show_default=True,
    help="GoBGP API: host:port or unix:/path.",
)
@click.option(
    "--gobgpversion",
    type=click.Choice(list(API_VERSIONS)),
    default="auto",
    show_default=True,
    help="GoBGP API: auto finds it (4.x, then 3.x); 3 or 4 pins it.",
)
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    required=True,
    callback=_prefix,
    help="Anycast prefix (repeatable); a VIP outside all of them is refused.",
)
@click.option("--nexthop", default=None, help="Next hop (default: the BGP session's address).")
@click.option("--community", "communities", multiple=True, help="Community a:b (repeatable).")
@click.option("--med", type=click.IntRange(0, 0xFFFFFFFF), default=None, help="MULTI_EXIT_DISC.")
@click.option(
    "--prepend", type=click.IntRange(0, 32), default=0, help="Extra copies of the local AS."
)
@click.option(
    "--origin", type=click.Choice(["igp", "egp", "incomplete"]), default="igp", show_default=True
)
@click.option(
    "--method", type=click.Choice(["gobgp", "interface"]), default="gobgp", show_default=True
)
@click.option(
    "--interface",
    "ifname",
    default="lo",
    show_default=True,
    help="With --method interface: where the VIP address lives.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=3.0,
    show_default=True,
    help="Seconds allowed for each GoBGP call.",
)
@click.argument("action", metavar="ACTION", type=click.Choice(sorted(ACTIONS)))
@click.argument("vip", metavar="VIP")
@click.argument("proto", metavar="[PROTO]", required=False)
def cli(
    gobgpapi: str,
    gobgpversion: ApiVersion,
    prefixes: list[Network],
    nexthop: str | None,
    communities: tuple[str, ...],
    med: int | None,
    prepend: int,
    origin: Origin,
    method: str,
    ifname: str,
    timeout: float,
    action: str,
    vip: str,
    proto: str | None,
) -> None:
    what = ACTIONS[action]
    try:
        prefix = parse_vip(vip, proto)
        check_inside(prefix, prefixes)
        try:
            route = Route(
                prefix,
                next_hop=nexthop,
                origin=origin,
                med=med,
                communities=communities,
                prepend=prepend,
            )
            from ldirectord_py.routing.messages import check_route

            check_route(route)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        if method == "gobgp":
            from ldirectord_py.routing.gobgp import grpc_target

            try:
                grpc_target(gobgpapi)
            except ValueError as exc:
                raise Refused(str(exc)) from None
            message = asyncio.run(via_gobgp(what, route, gobgpapi, timeout, gobgpversion))
        else:
            message = via_interface(what, prefix, ifname)
    except Refused as exc:
        click.echo(f"ldirectord-anycast: refused: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    except Failed as exc:
        click.echo(f"ldirectord-anycast: {action} {vip}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    reason = {
        "start": " (fallback started: no real server up)",
        "stop": " (fallback ended: a real server is up)",
    }.get(action, "")
    click.echo(f"ldirectord-anycast: {message}{reason}")


def main() -> None:
    cli(prog_name="ldirectord-anycast")
