"""Detection latency: from a backend's death to the removal decision, ours against
the Perl ldirectord, while 10% of the other reals hang (accept, never answer).

    .venv/bin/python bench/detection_latency.py --daemon ours --reals 50 --kills 6
    .venv/bin/python bench/detection_latency.py --daemon perl --reals 50 --kills 6
    .venv/bin/python bench/detection_latency.py --daemon ours --reals 1000 --kills 6

One virtual, HTTP negotiate checks (request "/", receive "OK"), checkinterval=1,
checktimeout=negotiatetimeout=1, failurecount=1. Every real has its own listener
on its own loopback address (127.10.x.y:18081), served by this process: the
healthy ones answer `200 OK`; every tenth real accepts and never answers. Then,
one after another, a healthy real (never the same one twice) dies at a random
moment of the interval, in one of two ways:

- refuse: its listener is closed (connections are refused from then on);
- hang:   it goes on accepting but stops answering (the check must time out).

The latency is from that moment to the decision. This host has no ip_vs, so the
decision is observed, for both daemons, as the first `[down]` line for that real
in the monitorfile (with failurecount=1 that result is the removal: the
original writes the line in service_set right after _service_down, which ran its
ipvsadm -- here a stateless stand-in that answers at once); for ours also as the
`Deleted real server: ADDR:PORT` log line. Files are polled every 2 ms.
Target (ours): never more than checkinterval + checktimeout + 50 ms = 2.05 s.
Bounded: --kills deaths, at most --max-wait seconds each; the daemon is stopped
and the temporary directory removed at the end. Traffic only to 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks_throughput import (
    real_address,
    start_daemon,
    stop,
    uptime,
    write_config,
)

PORT = 18081
INTERVAL = 1
TIMEOUT = 1
ADDR_RE = re.compile(rb" (127\.\d+\.\d+\.\d+) (\d+) ")
RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nOK\n"


class Backends:
    """One listener per real: answering, hanging, or gone."""

    def __init__(self, addresses: list[str], hanging: set[str]) -> None:
        self.addresses = addresses
        self.mode = {a: ("hang" if a in hanging else "ok") for a in addresses}
        self.servers: dict[str, asyncio.Server] = {}
        self.conns: dict[str, set[asyncio.StreamWriter]] = {a: set() for a in addresses}

    async def start(self) -> None:
        for a in self.addresses:
            await self.listen(a)

    async def listen(self, a: str) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.conns[a].add(writer)
            try:
                if self.mode[a] == "ok":
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                    if self.mode[a] == "ok":
                        writer.write(RESPONSE)
                        with contextlib.suppress(Exception):
                            await writer.drain()
                        return
                with contextlib.suppress(Exception):  # hang: hold until the client goes
                    while await reader.read(4096):
                        pass
            except asyncio.CancelledError:
                pass  # the bench is ending
            finally:
                self.conns[a].discard(writer)
                writer.close()

        self.servers[a] = await asyncio.start_server(handle, a, PORT, backlog=128)

    async def kill(self, a: str, how: str) -> None:
        if how == "hang":
            self.mode[a] = "hang"
            return
        self.mode[a] = "dead"
        self.servers.pop(a).close()
        for w in list(self.conns[a]):
            w.transport.abort()

    async def close(self) -> None:
        for s in self.servers.values():
            s.close()
        for conns in self.conns.values():
            for w in list(conns):
                w.transport.abort()
        await asyncio.sleep(0.2)  # let the handlers see their connections go


class Tail:
    """New complete lines of a file, polled."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.buf = b""

    def lines(self) -> list[bytes]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        self.buf += data
        *done, self.buf = self.buf.split(b"\n")
        return done


async def run(args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="lddetect-"))
    addresses = [real_address(i) for i in range(args.reals)]
    hanging = {a for i, a in enumerate(addresses) if i % 10 == 9}
    healthy = [a for a in addresses if a not in hanging]
    config = tmp / f"detect-{args.daemon}-{args.reals}.cf"
    monitor = tmp / "monitor.log"
    write_config(
        config,
        addresses,
        kind="http",
        port=PORT,
        monitorfile=monitor,
        logfile=tmp / "daemon.log",
        interval=INTERVAL,
        timeout=TIMEOUT,
    )
    backends = Backends(addresses, hanging)
    await backends.start()
    proc = start_daemon(args.daemon, config, tmp)
    mon, err = Tail(monitor), Tail(tmp / f"{args.daemon}.stderr")
    results: list[dict[str, object]] = []
    report: dict[str, object] = {
        "daemon": args.daemon,
        "reals": args.reals,
        "hanging": len(hanging),
        "load_before": uptime(),
    }
    try:
        # every healthy real seen up once
        seen: set[str] = set()
        t0 = time.monotonic()
        while len(seen) < len(healthy):
            if proc.poll() is not None or time.monotonic() - t0 > args.max_start:
                raise RuntimeError(f"daemon not ready: {len(seen)}/{len(healthy)} reals up")
            for line in mon.lines():
                m = ADDR_RE.search(line)
                if m and b"[up]" in line:
                    seen.add(m.group(1).decode())
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * INTERVAL)
        rng = random.Random(args.seed)
        targets = rng.sample(healthy, args.kills)
        for k, target in enumerate(targets):
            how = "refuse" if k % 2 == 0 else "hang"
            await asyncio.sleep(rng.uniform(0, INTERVAL))
            mon.lines(), err.lines()  # skip what came before the death
            t_kill = time.monotonic()
            await backends.kill(target, how)
            found: dict[str, float] = {}
            needle = f"Deleted real server: {target}:{PORT}".encode()
            while time.monotonic() - t_kill < args.max_wait:
                now = time.monotonic()
                for line in mon.lines():
                    m = ADDR_RE.search(line)
                    if m and m.group(1).decode() == target and b"[down]" in line:
                        found.setdefault("monitor_down", now - t_kill)
                for line in err.lines():
                    if needle in line:
                        found.setdefault("log_deleted", now - t_kill)
                if "monitor_down" in found and (args.daemon != "ours" or "log_deleted" in found):
                    break
                await asyncio.sleep(0.002)
            r = {"target": target, "how": how, **{k: round(v, 3) for k, v in found.items()}}
            print(json.dumps(r), flush=True)
            results.append(r)
    finally:
        stop(proc)
        await backends.close()
        report["load_after"] = uptime()
        shutil.rmtree(tmp, ignore_errors=True)
    report["kills"] = results
    lat = [float(r["monitor_down"]) for r in results if "monitor_down" in r]  # type: ignore[arg-type]
    report["detected"] = f"{len(lat)}/{len(results)}"
    report["max_s"] = max(lat) if lat else None
    report["mean_s"] = round(sum(lat) / len(lat), 3) if lat else None
    report["target_s"] = INTERVAL + TIMEOUT + 0.05
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--daemon", choices=("ours", "perl"), default="ours")
    ap.add_argument("--reals", type=int, default=50)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--max-wait", type=float, default=30.0)
    ap.add_argument("--max-start", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (unshare -m, mount)")
    report = asyncio.run(run(args))
    print(json.dumps({k: v for k, v in report.items() if k != "kills"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
