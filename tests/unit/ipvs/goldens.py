"""Load the recorded ipvsadm goldens (golden/*.json, see golden/record_goldens.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldirectord_py.ipvs.connections import Connection, parse_ip_vs_conn
from ldirectord_py.ipvs.format import ListingOptions
from ldirectord_py.ipvs.model import (
    Destination,
    DestinationCounters,
    Family,
    Forwarding,
    IPAddress,
    IPVSInfo,
    Protocol,
    SchedFlags,
    ServiceKey,
    Stats,
    Table,
    VirtualService,
    as_address,
)

GOLDEN_DIR = Path(__file__).parent / "golden"


@dataclass(frozen=True)
class RecordedListing:
    args: list[str]
    rc: int
    stdout: str
    stderr: str
    connections: tuple[Connection, ...] = ()


@dataclass(frozen=True)
class Golden:
    name: str
    table: Table | None
    resolver: RecordedNames
    listings: list[RecordedListing]


class RecordedNames:
    """The names the C library gave in the guest when the golden was recorded."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.hosts: dict[str, str | None] = names["hosts"]
        self.services: dict[str, str | None] = names["services"]
        self.asked: list[str] = []

    def host_name(self, address: IPAddress) -> str | None:
        self.asked.append(str(address))
        return self.hosts[str(address)]

    def service_name(self, port: int, protocol: str) -> str | None:
        return self.services[f"{port}/{protocol}"]


def _stats(values: list[int]) -> Stats:
    return Stats(*values)


def table_from_json(data: dict[str, Any]) -> Table:
    services = []
    for s in data["services"]:
        destinations = tuple(
            Destination(
                as_address(d["address"]),
                d["port"],
                Forwarding(d["forwarding"]),
                d["weight"],
                d["upper_threshold"],
                d["lower_threshold"],
                DestinationCounters(
                    d["active"], d["inactive"], d["persistent"], _stats(d["stats"])
                ),
            )
            for d in s["destinations"]
        )
        family = Family.INET6 if s["family"] == 6 else Family.INET
        services.append(
            VirtualService(
                family=family,
                protocol=Protocol[s["protocol"]] if s["protocol"] else None,
                address=as_address(s["address"]) if s["address"] else None,
                port=s["port"],
                fwmark=s["fwmark"],
                scheduler=s["scheduler"],
                sched_flags=SchedFlags(s["sched_flags"]),
                persistence=s["persistence"],
                netmask=s["netmask"],
                pe_name=s["pe_name"],
                one_packet=s["one_packet"],
                destinations=destinations,
                stats=_stats(s["stats"]),
            )
        )
    info = IPVSInfo(data["info"]["version"], data["info"]["connection_table_size"])
    return Table(tuple(services), info)


def options_from_args(args: list[str]) -> ListingOptions:
    """ipvsadm's listing arguments as ListingOptions (the forms the goldens use)."""
    words: list[str] = []
    for arg in args:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            words.extend(f"-{c}" for c in arg[1:])
        else:
            words.append(arg)
    flags: dict[str, Any] = {}
    selector: tuple[str, str] | None = None
    ipv6 = False
    it = iter(words)
    for word in it:
        if word in ("-L", "-l"):
            continue
        if word == "-n":
            flags["numeric"] = True
        elif word == "-c":
            flags["connections"] = True
        elif word == "--nosort":
            flags["sort"] = False
        elif word == "-6":
            ipv6 = True
        elif word in ("-t", "-u", "--sctp-service", "-f"):
            selector = (word, next(it))
        elif word.startswith("--"):
            flags[word[2:].replace("-", "_")] = True
        else:
            raise ValueError(f"golden uses an argument the test does not know: {word}")
    if selector is not None:
        kind, value = selector
        if kind == "-f":
            family = Family.INET6 if ipv6 else Family.INET
            flags["service"] = ServiceKey.for_fwmark(int(value), family)
        else:
            protocol = {"-t": Protocol.TCP, "-u": Protocol.UDP, "--sctp-service": Protocol.SCTP}
            flags["service"] = ServiceKey.for_address(protocol[kind], value)
    return ListingOptions(**flags)


def load(path: Path) -> Golden:
    data = json.loads(path.read_text())
    return Golden(
        name=path.stem,
        table=table_from_json(data) if "services" in data else None,
        resolver=RecordedNames(data["names"]),
        listings=[
            RecordedListing(
                o["args"],
                o["rc"],
                o["stdout"],
                o["stderr"],
                parse_ip_vs_conn(o["ip_vs_conn"]) if "ip_vs_conn" in o else (),
            )
            for o in data["outputs"]
        ],
    )


def all_goldens() -> list[Golden]:
    return [load(p) for p in sorted(GOLDEN_DIR.glob("*.json"))]
