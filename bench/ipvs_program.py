"""Programming ip_vs: our netlink backend against one ipvsadm process per operation
(what the Perl original does), on the same real kernel, in the same run.

    scripts/ipvs-vm/run .venv/bin/python bench/ipvs_program.py --services 1000 --dests 10

Measures, for a table of SERVICES x DESTS:
  1. ours: program it from an empty table (reconcile: read, plan, apply);
  2. ours: reconcile again with nothing changed (zero writes; the time is reading);
  3. ours: reconcile after one weight changed (exactly one write);
  4. ipvsadm: the same table from empty, one `ipvsadm` process per operation.
Both results are checked to be the same table. Prints a report and writes JSON.
`--ours-only` leaves out 4 (for a before/after of our side: ipvsadm is the same).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from ldirectord_py.ipvs.model import Destination, Forwarding, Table, VirtualService
from ldirectord_py.ipvs.netlink import NetlinkIPVS
from ldirectord_py.ipvs.operations import AddDestination, AddService
from ldirectord_py.ipvs.reconcile import plan, reconcile

IPVSADM = "/usr/sbin/ipvsadm"


def build_table(services: int, dests: int) -> Table:
    """VIPs in 198.18.0.0/15 (benchmarking range), reals in 10.x, masq so ports stay."""
    vip_base = int(ipaddress.IPv4Address("198.18.0.1"))
    real_base = int(ipaddress.IPv4Address("10.0.0.1"))
    out = []
    for s in range(services):
        vip = ipaddress.IPv4Address(vip_base + s)
        destinations = tuple(
            Destination(
                ipaddress.IPv4Address(real_base + s * dests + d), 8080, Forwarding.MASQ, 1 + d % 5
            )
            for d in range(dests)
        )
        out.append(VirtualService.tcp(vip, 80, scheduler="wrr", destinations=destinations))
    return Table(tuple(out))


def ipvsadm_args(op: object) -> list[str]:
    if isinstance(op, AddService):
        s = op.service
        return ["-A", "-t", f"{s.address}:{s.port}", "-s", s.scheduler]
    if isinstance(op, AddDestination):
        d = op.destination
        service = op.service
        return [
            "-a", "-t", f"{service.address}:{service.port}", "-r", f"{d.address}:{d.port}",
            "-m", "-w", str(d.weight),
        ]  # fmt: skip
    raise TypeError(f"unexpected operation {op}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--dests", type=int, default=10)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ipvs_program.json"))
    parser.add_argument("--ours-only", action="store_true", help="skip the ipvsadm run")
    args = parser.parse_args()

    desired = build_table(args.services, args.dests)
    owns = {s.key for s in desired.services}.__contains__
    results: dict[str, object] = {
        "services": args.services,
        "destinations_per_service": args.dests,
        "kernel": platform.release(),
    }
    with NetlinkIPVS() as backend:
        backend.flush()
        t0 = time.perf_counter()
        report = reconcile(desired, backend, owns)
        ours = time.perf_counter() - t0
        assert report.ok, report
        assert backend.read_table() == desired
        results["ours_program_seconds"] = ours
        results["ours_operations"] = report.applied

        t0 = time.perf_counter()
        live = backend.read_table()
        read_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        unchanged = plan(desired, live, owns)
        plan_seconds = time.perf_counter() - t0
        assert unchanged == [], unchanged
        results["ours_reconcile_unchanged_read_seconds"] = read_seconds
        results["ours_reconcile_unchanged_plan_seconds"] = plan_seconds
        results["ours_reconcile_unchanged_writes"] = len(unchanged)

        first = desired.services[0]
        changed_dest = replace(first.destinations[0], weight=first.destinations[0].weight + 7)
        changed_first = replace(first, destinations=(changed_dest, *first.destinations[1:]))
        changed = Table((changed_first, *desired.services[1:]))
        t0 = time.perf_counter()
        report = reconcile(changed, backend, owns)
        one = time.perf_counter() - t0
        assert report.ok and report.applied == 1, report
        results["ours_reconcile_one_weight_seconds"] = one
        results["ours_reconcile_one_weight_writes"] = report.applied

        backend.flush()
        theirs = float("nan")
        if not args.ours_only:
            operations = plan(desired, Table(), owns)
            t0 = time.perf_counter()
            for op in operations:
                subprocess.run([IPVSADM, *ipvsadm_args(op)], check=True)
            theirs = time.perf_counter() - t0
            assert backend.read_table() == desired
            results["ipvsadm_program_seconds"] = theirs
            results["ipvsadm_operations"] = len(operations)
            results["ratio_ipvsadm_over_ours"] = theirs / ours
            backend.flush()

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    theirs_lines = (
        f"ipvsadm per operation:       {theirs:9.3f} s\n"
        f"ratio:                       {theirs / ours:9.1f}x faster\n"
        if not args.ours_only
        else ""
    )
    print(
        f"table: {args.services} services x {args.dests} destinations "
        f"({results['ours_operations']} operations), kernel {results['kernel']}\n"
        f"ours, from empty:            {ours:9.3f} s\n"
        f"{theirs_lines}"
        f"reconcile, nothing changed:  0 writes, read {read_seconds:.3f} s + plan "
        f"{plan_seconds:.3f} s\n"
        f"reconcile, one weight:       {results['ours_reconcile_one_weight_writes']} write, "
        f"{one:.3f} s (read + plan + write)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
