"""The IPVS netlink codec alone, natively (no kernel, no socket): microseconds to
decode one GET_DEST / GET_SERVICE reply into the model's Destination /
VirtualService and to encode one request, for the tree on PYTHONPATH and, with
--pyroute2, for pyroute2's IPVS message classes (its decoded values then made
into the same model objects, so that both do the whole job).

    .venv/bin/python bench/ipvs_codec.py --pyroute2
    PYTHONPATH=/tmp/before .venv/bin/python bench/ipvs_codec.py   # an older tree

The replies are built here byte by byte as the kernel sends them (both counter
blocks, the three connection counts), so the same bytes feed every codec. The
operations are those of bench/ipvs_program.py's table from empty (1 service and
10 destinations per VIP). Each figure is the best of --rounds rounds of CPU time
of this process (time.process_time: on a shared machine, time spent waiting for
a CPU is not counted, time spent decoding is).
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import platform
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ldirectord_py.ipvs.model import (
    Destination,
    DestinationCounters,
    Family,
    Forwarding,
    Protocol,
    SchedFlags,
    Stats,
    Table,
    VirtualService,
)
from ldirectord_py.ipvs.operations import AddDestination, AddService, Operation
from ldirectord_py.ipvs.reconcile import plan


def nla(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def stats_blocks() -> bytes:
    narrow = b"".join(
        nla(i, struct.pack("=Q" if i in (4, 5) else "=I", 1000 + i)) for i in range(1, 11)
    )
    wide = b"".join(nla(i, struct.pack("=Q", 2**33 + i)) for i in range(1, 11))
    return nla(10, narrow) + nla(12, wide)


def destination_reply(i: int) -> bytes:
    """IPVS_CMD_ATTR_DEST as the kernel sends it for a masq destination."""
    address = ipaddress.IPv4Address(0x0A000001 + i).packed.ljust(16, b"\0")
    body = (
        nla(1, address)
        + nla(2, struct.pack(">H", 8080))
        + nla(3, struct.pack("=I", 0))
        + nla(4, struct.pack("=I", 1 + i % 5))
        + nla(5, struct.pack("=I", 0))
        + nla(6, struct.pack("=I", 0))
        + nla(7, struct.pack("=I", 3))
        + nla(8, struct.pack("=I", 4))
        + nla(9, struct.pack("=I", 5))
        + stats_blocks()
        + nla(11, struct.pack("=H", 2))
    )
    return nla(2, body)


def service_reply(i: int) -> bytes:
    address = ipaddress.IPv4Address(0xC6120001 + i).packed.ljust(16, b"\0")
    body = (
        nla(1, struct.pack("=H", 2))
        + nla(2, struct.pack("=H", 6))
        + nla(3, address)
        + nla(4, struct.pack(">H", 80))
        + nla(6, b"wrr\0")
        + nla(7, struct.pack("=II", 2, 0xFFFFFFFF))
        + nla(8, struct.pack("=I", 0))
        + nla(9, struct.pack(">I", 0xFFFFFFFF))
        + stats_blocks()
    )
    return nla(1, body)


def operations(services: int, dests: int) -> list[Operation]:
    table = []
    for s in range(services):
        reals = tuple(
            Destination(ipaddress.IPv4Address(0x0A000001 + s * dests + d), 8080, Forwarding.MASQ)
            for d in range(dests)
        )
        vip = ipaddress.IPv4Address(0xC6120001 + s)
        table.append(VirtualService.tcp(vip, 80, scheduler="wrr", destinations=reals))
    ops = plan(Table(tuple(table)), Table(), lambda key: True)
    assert all(isinstance(op, AddService | AddDestination) for op in ops)
    return ops


def ours() -> dict[str, Callable[..., Any]]:
    """The tree's codec: ipvs/codec.py, or the private functions netlink.py had before it."""
    try:
        codec = importlib.import_module("ldirectord_py.ipvs.codec")
        return {
            "destination": codec.decode_destination,
            "service": codec.decode_service,
            "request": codec.request_for,
        }
    except ModuleNotFoundError:
        netlink = importlib.import_module("ldirectord_py.ipvs.netlink")
        return {
            "destination": netlink._decode_destination,
            "service": netlink._decode_service,
            "request": netlink._request_for,
        }


