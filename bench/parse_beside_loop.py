"""What parsing a 10,000-virtual file beside the event loop costs the loop's
checks: in a thread (as main did at d7704fa), in a thread with numeric
addresses read without the C library, or in a child interpreter (as a reload
does now, daemon/config_read.py).

    .venv/bin/python bench/parse_beside_loop.py --rate 2000 --rate 4000

As root: a network namespace of its own with tests/faults/loop_isolation.py's
listener. The loop opens `rate` bare non-blocking connects a second (the
daemon's connect-check path: socket, connect, wait for writability in epoll,
close) and runs a 1 ms ticker; after 3 s the file is parsed beside it. Printed
per variant: the parse's wall time, and the worst and p99 lateness of the
connects (against their schedule) and of the ticker, in the 2.5 s before and
while the parse ran.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ldirectord_py.config import load, resolve
from ldirectord_py.daemon.config_read import FileLoader, read_in_child
from ldirectord_py.offloop import collector_paused, in_thread
from tests.faults.loop_isolation import PORT, Scenario, real_address, write_config

VARIANTS = ("none", "thread", "thread-inet-pton", "child")


def _inet_pton_first(name: str, family: resolve.Family) -> str | None:
    af = socket.AF_INET6 if family == 6 else socket.AF_INET
    try:
        return socket.inet_ntop(af, socket.inet_pton(af, name))
    except (OSError, ValueError):
        return _c_library(name, family)


_c_library = resolve._numeric_host


async def _run(variant: str, rate: int, cfg: Path) -> dict[str, Any]:
    gc.set_threshold(10_000, 10, 10)  # as the daemon (daemon/checking.settle_gc)
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    late: list[tuple[float, float]] = []
    ticks: list[tuple[float, float]] = []
    stop = False

    async def one(i: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            try:
                sock.connect((real_address(i % 20_000), PORT))
            except BlockingIOError:
                writable = loop.create_future()
                loop.add_writer(sock.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(sock.fileno())
        finally:
            sock.close()

    async def checker() -> None:
        pending: set[asyncio.Task[None]] = set()
        start, n = loop.time(), 0
        while not stop:
            now = loop.time()
            due = start + n / rate
            if now < due:
                await asyncio.sleep(due - now)
                now = loop.time()
            while start + n / rate <= now:
                late.append((now, now - (start + n / rate)))
                task = loop.create_task(one(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1

    async def ticker() -> None:
        while not stop:
            t = loop.time()
            await asyncio.sleep(0.001)
            ticks.append((t, loop.time() - t - 0.001))

    tasks = [asyncio.create_task(checker()), asyncio.create_task(ticker())]
    await asyncio.sleep(3)
    t0 = loop.time()
    if variant in ("thread", "thread-inet-pton"):
        with collector_paused():
            await in_thread(lambda: load(str(cfg)), 60, "parse")
    elif variant == "child":
        await read_in_child(str(cfg), FileLoader())
    else:
        await asyncio.sleep(0.7)
    t1 = loop.time()
    await asyncio.sleep(0.5)
    stop = True
    await asyncio.gather(*tasks)

    def summary(values: list[tuple[float, float]], a: float, b: float) -> str:
        got = sorted(v for t, v in values if a <= t <= b)
        if not got:
            return "-"
        return f"{got[-1] * 1000:.1f} / {got[int(len(got) * 0.99)] * 1000:.1f} ms"

    return {
        "variant": variant,
        "rate": rate,
        "parse_s": round(t1 - t0, 3),
        "connects before": summary(late, t0 - 2.5, t0),
        "connects during": summary(late, t0, t1 + 0.3),
        "ticker before": summary(ticks, t0 - 2.5, t0),
        "ticker during": summary(ticks, t0, t1 + 0.3),
    }


def inside(variant: str, rate: int, cfg: Path) -> None:
    if variant == "thread-inet-pton":
        resolve._numeric_host = _inet_pton_first  # type: ignore[assignment]
    print(json.dumps(asyncio.run(_run(variant, rate, cfg))), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, action="append")
    parser.add_argument("--variant", action="append", choices=VARIANTS)
    parser.add_argument("--virtuals", type=int, default=10_000)
    parser.add_argument("--inside", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside[0], int(args.inside[1]), Path(args.inside[2]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="parse-beside-loop-"))
    cfg = work / "big.cf"
    write_config(Scenario(fault="reload", virtuals=args.virtuals, interval=10), cfg, work / "log")
    netns = f"pbl-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    listener = None
    try:
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True)
        listener = subprocess.Popen(
            [
                "ip", "netns", "exec", netns, sys.executable,
                str(Path(__file__).resolve().parents[1] / "tests/faults/loop_isolation.py"),
                "--listener", str(work / "arrivals.bin"),
            ]
        )  # fmt: skip
        time.sleep(1)
        print(f"load: {Path('/proc/loadavg').read_text().strip()}")
        for rate in args.rate or [2000]:
            for variant in args.variant or VARIANTS:
                subprocess.run(
                    ["ip", "netns", "exec", netns, sys.executable, __file__,
                     "--inside", variant, str(rate), str(cfg)],
                    check=True,
                )  # fmt: skip
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "netns", "del", netns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
