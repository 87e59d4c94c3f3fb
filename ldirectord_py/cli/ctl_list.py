"""`ldirectordctl list`: the kernel's ip_vs table, printed exactly as `ipvsadm -L`
prints it (read over netlink, no ipvsadm needed), plus our own `--health` column
and `--json`."""

from __future__ import annotations

import sys
import time

import click

from ldirectord_py.ipvs.model import Family, Protocol, ServiceKey


def _service_key(
    tcp: str | None, udp: str | None, sctp: str | None, fwmark: int | None, ipv6: bool
) -> ServiceKey | None:
    chosen = [x for x in (tcp, udp, sctp, fwmark) if x is not None]
    if len(chosen) > 1:
        raise click.UsageError("give at most one of -t, -u, --sctp-service and -f")
    if ipv6 and fwmark is None:
        raise click.UsageError("-6 goes with -f (an IPv6 fwmark service)")
    try:
        if tcp is not None:
            return ServiceKey.for_address(Protocol.TCP, tcp)
        if udp is not None:
            return ServiceKey.for_address(Protocol.UDP, udp)
        if sctp is not None:
            return ServiceKey.for_address(Protocol.SCTP, sctp)
    except ValueError as exc:
        raise click.BadParameter(f"not an address:port ({exc})") from None
    if fwmark is not None:
        return ServiceKey.for_fwmark(fwmark, Family.INET6 if ipv6 else Family.INET)
    return None


Health = dict[tuple[str, str], str]


def add_health_column(listing: str, health: Health | None = None) -> str:
    """Append a Health column to each destination line: the state a running daemon
    reports for that real in that service, `unknown` where none does."""
    out = []
    service = ""
    for line in listing.splitlines():
        if line.startswith("  -> RemoteAddress:Port"):
            line += " Health"
        elif line.startswith("  -> "):
            hostport = line[5:].split()[0]
            line += " " + (health or {}).get((service, hostport), "unknown")
        elif line[:1].isupper() and not line.startswith(("IP Virtual", "Prot ")):
            words = line.split()
            service = " ".join(words[:3] if words[2:3] == ["IPv6"] else words[:2])
        out.append(line)
    return "\n".join(out) + "\n"


def daemon_health() -> Health:
    """Each real's state from every running daemon's status socket."""
    from ldirectord_py.cli.daemon_client import statuses

    health: Health = {}
    for _path, status in statuses(None, quiet=True):
        for virtual in status.get("virtuals", []):
            for real in virtual.get("reals", []):
                if not virtual.get("service") or not real.get("kernel"):
                    continue
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(real["since"]))
                health[(virtual["service"], real["kernel"])] = f"{real['state']} since {since}"
    return health


@click.command(name="list")
@click.option("-L", "-l", "list_flag", is_flag=True, help="Accepted for ipvsadm habits.")
@click.option("-n", "--numeric", is_flag=True, help="Addresses and ports as numbers.")
@click.option("--stats", is_flag=True, help="Connection, packet and byte counters.")
@click.option("--rate", is_flag=True, help="Rates per second.")
@click.option("--thresholds", is_flag=True, help="Upper and lower connection thresholds.")
@click.option("--persistent-conn", is_flag=True, help="Persistent connection counts.")
@click.option("--exact", is_flag=True, help="Counters unscaled.")
@click.option("--nosort", is_flag=True, help="The kernel's order, not ipvsadm's.")
@click.option("-c", "--connection", is_flag=True, help="The connection table.")
@click.option("-t", "--tcp-service", "tcp", metavar="ADDR:PORT", help="Only this TCP service.")
@click.option("-u", "--udp-service", "udp", metavar="ADDR:PORT", help="Only this UDP service.")
@click.option("--sctp-service", "sctp", metavar="ADDR:PORT", help="Only this SCTP service.")
@click.option("-f", "--fwmark-service", "fwmark", type=int, metavar="MARK", help="Only this.")
@click.option("-6", "--ipv6", is_flag=True, help="With -f: the IPv6 fwmark service.")
@click.option("--health", is_flag=True, help="Add each real's check state.")
@click.option("--json", "as_json", is_flag=True, help="The same data as JSON.")
def list_command(
    list_flag: bool,
    numeric: bool,
    stats: bool,
    rate: bool,
    thresholds: bool,
    persistent_conn: bool,
    exact: bool,
    nosort: bool,
    connection: bool,
    tcp: str | None,
    udp: str | None,
    sctp: str | None,
    fwmark: int | None,
    ipv6: bool,
    health: bool,
    as_json: bool,
) -> None:
    """The ip_vs table, byte for byte as `ipvsadm -L` with the same switches."""
    from ldirectord_py.ipvs.format import ListingOptions, ServiceNotFound
    from ldirectord_py.ipvs.listing import live_listing
    from ldirectord_py.ipvs.netlink import IPVSError

    options = ListingOptions(
        numeric=numeric,
        stats=stats,
        rate=rate,
        thresholds=thresholds,
        persistent_conn=persistent_conn,
        exact=exact,
        sort=not nosort,
        service=_service_key(tcp, udp, sctp, fwmark, ipv6),
        connections=connection,
    )
    try:
        text = live_listing(options, as_json=as_json)
    except ServiceNotFound:
        click.echo("No such service", err=True)
        sys.exit(1)
    except IPVSError as exc:
        click.echo(f"ldirectordctl: {exc}", err=True)
        sys.exit(1)
    if health and not as_json:
        text = add_health_column(text, daemon_health())
    click.echo(text, nl=False)
