"""Two sites announce the same anycast VIP; a client behind the router follows
the routes: withdrawing the serving site's route moves new connections to the
other site, and announcing it again brings them back. Real packets, real BIRD
FIB, our RouteWriter on each site's gobgpd."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from ldirectord_py.routing.model import Route, host_prefix
from ldirectord_py.routing.writer import RouteWriter

from .conftest import PREFIXES, run
from .lab import Lab

VIP = "198.51.100.10"
VIP6 = "2001:db8:ff::10"

SERVER = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[2].encode())
    c.close()
"""

CLIENT = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.create_connection((sys.argv[1], 8080), timeout=2)
print(s.recv(100).decode())
"""


def serving(lab: Lab, vip: str) -> str:
    return lab.client_exec(sys.executable, "-c", CLIENT, vip).stdout.strip()


def wait_serving(lab: Lab, vip: str, site: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        done = lab.client_exec(sys.executable, "-c", CLIENT, vip, check=False)
        seen = done.stdout.strip()
        if seen == site:
            return
        time.sleep(0.05)
    raise AssertionError(f"{vip} served by {seen!r}, not {site}")


def test_client_follows_the_route_between_two_sites() -> None:
    servers: list[subprocess.Popen[str]] = []
    with Lab(sites=2, client=True) as lab:
        try:
            for site in lab.sites:
                for vip, length in ((VIP, 32), (VIP6, 128)):
                    extra = ["nodad"] if length == 128 else []
                    lab.site_exec(
                        site.index, "ip", "addr", "add", f"{vip}/{length}", "dev", "lo", *extra
                    )
                    name = f"site{site.index}"
                    cmd = ["ip", "netns", "exec", site.ns, sys.executable, "-c", SERVER, vip, name]
                    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
                    servers.append(proc)
                    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

            async def scenario() -> None:
                writers = [
                    RouteWriter(target=lab.gobgp_target(i), prefixes=PREFIXES, log=lambda _m: None)
                    for i in range(2)
                ]
                routes = {host_prefix(v): Route(host_prefix(v)) for v in (VIP, VIP6)}
                for w in writers:
                    w.start()
                    w.submit(routes)
                    assert await w.converge_now(5)
                both = lambda _r: len(lab.routes()[f"{VIP}/32"]) == 2  # noqa: E731
                await asyncio.to_thread(lab.wait_route, f"{VIP}/32", where=both)
                for vip in (VIP, VIP6):
                    first = await asyncio.to_thread(serving, lab, vip)
                    assert first in ("site0", "site1")
                    other = "site1" if first == "site0" else "site0"
                    w = writers[int(first[-1])]
                    w.submit({p: r for p, r in routes.items() if str(p.network_address) != vip})
                    assert await w.converge_now(5)
                    await asyncio.to_thread(wait_serving, lab, vip, other)
                    w.submit(routes)
                    assert await w.converge_now(5)
                    await asyncio.to_thread(wait_serving, lab, vip, first)
                for w in writers:
                    await w.stop(withdraw=True)

            run(scenario())
        finally:
            for proc in servers:
                proc.kill()
                proc.wait(timeout=5)
