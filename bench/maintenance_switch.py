"""What a planned route switch costs natively: failed requests per switch at 25/s.

    sudo .venv/bin/python bench/maintenance_switch.py [--switches 20] [--json out.json]

`make demo`'s planned maintenance phase runs in an emulated guest, where one
request takes 0.1 to 0.7 s, so several are in flight whenever the router
switches. This is the same switch natively, without the guest: two sites of
tests/integration/routing/lab.py announce 198.51.100.10/32 through gobgpd (site
1 with a longer AS path), each serves it from its own namespace (the VIP on
`lo`, a small HTTP server answering `site=N`); the client of `make demo`
(demo/client.py: a new TCP connection every 40 ms, 2 s timeout) runs behind the
BIRD router. Then site 0's route is withdrawn and announced again, `--switches`
times in all, as `ldirectordctl maintenance on|off` does through gobgpd. There
is no ip_vs in this kernel, so the sites serve the VIP themselves; the route
change at the router is the same.

Per switch: when the router's kernel route changed (polled every 2 ms), how
many requests were in flight at that instant, how many failed, and how many of
the failed ones were not in flight then (a fault: only those may fail).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.analysis import Window, switch_report  # noqa: E402
from demo.timeline import Served, parse_monitor_line  # noqa: E402
from tests.integration.routing.bfd_lab import VIP, fib_next_hop  # noqa: E402
from tests.integration.routing.lab import Lab  # noqa: E402

ADDRESS = VIP.split("/")[0]
SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"site={sys.argv[2]} backend={sys.argv[2]}1".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((sys.argv[1], 80), H).serve_forever()
"""
SETTLE = 3.0
"""Seconds between two switches: the traffic settles at the new site."""


def wait_next_hop(lab: Lab, want: str, timeout: float = 15.0) -> float:
    """Poll the router's FIB every 2 ms; the wall-clock time the VIP went via `want`."""
    deadline = time.monotonic() + timeout
    while fib_next_hop(lab) != want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{VIP} not via {want} after {timeout:g} s")
        time.sleep(0.002)
    return time.time()


def run(switches: int) -> list[dict[str, object]]:
    with Lab(sites=2, hold_time=3, client=True) as lab:
        servers = []
        for site, name in ((0, "A"), (1, "B")):
            lab.site_exec(site, "ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo")
            servers.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        lab.sites[site].ns,
                        sys.executable,
                        "-c",
                        SERVER,
                        ADDRESS,
                        name,
                    ]
                )
            )
        monitor_out = lab.dir / "route-monitor.txt"
        with monitor_out.open("wb") as sink:
            monitor = subprocess.Popen(
                ["ip", "-n", lab.rtr_ns, "-ts", "monitor", "route"], stdout=sink
            )
        out = lab.dir / "requests.tsv"
        client = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.client_ns,
                sys.executable,
                str(REPO / "demo" / "client.py"),
                "--target",
                f"{ADDRESS}:80",
                "--interval",
                "0.04",
                "--timeout",
                "2",
                "--out",
                str(out),
            ]
        )
        try:
            lab.gobgp("global", "rib", "add", VIP, site=0)
            lab.gobgp("global", "rib", "add", VIP, "aspath", "65001,65001", site=1)
            wait_next_hop(lab, lab.sites[0].lb4)
            time.sleep(SETTLE)
            actions = []
            for i in range(switches):
                actions.append(time.time())
                if i % 2 == 0:  # maintenance on: site 0's route goes
                    lab.gobgp("global", "rib", "del", VIP, site=0)
                    wait_next_hop(lab, lab.sites[1].lb4)
                else:  # maintenance off: announced again
                    lab.gobgp("global", "rib", "add", VIP, site=0)
                    wait_next_hop(lab, lab.sites[0].lb4)
                time.sleep(SETTLE)
        finally:
            monitor.terminate()
            monitor.wait(10)
            client.send_signal(signal.SIGTERM)
            client.wait(30)
            for server in servers:
                server.kill()
                server.wait(10)
        requests = [r for r in map(Served.parse, out.read_text().splitlines()) if r]
        changes = [c for c in map(parse_monitor_line, monitor_out.read_text().splitlines()) if c]
    at = []
    for action in actions:
        # the router's FIB change that followed the action (microseconds, `ip -ts`)
        after = [c for c in changes if c[0] >= action]
        at.append(after[0][0])
        if after and after[0][1] == "gone":
            print(f"the route was removed before the switch at {after[0][0]:.6f}: a gap")
    by_site = {s: sum(1 for r in requests if r.ok and r.site == s) for s in ("A", "B")}
    print(f"{len(requests)} requests: {by_site['A']} answered by site 0, {by_site['B']} by site 1")
    results = []
    for t in at:
        window = Window("switch", t - 2.0, t + SETTLE / 2)
        doc = switch_report(requests, window, t)
        doc["requests_around"] = sum(1 for r in requests if window.holds(r.start))
        results.append(doc)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    results = run(args.switches)
    for i, r in enumerate(results):
        side = "away" if i % 2 == 0 else "back"
        print(
            f"switch {i + 1:2} ({side}): {len(r['failed'])} failed "  # type: ignore[arg-type]
            f"({r['failed_not_in_flight']} not in flight), {r['in_flight']} in flight, "
            f"request median {r['request_s_median']} s"
        )
    failed = [len(r["failed"]) for r in results]  # type: ignore[arg-type]
    flight = [int(r["in_flight"]) for r in results]  # type: ignore[call-overload]
    print(
        f"\n{len(results)} switches at 25 requests/s: failed per switch max {max(failed)}, "
        f"total {sum(failed)}; in flight at the switch median {statistics.median(flight):g}, "
        f"max {max(flight)}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        args.json.write_text(json.dumps({"switches": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
