"""The route writer next to a large foreign table in gobgpd (issue 11, finding 3).

    sudo .venv/bin/python bench/routing_rib.py [--routes 100000,1000000] [--gobgpd 3.10.0]

The lab's router (BIRD) sends gobgpd N foreign IPv4 /24s (a partial or full
Internet table) plus two learned routes inside the anycast prefix. Measured,
per N, in the same run:

  exact        ListPath as the writer issues it for its known VIPs: exact
               lookups (wall time per read, gobgpd CPU per read)
  scan         the writer's scan of an IPv4 /24 (256 exact lookups), and a
               LONGER lookup as it scans a prefix too big to enumerate
  whole table  ListPath of the whole IPv4 table, as the writer read it before
               (once, with a deadline long enough to finish)
  writer       a RouteWriter with 10 VIPs: start -> converge_now() True; one
               more VIP: submit() -> at the router; stop(withdraw=True); the
               worst lateness of a 10 ms timer on its loop meanwhile

Everything runs in the namespaces of tests/integration/routing/lab.py.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.routing_propagation import Bird, wait_for  # noqa: E402
from ldirectord_py.routing.gobgp import GoBGPClient  # noqa: E402
from ldirectord_py.routing.model import Route, host_prefix  # noqa: E402
from ldirectord_py.routing.writer import RouteWriter  # noqa: E402
from tests.integration.routing.lab import GOBGPD_INSTALLED, Lab  # noqa: E402

T = TypeVar("T")
PREFIXES = ("198.51.100.0/24", "2001:db8:ff::/48")
READS = 20


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def lag_during(awaitable: Awaitable[T]) -> tuple[T, float]:
    worst = 0.0

    async def probe() -> None:
        nonlocal worst
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - start - 0.01)

    task = asyncio.get_running_loop().create_task(probe())
    try:
        result = await awaitable
    finally:
        task.cancel()
    return result, worst


async def timed_reads(client: GoBGPClient, pid: int, rounds: int, **kw: Any) -> dict[str, Any]:
    """Wall time per read (median, max), gobgpd CPU per read, paths returned."""
    times: list[float] = []
    cpu0 = cpu_seconds(pid)
    found = 0
    for _ in range(rounds):
        t0 = time.monotonic()
        found = len(await client.list_paths(4, **kw))
        times.append(time.monotonic() - t0)
    cpu = (cpu_seconds(pid) - cpu0) / rounds
    ms = sorted(t * 1000 for t in times)
    return {
        "paths": found,
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(ms[-1], 1),
        "gobgpd_cpu_ms": round(cpu * 1000, 1),
    }


async def reads(lab: Lab, pid: int, whole: bool) -> dict[str, Any]:
    within = tuple(ipaddress.ip_network(p) for p in PREFIXES)
    vips = [host_prefix(f"198.51.100.{i}") for i in range(10, 20)]
    hosts = [host_prefix(f"198.51.100.{i}") for i in range(256)]
    client = GoBGPClient(lab.gobgp_target(), timeout=900)
    await client.get_bgp()
    for vip in vips:
        await client.add_path(Route(vip))
    out = {
        # what the writer does at connect, on a doubt and every 30 s
        "exact_10_vips": await timed_reads(client, pid, READS, exact=vips),
        # the writer's scan for unknown routes of ours in an IPv4 /24 (at
        # connect, every 10 min): its 256 host routes, looked up one by one
        "scan_24_exact": await timed_reads(client, pid, READS // 4, exact=hosts),
        # the scan of a prefix too big to enumerate (an IPv6 /48 does this in
        # the IPv6 table): one LONGER lookup
        "scan_longer": await timed_reads(client, pid, READS // 4, longer=within),
    }
    if whole:  # what the writer did before: the whole table, each time
        out["whole_table"] = await timed_reads(client, pid, 1, whole=True)
    for vip in vips:
        await client.delete_path(vip)
    await client.close()
    return out


async def writer(lab: Lab) -> dict[str, Any]:
    bird = Bird(lab.dir / "router.ctl")
    await bird.open()
    logs: list[str] = []
    w = RouteWriter(target=lab.gobgp_target(), prefixes=lab.prefixes, log=logs.append)
    vips = {
        host_prefix(f"198.51.100.{i}"): Route(host_prefix(f"198.51.100.{i}")) for i in range(10, 20)
    }
    t0 = time.monotonic()
    w.start()
    w.submit(vips)
    ok, lag1 = await lag_during(w.converge_now(60))
    converge = time.monotonic() - t0
    one = host_prefix("198.51.100.30")
    t0 = time.monotonic()
    w.submit({**vips, one: Route(one)})
    await wait_for(lambda: bird.has(one), 30)
    propagation = time.monotonic() - t0
    _, lag2 = await lag_during(w.converge_now(60))
    t0 = time.monotonic()
    _, lag3 = await lag_during(w.stop(withdraw=True))
    stop = time.monotonic() - t0
    await wait_for(lambda: _none(bird, [*vips, one]), 30)
    await bird.close()
    return {
        "converged": ok,
        "start_to_converged_s": round(converge, 3),
        "one_vip_at_router_ms": round(propagation * 1000, 1),
        "stop_withdraw_s": round(stop, 3),
        "loop_lag_worst_ms": round(max(lag1, lag2, lag3) * 1000, 1),
        "errors_logged": [line for line in logs if "failed" in line],
    }


async def _none(bird: Bird, vips: list[Any]) -> bool:
    for v in vips:
        if await bird.has(v):
            return False
    return True


async def one_size(n: int, version: str, whole: bool) -> dict[str, Any]:
    t0 = time.monotonic()
    with Lab(prefixes=PREFIXES, foreign_routes=n, gobgpd_version=version) as lab:
        lab.wait_foreign_table(timeout=1800)
        loaded = time.monotonic() - t0
        pid = lab.speaker_pid()
        assert pid is not None
        result: dict[str, Any] = {
            "routes_in_gobgpd": lab.table_size(),
            "table_loaded_s": round(loaded, 1),
            "gobgpd_rss_mib": round(rss_mib(pid), 0),
        }
        result["writer"] = await writer(lab)
        print(version, n, "writer", json.dumps(result["writer"]), flush=True)
        result["listpath"] = await reads(lab, pid, whole)
        print(version, n, "listpath", json.dumps(result["listpath"]), flush=True)
        return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": os.getloadavg(), "nproc": os.cpu_count()}
    for version in args.gobgpd.split(","):
        for n in (int(x) for x in args.routes.split(",")):
            res = await one_size(n, version, not args.no_whole)
            out[f"{version} {n}"] = res
            print(version, n, json.dumps(res), flush=True)
    out["load_after"] = os.getloadavg()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", default="100000,1000000")
    parser.add_argument("--gobgpd", default=GOBGPD_INSTALLED)
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--no-whole", action="store_true", help="skip the whole-table read (minutes at 1M)"
    )
    a = parser.parse_args()
    res = asyncio.run(main(a))
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
