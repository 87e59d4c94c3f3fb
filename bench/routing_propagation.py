"""Anycast route control, measured: our RouteWriter, real gobgpd, a real BIRD router.

    sudo .venv/bin/python bench/routing_propagation.py [--rounds 20] [--json out.json]
    sudo .venv/bin/python bench/routing_propagation.py --gobgpd 3.10.0,3.36.0,4.8.0
    make bench-routing

`--gobgpd` runs the lab with each gobgpd release in turn (tests/integration/
routing/lab.py GOBGPD_VERSIONS; 3.36.0 and 4.8.0 come from
scripts/fetch-gobgpd.sh): the same writer over the 3.x and the 4.x API.

What (targets from issue 5):
  propagation  submit() -> the route appears / disappears in BIRD's table (< 50 ms)
  restart      gobgpd restarted (SIGTERM, start) -> our routes back at BIRD (< 2 s)
  dead site    gobgpd SIGKILLed, and frozen (SIGSTOP: no FIN, only the hold
               timer notices), hold time 3 s (GoBGP's minimum) -> BIRD drops
               the site's route (<= 3 s)
  bulk         1,000 VIPs (500 /32 + 500 /128) announced, then withdrawn:
               submit() -> converge_now() True, and -> BIRD holds all / none (< 1 s)

BIRD is read over its control socket directly (no birdc process per query), in
the same event loop as the writer, polling back to back: the timings include
that loop's scheduling, which is what the daemon would see. Everything runs in
the namespaces of tests/integration/routing/lab.py and is torn down at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ldirectord_py.routing.model import HostPrefix, Route, host_prefix  # noqa: E402
from ldirectord_py.routing.writer import RouteWriter  # noqa: E402
from tests.integration.routing.lab import GOBGPD_INSTALLED, Lab, gobgpd_binary  # noqa: E402

PREFIXES = ("198.51.100.0/24", "203.0.113.0/24", "2001:db8:ff::/48")


class Bird:
    """BIRD's control socket: one command at a time, replies read to their last line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(str(self.path))
        await self._reader.readline()  # 0001 BIRD x ready.

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    async def command(self, text: str) -> list[bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(text.encode() + b"\n")
        lines = []
        while True:
            line = await self._reader.readline()
            lines.append(line)
            if len(line) >= 5 and line[:4].isdigit() and line[4:5] == b" ":
                return lines

    async def has(self, prefix: HostPrefix) -> bool:
        lines = await self.command(f"show route {prefix}")
        return not lines[-1].startswith(b"8001")

    async def count(self) -> int:
        lines = await self.command("show route count")
        last = lines[-1].decode()
        return int(last.split("Total:")[1].split()[0]) if "Total:" in last else 0


async def wait_for(check: Any, timeout: float) -> float:
    """Poll `check()` until true; returns the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0)


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
        "min_ms": round(ms[0], 2),
    }


async def propagation(lab: Lab, rounds: int) -> dict[str, Any]:
    bird = Bird(lab.dir / "router.ctl")
    await bird.open()
    w = RouteWriter(target=lab.gobgp_target(), prefixes=lab.prefixes, log=lambda _m: None)
    w.start()
    out: dict[str, list[float]] = {
        "announce_v4": [], "withdraw_v4": [], "announce_v6": [], "withdraw_v6": [],
        "announce_call": [],
    }  # fmt: skip
    base = {host_prefix("198.51.100.1"): Route(host_prefix("198.51.100.1"))}
    w.submit(base)
    assert await w.converge_now(10)
    for i in range(rounds):
        for family, vip in (
            ("v4", host_prefix("198.51.100.10")),
            ("v6", host_prefix("2001:db8:ff::10")),
        ):
            t0 = time.monotonic()
            w.submit({**base, vip: Route(vip, med=i)})
            t1 = await wait_for(lambda v=vip: bird.has(v), 5)
            out[f"announce_{family}"].append(t1 - t0)
            assert await w.converge_now(5)
            out["announce_call"].append(time.monotonic() - t0)
            await asyncio.sleep(0.02)
            t0 = time.monotonic()
            w.submit(base)
            t1 = await wait_for(lambda v=vip: _not(bird.has(v)), 5)
            out[f"withdraw_{family}"].append(t1 - t0)
            await asyncio.sleep(0.02)
    await w.stop(withdraw=True)
    await bird.close()
    return {k: summary(v) for k, v in out.items()}


async def _not(coro: Any) -> bool:
    return not await coro


async def restart(lab: Lab, rounds: int) -> dict[str, Any]:
    bird = Bird(lab.dir / "router.ctl")
    await bird.open()
    w = RouteWriter(target=lab.gobgp_target(), prefixes=lab.prefixes, log=lambda _m: None)
    w.start()
    vips = [host_prefix(f"198.51.100.{i}") for i in range(10, 20)] + [
        host_prefix("2001:db8:ff::10")
    ]
    w.submit({v: Route(v) for v in vips})
    assert await w.converge_now(10)
    await wait_for(lambda: bird.has(vips[-1]), 10)
    back: list[float] = []
    api: list[float] = []
    for _ in range(rounds):
        await asyncio.to_thread(lab.stop_speaker, 0)
        await wait_for(lambda: _not(bird.has(vips[0])), 10)
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await asyncio.to_thread(lab.start_speaker, 0)  # returns when the API socket exists
        t_api = time.monotonic()
        await wait_for(lambda: _all(bird, vips), 15)
        back.append(time.monotonic() - t0)
        api.append(t_api - t0)
    await w.stop(withdraw=True)
    await bird.close()
    return {"routes_back_at_router": summary(back), "gobgpd_api_socket_up": summary(api)}


async def _all(bird: Bird, vips: list[HostPrefix]) -> bool:
    for v in vips:
        if not await bird.has(v):
            return False
    return True


async def dead_site(rounds: int, version: str) -> dict[str, Any]:
    results: dict[str, list[float]] = {"sigkill": [], "sigstop": []}
    for how in ("sigkill", "sigstop"):
        for _ in range(rounds):
            with Lab(prefixes=PREFIXES, hold_time=3, gobgpd_version=version) as lab:
                bird = Bird(lab.dir / "router.ctl")
                await bird.open()
                w = RouteWriter(
                    target=lab.gobgp_target(), prefixes=lab.prefixes, log=lambda _m: None
                )
                w.start()
                vip = host_prefix("198.51.100.10")
                w.submit({vip: Route(vip)})
                assert await w.converge_now(10)
                await wait_for(lambda v=vip, b=bird: b.has(v), 10)
                await w.stop(withdraw=False)
                # Let a keepalive go by so the hold timer is not freshly reset.
                await asyncio.sleep(0.5)
                t0 = time.monotonic()
                sig = signal.SIGKILL if how == "sigkill" else signal.SIGSTOP
                lab.stop_speaker(0, sig, wait=False)
                await wait_for(lambda v=vip, b=bird: _not(b.has(v)), 15)
                results[how].append(time.monotonic() - t0)
                await bird.close()
                lab.thaw_speaker(0)
    return {k: summary(v) for k, v in results.items()}


async def bulk(lab: Lab, rounds: int) -> dict[str, Any]:
    bird = Bird(lab.dir / "router.ctl")
    await bird.open()
    net4a = ipaddress.ip_network("198.51.100.0/24")
    net4b = ipaddress.ip_network("203.0.113.0/24")
    v4 = [host_prefix(str(net4a[i])) for i in range(1, 251)] + [
        host_prefix(str(net4b[i])) for i in range(1, 251)
    ]
    v6 = [host_prefix(f"2001:db8:ff::{i:x}") for i in range(1, 501)]
    desired = {v: Route(v) for v in v4 + v6}
    assert len(desired) == 1000
    out: dict[str, list[float]] = {
        "announce_gobgp": [], "announce_router": [], "withdraw_gobgp": [], "withdraw_router": [],
    }  # fmt: skip
    w = RouteWriter(target=lab.gobgp_target(), prefixes=lab.prefixes, log=lambda _m: None)
    w.start()
    assert await w.converge_now(10)
    for _ in range(rounds):
        t0 = time.monotonic()
        w.submit(desired)
        assert await w.converge_now(20)
        out["announce_gobgp"].append(time.monotonic() - t0)
        await wait_for(lambda: _count_is(bird, 1000), 20)
        out["announce_router"].append(time.monotonic() - t0)
        t0 = time.monotonic()
        w.submit({})
        assert await w.converge_now(20)
        out["withdraw_gobgp"].append(time.monotonic() - t0)
        await wait_for(lambda: _count_is(bird, 0), 20)
        out["withdraw_router"].append(time.monotonic() - t0)
    await w.stop(withdraw=True)
    await bird.close()
    return {k: summary(v) for k, v in out.items()}


async def _count_is(bird: Bird, n: int) -> bool:
    await asyncio.sleep(0.002)
    return await bird.count() == n


async def main(args: argparse.Namespace) -> dict[str, Any]:
    versions = args.gobgpd.split(",")
    if len(versions) == 1:
        return await one_version(args, versions[0])
    out: dict[str, Any] = {}
    for version in versions:
        out[version] = await one_version(args, version)
    return out


async def one_version(args: argparse.Namespace, version: str) -> dict[str, Any]:
    binary = gobgpd_binary(version)
    result: dict[str, Any] = {
        "load_before": os.getloadavg(),
        "nproc": os.cpu_count(),
        "gobgpd": os.popen(f"{binary} --version").read().strip(),
        "bird": os.popen("bird --version 2>&1").read().strip(),
    }
    print("gobgpd", version, flush=True)
    only = set(args.only.split(",")) if args.only else {"propagation", "restart", "dead", "bulk"}
    if only & {"propagation", "restart", "bulk"}:
        with Lab(prefixes=PREFIXES, gobgpd_version=version) as lab:
            if "propagation" in only:
                result["propagation"] = await propagation(lab, args.rounds)
                print("propagation", json.dumps(result["propagation"]), flush=True)
            if "bulk" in only:
                result["bulk_1000"] = await bulk(lab, max(3, args.rounds // 4))
                print("bulk_1000", json.dumps(result["bulk_1000"]), flush=True)
            if "restart" in only:
                result["restart"] = await restart(lab, max(3, args.rounds // 4))
                print("restart", json.dumps(result["restart"]), flush=True)
    if "dead" in only:
        result["dead_site_hold3"] = await dead_site(max(3, args.rounds // 5), version)
        print("dead_site_hold3", json.dumps(result["dead_site_hold3"]), flush=True)
    result["load_after"] = os.getloadavg()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only", default="", help="comma list: propagation,restart,dead,bulk")
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument(
        "--gobgpd",
        default=GOBGPD_INSTALLED,
        help="gobgpd release(s), comma list: 3.10.0 (installed), 3.36.0, 4.8.0",
    )
    a = parser.parse_args()
    res = asyncio.run(main(a))
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
