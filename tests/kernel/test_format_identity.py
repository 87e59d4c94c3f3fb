"""Our listing is ipvsadm's, byte for byte, on random tables in a real kernel.

Each random table is programmed with our backend, read back (and must equal what
was generated), then listed by format.py and by `ipvsadm` 1.31 in several forms;
every pair must be identical. The tables are drawn from a seeded generator
rather than hypothesis: under the guest's emulation each table costs about half
a second of ipvsadm runs, so shrinking would not pay, while a seed reproduces any
failure exactly (IPVS_IDENTITY_SEED=<seed> IPVS_IDENTITY_TABLES=<n>).
"""

from __future__ import annotations

import ipaddress
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest

from ldirectord_py.ipvs.format import ListingOptions, render_listing
from ldirectord_py.ipvs.model import (
    MAX_PERSISTENCE,
    MAX_WEIGHT,
    SCHEDULERS,
    Destination,
    Family,
    Forwarding,
    IPAddress,
    Protocol,
    SchedFlags,
    Table,
    VirtualService,
    bracketed,
)
from ldirectord_py.ipvs.netlink import NetlinkIPVS
from ldirectord_py.ipvs.operations import AddDestination, AddService, Operation

if TYPE_CHECKING:
    from conftest import Ipvsadm

SEED = int(os.environ.get("IPVS_IDENTITY_SEED", "20261127"))
TABLES = int(os.environ.get("IPVS_IDENTITY_TABLES", "220"))
MIN_TABLES = 200  # the bar


# ------------------------------------------------------------- random tables ----
def v4(rng: random.Random, destination: bool) -> ipaddress.IPv4Address:
    """Any address for a service; for a destination, one the kernel accepts
    (not 0.0.0.0, not broadcast, not multicast)."""
    while True:
        pick = rng.random()
        if pick < 0.1:
            value = rng.choice([0x7F000001, 0x01020304, 0xC0000201, 0xFFFFFFFE, 0x80000000])
        elif pick < 0.4:  # shared prefixes: ties on the high words
            value = 0xC0000200 | rng.randrange(256)
        else:
            value = rng.getrandbits(32)
        address = ipaddress.IPv4Address(value)
        if not destination or not (value in (0, 0xFFFFFFFF) or address.is_multicast):
            return address


def v6(rng: random.Random, destination: bool) -> ipaddress.IPv6Address:
    """Random words, many of them zero (to exercise :: compression); for a
    destination not ::, link-local, multicast or IPv4-mapped (the kernel refuses)."""
    while True:
        pick = rng.random()
        if pick < 0.1:
            address = ipaddress.IPv6Address(rng.choice(["::1", "::10.0.0.1", "2001:db8::1"]))
        else:
            zero = rng.random()
            words = [0 if rng.random() < zero else rng.getrandbits(16) for _ in range(8)]
            if pick < 0.5:
                words[:2] = [0x2001, 0x0DB8]
            address = ipaddress.IPv6Address(sum(w << (16 * (7 - i)) for i, w in enumerate(words)))
        if not destination:
            if int(address):
                return address
            continue
        if not (
            int(address) == 0
            or address.is_link_local
            or address.is_multicast
            or address.ipv4_mapped is not None
        ):
            return address


def address(rng: random.Random, family: Family, destination: bool) -> IPAddress:
    return v4(rng, destination) if family is Family.INET else v6(rng, destination)


def random_port(rng: random.Random) -> int:
    return rng.choice([rng.randrange(65536), rng.choice([0, 22, 25, 53, 80, 443, 5060, 8080])])


def random_destination(rng: random.Random, service: VirtualService) -> Destination:
    forwarding = rng.choice(list(Forwarding))
    family = service.family
    if forwarding is Forwarding.TUNNEL and rng.random() < 0.2:  # the other family, tunnelled
        family = Family.INET6 if family is Family.INET else Family.INET
    upper = rng.choice([0, 0, rng.randrange(1000), rng.randrange(MAX_WEIGHT + 1)])
    return service.stored_destination(
        Destination(
            address(rng, family, destination=True),
            random_port(rng),
            forwarding,
            weight=rng.choice([0, 1, rng.randrange(100), rng.randrange(MAX_WEIGHT + 1)]),
            upper_threshold=upper,
            lower_threshold=rng.randrange(upper + 1) if rng.random() < 0.5 else 0,
        )
    )


def random_service(rng: random.Random, near: VirtualService | None) -> VirtualService:
    # sometimes the same address as another service: order then rests on protocol, port
    shared = near.address if near is not None and rng.random() < 0.3 else None
    family = Family.of(shared) if shared else (Family.INET6 if rng.random() < 0.35 else Family.INET)
    persistent = rng.random() < 0.4
    if family is Family.INET:
        netmask = rng.choice([None, 0xFFFFFF00, 0xFFFF0000, rng.getrandbits(32), 0])
    else:
        netmask = rng.choice([None, 64, 48, rng.randrange(1, 129)])
    settings: dict[str, object] = dict(
        scheduler=rng.choice(SCHEDULERS),
        sched_flags=SchedFlags(rng.choice([0, 0, 0x08, 0x10, 0x18, 0x20, 0x38])),
        persistence=rng.choice([1, 60, 360, MAX_PERSISTENCE, rng.randrange(1, 100000)])
        if persistent
        else None,
        netmask=netmask,
        one_packet=rng.random() < 0.15,
    )
    if shared is None and rng.random() < 0.2:
        fwmark = rng.choice([rng.randrange(1, 100), rng.randrange(1, 2**32)])
        settings["pe_name"] = "sip" if persistent and rng.random() < 0.2 else None
        return VirtualService(family, None, None, 0, fwmark, **settings)  # type: ignore[arg-type]
    protocol = rng.choice([Protocol.TCP, Protocol.TCP, Protocol.UDP, Protocol.SCTP])
    if protocol is Protocol.UDP and persistent and rng.random() < 0.3:
        settings["pe_name"] = "sip"
    addr = shared or address(rng, family, destination=False)
    return VirtualService(family, protocol, addr, random_port(rng), **settings)  # type: ignore[arg-type]