def pyroute2_codec() -> dict[str, Callable[..., Any]]:
    from pyroute2.netlink.generic.ipvs import ipvsmsg

    header = struct.Struct("=IHHII")

    stats_names = [
        "IPVS_STATS_ATTR_" + n
        for n in ("CONNS", "INPKTS", "OUTPKTS", "INBYTES", "OUTBYTES", "CPS", "INPPS", "OUTPPS",
                  "INBPS", "OUTBPS")
    ]  # fmt: skip

    def parse(payload: bytes) -> Any:
        data = header.pack(20 + len(payload), 0x25, 2, 1, 0) + struct.pack("=BBH", 4, 1, 0)
        message = ipvsmsg(data + payload)
        message.decode()
        return message

    def stats(block: Any) -> Stats:
        return Stats(*[block.get_attr(n) or 0 for n in stats_names])

    def destination(payload: bytes, family: Family) -> Destination:
        """The same model object ours makes, from the values pyroute2 decoded."""
        d = parse(payload).get_attr("IPVS_CMD_ATTR_DEST")
        return Destination(
            ipaddress.ip_address(d.get_attr("IPVS_DEST_ATTR_ADDR")),
            d.get_attr("IPVS_DEST_ATTR_PORT"),
            Forwarding(d.get_attr("IPVS_DEST_ATTR_FWD_METHOD") & 7),
            d.get_attr("IPVS_DEST_ATTR_WEIGHT"),
            d.get_attr("IPVS_DEST_ATTR_U_THRESH"),
            d.get_attr("IPVS_DEST_ATTR_L_THRESH"),
            DestinationCounters(
                d.get_attr("IPVS_DEST_ATTR_ACTIVE_CONNS"),
                d.get_attr("IPVS_DEST_ATTR_INACT_CONNS"),
                d.get_attr("IPVS_DEST_ATTR_PERSIST_CONNS"),
                stats(d.get_attr("IPVS_DEST_ATTR_STATS64")),
            ),
        )

    def service(payload: bytes) -> VirtualService:
        a = parse(payload).get_attr("IPVS_CMD_ATTR_SERVICE")
        flags = a.get_attr("IPVS_SVC_ATTR_FLAGS")["flags"]
        return VirtualService(
            Family(a.get_attr("IPVS_SVC_ATTR_AF")),
            Protocol(a.get_attr("IPVS_SVC_ATTR_PROTOCOL")),
            ipaddress.ip_address(a.get_attr("IPVS_SVC_ATTR_ADDR")),
            a.get_attr("IPVS_SVC_ATTR_PORT"),
            scheduler=a.get_attr("IPVS_SVC_ATTR_SCHED_NAME"),
            sched_flags=SchedFlags(flags & 0x38),
            persistence=a.get_attr("IPVS_SVC_ATTR_TIMEOUT") if flags & 1 else None,
            netmask=int(ipaddress.IPv4Address(a.get_attr("IPVS_SVC_ATTR_NETMASK"))),
            stats=stats(a.get_attr("IPVS_SVC_ATTR_STATS64")),
        )

    def request(op: Operation) -> bytes:
        assert isinstance(op, AddService | AddDestination)
        key = op.service.key if isinstance(op, AddService) else op.service
        service = [
            ("IPVS_SVC_ATTR_AF", int(key.family)),
            ("IPVS_SVC_ATTR_PROTOCOL", int(key.protocol or 0)),
            ("IPVS_SVC_ATTR_ADDR", str(key.address)),
            ("IPVS_SVC_ATTR_PORT", key.port),
        ]
        attrs: list[tuple[str, dict[str, object]]] = []
        if isinstance(op, AddService):
            s = op.service
            service += [
                ("IPVS_SVC_ATTR_SCHED_NAME", s.scheduler),
                ("IPVS_SVC_ATTR_FLAGS", {"flags": s.flags, "mask": 0xFFFFFFFF}),
                ("IPVS_SVC_ATTR_TIMEOUT", 0),
                ("IPVS_SVC_ATTR_NETMASK", "255.255.255.255"),
            ]
            attrs.append(("IPVS_CMD_ATTR_SERVICE", {"attrs": service}))
        else:
            d = op.destination
            attrs.append(("IPVS_CMD_ATTR_SERVICE", {"attrs": service}))
            dest = [
                ("IPVS_DEST_ATTR_ADDR_FAMILY", 2),
                ("IPVS_DEST_ATTR_ADDR", str(d.address)),
                ("IPVS_DEST_ATTR_PORT", d.port),
                ("IPVS_DEST_ATTR_FWD_METHOD", int(d.forwarding)),
                ("IPVS_DEST_ATTR_WEIGHT", d.weight),
                ("IPVS_DEST_ATTR_U_THRESH", 0),
                ("IPVS_DEST_ATTR_L_THRESH", 0),
            ]
            attrs.append(("IPVS_CMD_ATTR_DEST", {"attrs": dest}))
        message = ipvsmsg()
        message["cmd"] = 1 if isinstance(op, AddService) else 5
        message["version"] = 1
        message["attrs"] = attrs
        message.encode()
        return bytes(message.data)

    return {"destination": destination, "service": service, "request": request}


def best_us(rounds: int, items: list[Any], call: Callable[[Any], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for item in items:
            call(item)
        best = min(best, time.process_time() - t0)
    return best / len(items) * 1e6


def measure(codec: dict[str, Callable[..., Any]], args: argparse.Namespace) -> dict[str, float]:
    n = args.services * args.dests
    dests = [destination_reply(i) for i in range(n)]
    services = [service_reply(i) for i in range(args.services)]
    ops = operations(args.services, args.dests)
    family = Family.INET
    return {
        "decode_destination_us": best_us(
            args.rounds, dests, lambda p: codec["destination"](p, family)
        ),
        "decode_service_us": best_us(args.rounds, services, codec["service"]),
        "encode_request_us": best_us(args.rounds, ops, codec["request"]),
    }


def import_seconds(module: str) -> float:
    """CPU time to import `module` in a fresh interpreter (best of 3)."""
    code = f"import time; t=time.process_time(); import {module}; print(time.process_time()-t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    return min(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--dests", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pyroute2", action="store_true", help="also pyroute2's classes")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    results: dict[str, object] = {
        "python": platform.python_version(),
        "services": args.services,
        "destinations_per_service": args.dests,
        "ours": measure(ours(), args),
        "ours_import_seconds": import_seconds("ldirectord_py.ipvs.netlink"),
    }
    if args.pyroute2:
        import pyroute2

        results["pyroute2_version"] = pyroute2.__version__
        results["pyroute2"] = measure(pyroute2_codec(), args)
        results["pyroute2_import_seconds"] = import_seconds("pyroute2.netlink.generic.ipvs")
    for name in ("ours", "pyroute2"):
        if name in results:
            figures = results[name]
            assert isinstance(figures, dict)
            print(
                f"{name:9} decode destination {figures['decode_destination_us']:7.2f} µs, "
                f"service {figures['decode_service_us']:7.2f} µs, "
                f"encode request {figures['encode_request_us']:7.2f} µs, "
                f"import {results[name + '_import_seconds']:.3f} s"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
