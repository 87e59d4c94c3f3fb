"""`ldirectordctl list`: the kernel's ip_vs table, printed exactly as `ipvsadm -L`
prints it (read over netlink, no ipvsadm needed), plus our own `--health` column
and `--json`."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

import click

from ldirectord_py.ipvs.format import ListingOptions, ServiceNotFound, render_listing
from ldirectord_py.ipvs.model import (
    Destination,
    Family,
    Forwarding,
    IPVSInfo,
    Protocol,
    ServiceKey,
    Table,
    VirtualService,
    as_address,
)
from ldirectord_py.observe.schema import StatusSnapshot, VirtualSnapshot


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


def daemon_snapshots() -> list[StatusSnapshot]:
    """Every running daemon's status snapshot (those that do not answer or send
    something that does not decode are left out: the listing is the kernel's)."""
    from ldirectord_py.cli.daemon_client import snapshots_quiet

    return snapshots_quiet()


def daemon_health(snapshots: Iterable[StatusSnapshot] | None = None) -> Health:
    """Each real's state from every running daemon's status snapshot."""
    health: Health = {}
    for status in daemon_snapshots() if snapshots is None else snapshots:
        for virtual in status.virtuals:
            for real in virtual.reals:
                if not virtual.service or not real.kernel:
                    continue
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(real.since))
                health[(virtual.service, real.kernel)] = f"{real.state.value} since {since}"
    return health


NOT_PROGRAMMED = "IP Virtual Server table NOT PROGRAMMED: the table ldirectord wants"


def desired_listing(snapshots: Iterable[StatusSnapshot], options: ListingOptions, why: str) -> str:
    """Without ip_vs: the table the daemons want, as `ipvsadm -L -n` would list it
    once programmed, under a header that says it is not (`list -n --health`)."""
    services: dict[ServiceKey, VirtualService] = {}
    for status in snapshots:
        for virtual in status.virtuals:
            service = _desired_service(virtual)
            if service is not None and service.key not in services:
                services[service.key] = service
    table = Table(tuple(services.values()), IPVSInfo(0, 0))
    body = render_listing(table, options).splitlines()  # ServiceNotFound as for the kernel's
    if options.service is None:
        body = body[1:]  # the version line, which the header below replaces
    return "\n".join([f"{NOT_PROGRAMMED} ({why})", *body]) + "\n"


def _desired_service(virtual: VirtualSnapshot) -> VirtualService | None:
    """The ip_vs service a virtual's snapshot describes, with the reals that have
    a weight (those the table has or will have) and the fallback while active."""
    if not virtual.service:
        return None
    try:
        key = _parse_service(virtual.service)
        destinations: dict[str, Destination] = {}
        for real in virtual.reals:
            if real.weight is None or not real.kernel or real.kernel in destinations:
                continue
            destinations[real.kernel] = _destination(real.kernel, real.forward, real.weight)
        if virtual.fallback_active and virtual.fallback_kernel:
            destinations.setdefault(
                virtual.fallback_kernel,
                _destination(virtual.fallback_kernel, virtual.fallback_forward, 1),
            )
        return VirtualService(
            family=key.family,
            protocol=key.protocol,
            address=key.address,
            port=key.port,
            fwmark=key.fwmark,
            scheduler=virtual.scheduler or "wrr",
            persistence=virtual.persistence,
            destinations=tuple(destinations.values()),
        )
    except ValueError:
        return None  # not a service this client can read back: not listed


_FORWARDING = {f.label: f for f in Forwarding}
"""The Forward column's word (the snapshot's `forward`) back to the method."""


def _destination(kernel: str, forward: str | None, weight: int) -> Destination:
    """A destination from a snapshot's `kernel` (ADDR:PORT) and `forward` words."""
    host, _, port = kernel.rpartition(":")
    return Destination.of(
        as_address(host), int(port), _FORWARDING.get(forward or "", Forwarding.ROUTE), weight=weight
    )


def _parse_service(text: str) -> ServiceKey:
    """`TCP 192.0.2.1:80`, `FWM 7`, `FWM 7 IPv6` (as ServiceKey prints them)."""
    words = text.split()
    if words[0] == "FWM":
        family = Family.INET6 if words[-1] == "IPv6" else Family.INET
        return ServiceKey.for_fwmark(int(words[1]), family)
    if len(words) != 2 or words[0] not in Protocol.__members__:
        raise ValueError(f"not a service: {text!r}")
    return ServiceKey.for_address(Protocol[words[0]], words[1])


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
    from ldirectord_py.ipvs.listing import live_listing
    from ldirectord_py.ipvs.netlink import IPVSError, IPVSUnavailable

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
        try:
            text = live_listing(options, as_json=as_json)
        except IPVSUnavailable as exc:
            snapshots = daemon_snapshots() if health and not as_json and not connection else []
            if not snapshots:
                raise
            # no ip_vs here: what the daemons want instead, marked as not programmed
            listing = desired_listing(snapshots, options, str(exc))
            click.echo(add_health_column(listing, daemon_health(snapshots)), nl=False)
            return
    except ServiceNotFound:
        click.echo("No such service", err=True)
        sys.exit(1)
    except IPVSError as exc:
        click.echo(f"ldirectordctl: {exc}", err=True)
        sys.exit(1)
    if health and not as_json:
        text = add_health_column(text, daemon_health())
    click.echo(text, nl=False)