def random_table(rng: random.Random) -> Table:
    size = rng.choice([0, 1, 2, 3, 5, 8, 12, rng.randrange(13, 30)])
    services: dict[object, VirtualService] = {}
    while len(services) < size:
        near = rng.choice(list(services.values())) if services else None
        service = random_service(rng, near)
        if service.key in services:
            continue
        destinations: dict[object, Destination] = {}
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6, 9])):
            d = random_destination(rng, service)
            destinations.setdefault(d.key, d)
        services[service.key] = replace(service, destinations=tuple(destinations.values()))
    return Table(tuple(services.values()))


# ---------------------------------------------------------------- the forms ----
@dataclass(frozen=True)
class Form:
    args: tuple[str, ...]
    options: ListingOptions


ROTATION = [
    Form(("-n", "--stats"), ListingOptions(numeric=True, stats=True)),
    Form(("-n", "--rate"), ListingOptions(numeric=True, rate=True)),
    Form(("-n", "--thresholds"), ListingOptions(numeric=True, thresholds=True)),
    Form(("-n", "--persistent-conn"), ListingOptions(numeric=True, persistent_conn=True)),
    Form(("-n", "--stats", "--exact"), ListingOptions(numeric=True, stats=True, exact=True)),
    Form(("-n", "--nosort"), ListingOptions(numeric=True, sort=False)),
    Form((), ListingOptions()),
    Form(("--thresholds",), ListingOptions(thresholds=True)),
    Form(("-n", "--rate", "--exact"), ListingOptions(numeric=True, rate=True, exact=True)),
    Form(("-n", "--exact"), ListingOptions(numeric=True, exact=True)),
]


def selection_form(rng: random.Random, table: Table) -> Form:
    """-t/-u/--sctp-service/-f [-6] for one of the table's services (numeric)."""
    service = rng.choice(table.services)
    if service.is_fwmark:
        args: tuple[str, ...] = ("-f", str(service.fwmark))
        if service.family is Family.INET6:
            args += ("-6",)
    else:
        assert service.protocol is not None and service.address is not None
        flag = {Protocol.TCP: "-t", Protocol.UDP: "-u", Protocol.SCTP: "--sctp-service"}
        args = (flag[service.protocol], f"{bracketed(service.address)}:{service.port}")
    extra = rng.choice([(), ("--stats",), ("--thresholds",)])
    options = ListingOptions(
        numeric=True,
        service=service.key,
        stats="--stats" in extra,
        thresholds="--thresholds" in extra,
    )
    return Form(("-n", *args, *extra), options)


def forms_for(rng: random.Random, table: Table, index: int) -> list[Form]:
    """`-L -n` for every table, and one other form in turn (each ipvsadm run costs
    about 0.2 s under emulation, which bounds how many a guest run can afford)."""
    if table.services and index % 4 == 0:
        other = selection_form(rng, table)
    else:
        other = ROTATION[index % len(ROTATION)]
    return [Form(("-n",), ListingOptions(numeric=True)), other]


# ----------------------------------------------------------------- the test ----
@pytest.fixture(scope="module")
def backend() -> Iterator[NetlinkIPVS]:
    with NetlinkIPVS() as ipvs:
        yield ipvs


def describe(table: Table) -> str:
    lines = []
    for s in table:
        lines.append(repr(s))
        lines.extend(f"    {d!r}" for d in s.destinations)
    return "\n".join(lines)


def test_random_tables_list_exactly_as_ipvsadm_lists_them(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    rng = random.Random(SEED)
    compared = 0
    started = time.monotonic()
    for index in range(TABLES):
        table = random_table(rng)
        backend.flush()
        operations: list[Operation] = []
        for service in table:
            operations.append(AddService(service))
            operations.extend(AddDestination(service.key, d) for d in service.destinations)
        refused = [
            (op, e) for op, e in zip(operations, backend.execute(operations), strict=True) if e
        ]
        assert not refused, f"seed {SEED}, table {index}: the kernel refused {refused}"

        live = backend.read_table()
        assert live == table, (
            f"seed {SEED}, table {index} read back differently:\n{describe(table)}"
        )
        for form in forms_for(rng, table, index):
            theirs = ipvs_table("-L", *form.args)
            ours = render_listing(live, form.options)
            assert ours == theirs, (
                f"seed {SEED}, table {index}, ipvsadm -L {' '.join(form.args)}\n"
                f"--- ipvsadm\n{theirs}--- ours\n{ours}--- table\n{describe(table)}"
            )
            compared += 1
    elapsed = time.monotonic() - started
    print(f"\n{TABLES} random tables (seed {SEED}), {compared} listings identical, {elapsed:.0f} s")
    assert TABLES >= MIN_TABLES, "the identity bar is 200 random tables"
