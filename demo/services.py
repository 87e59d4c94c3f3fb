"""The programs the lab runs in its namespaces: BIRD on the router, gobgpd and our
daemon on each load balancer, an HTTP server on each backend, the client, and a
route monitor on the router.

Each is started with its configuration from ``examples/`` (copied to the work
folder only where a path must be added) and its output in the work folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from demo.netns import inside
from demo.topology import (
    CLIENT_NS,
    ROUTER_NS,
    VIP,
    VIP_PORT,
    Backend,
    LabError,
    Site,
    in_netns,
    run,
)

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLES = PROJECT / "examples"
RUN_DIR = Path("/var/run")
REALTIME = ("chrt", "--fifo", "50")
"""BFD speakers run with real-time priority (util-linux chrt)."""
BFD_EXAMPLE_INTERVAL_MS = 100
"""The BFD interval written in examples/demo-router-bird.conf and demo-lb-bfd-*.conf,
as in the product's examples: it held in the emulated guest on a quiet host, while
on a heavily shared host no interval did (demo/README.md, "BFD in the guest")."""


def venv_program(name: str) -> str:
    """A program of the project's venv (the one running this lab), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise LabError(f"{name} not found: run `make venv` first")
    return found


@dataclass
class Started:
    """A process the lab started and must end."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None = None

    def stop(self, timeout: float = 3.0) -> None:
        if self.process.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.log is not None:
            self.log.close()
            self.log = None


@dataclass
class Services:
    """Everything the lab started, by name, and where their files are."""

    workdir: Path
    started: dict[str, Started] = field(default_factory=dict)
    gobgpd: str = "gobgpd"
    """The gobgpd binary the sites run (`make demo GOBGPD=...`)."""

    def path(self, *parts: str) -> Path:
        p = self.workdir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        netns: str | None = None,
        env: dict[str, str] | None = None,
        output: Path | None = None,
    ) -> Started:
        """Start `argv` inside `netns` (the child is forked from inside it: no
        `ip netns exec`), its output to `output` or logs/NAME.log."""
        log = open(output or self.path("logs", f"{name}.log"), "ab")  # noqa: SIM115 (closed by stop)
        try:
            with inside(netns) if netns else contextlib.nullcontext():
                # Its own session: a Ctrl-C on the terminal reaches the lab only,
                # which then stops everything in order (the daemons first).
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
        except FileNotFoundError as exc:
            log.close()
            raise LabError(f"{argv[0]} is not installed (make demo installs it)") from exc
        started = Started(name, process, log)
        self.started[name] = started
        return started

    def stop(self, name: str) -> None:
        started = self.started.pop(name, None)
        if started is not None:
            started.stop()

    def stop_all(self) -> None:
        for name in list(self.started):
            self.stop(name)

    # ------------------------------------------------------------------ router
    def bfd_config(self, name: str, interval_ms: int) -> Path:
        """An example with BFD timers, as it is (100 ms) or with `interval_ms` instead
        (the copy in the work folder: the only change)."""
        example = EXAMPLES / name
        if interval_ms == BFD_EXAMPLE_INTERVAL_MS:
            return example
        copy = self.path("bfd", name)
        copy.write_text(
            re.sub(
                r"(min [rt]x interval) \d+ ms;",
                rf"\1 {interval_ms} ms;",
                example.read_text(),
            )
        )
        return copy

    def start_router(self, bfd_interval_ms: int = BFD_EXAMPLE_INTERVAL_MS) -> Path:
        """BIRD with examples/demo-router-bird.conf, its own control socket."""
        control = self.path("router", "bird.ctl")
        self.spawn(
            "router-bird",
            [
                *REALTIME,  # the router's BFD, as the load balancers'
                "bird",
                "-f",
                "-c",
                str(self.bfd_config("demo-router-bird.conf", bfd_interval_ms)),
                "-s",
                str(control),
                "-P",
                str(self.path("router", "bird.pid")),
            ],
            netns=ROUTER_NS,
        )
        wait_for(control.exists, 10.0, "BIRD's control socket")
        return control

    def birdc(self, *command: str) -> str:
        control = self.path("router", "bird.ctl")
        return run(["birdc", "-s", str(control), *command], timeout=10.0, check=False).stdout

    def start_route_monitor(self) -> Path:
        """`ip -ts monitor route` in the router: when its FIB changes, to the microsecond."""
        out = self.path("router", "route-monitor.txt")
        self.spawn("route-monitor", ["ip", "-ts", "monitor", "route"], netns=ROUTER_NS, output=out)
        return out

    # ------------------------------------------------------------------ sites
    def start_gobgpd(self, site: Site) -> None:
        self.spawn(
            f"gobgpd-{site.key}",
            [
                self.gobgpd,
                "-t",
                "toml",
                "-f",
                str(EXAMPLES / site.gobgpd_config_name),
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
                "-p",
            ],
            netns=site.netns,
        )

    def gobgpd_pid(self, site: Site) -> int:
        return self.started[f"gobgpd-{site.key}"].process.pid

    def start_bfd(self, site: Site, interval_ms: int) -> None:
        """BIRD running BFD only (examples/demo-lb-bfd-X.conf) beside gobgpd, with
        real-time priority, as docs/anycast.md advises: a busy load balancer (two
        Python daemons starting in an emulated CPU) must not miss its own BFD packets."""
        control = self.path("sites", f"bfd-{site.key}.ctl")
        self.spawn(
            f"bfd-{site.key}",
            [
                *REALTIME,
                "bird",
                "-f",
                "-c",
                str(self.bfd_config(f"demo-lb-bfd-{site.key}.conf", interval_ms)),
                "-s",
                str(control),
                "-P",
                str(self.path("sites", f"bfd-{site.key}.pid")),
            ],
            netns=site.netns,
        )
        wait_for(control.exists, 10.0, f"site {site.name}'s BFD daemon")

    def bfd_pid(self, site: Site) -> int | None:
        started = self.started.get(f"bfd-{site.key}")
        return started.process.pid if started else None

    def router_bfd_up(self, sites: tuple[Site, ...]) -> bool:
        """The router's BFD session with every site's load balancer is up."""
        up = {
            parts[0]
            for parts in (
                line.split() for line in self.birdc("show", "bfd", "sessions").splitlines()
            )
            if len(parts) >= 3 and parts[2] == "Up"
        }
        return all(site.uplink_address in up for site in sites)

    def daemon_config(self, site: Site) -> Path:
        """The example config, copied to the work folder with a logfile line added
        (the only change: the example logs to /var/log/ldirectord.log by default)."""
        copy = self.path("sites", site.config_name)
        text = (EXAMPLES / site.config_name).read_text()
        log = self.path("logs", f"ldirectord-{site.key}.log")
        copy.write_text(f'logfile="{log}"\n' + text)
        return copy

    def daemon_log(self, site: Site) -> Path:
        return self.path("logs", f"ldirectord-{site.key}.log")

    def spawn_daemon_start(self, site: Site) -> subprocess.Popen[bytes]:
        """`ldirectord demo-site-X.cf start` in the load balancer's namespace, as users
        run it; it returns once the daemon has forked (the caller waits for it)."""
        config = self.daemon_config(site)
        return subprocess.Popen(
            in_netns(site.netns, venv_program("ldirectord"), str(config), "start"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def site_serves(self, site: Site) -> bool:
        """The VIP is on the load balancer (it can bind it) and ip_vs has all its reals."""
        with inside(site.netns):
            with socket.socket() as sock:
                try:
                    sock.bind((VIP, 0))
                except OSError:
                    return False
            table = Path("/proc/net/ip_vs").read_text()
        return table.count("Route") >= len(site.backends)

    def daemon_pid(self, site: Site) -> int | None:
        try:
            return int((RUN_DIR / f"ldirectord.{site.config_name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove_daemon_leftovers(self, site: Site) -> None:
        """Pid file and status socket of a daemon that was killed (it cannot remove them)."""
        pid = self.daemon_pid(site)
        if pid is not None and _alive(pid):
            return
        for suffix in ("pid", "sock"):
            (RUN_DIR / f"ldirectord.{site.config_name}.{suffix}").unlink(missing_ok=True)

    # ------------------------------------------------------------------ backends
    def start_backend(self, backend: Backend) -> None:
        """busybox httpd serving "site=X backend=Y" on / and "OK" on /health."""
        root = self.path("backends", backend.name, "index.html").parent
        (root / "index.html").write_text(f"site={backend.site} backend={backend.name}\n")
        (root / "health").write_text("OK\n")
        self.spawn(
            f"httpd-{backend.name}",
            ["busybox", "httpd", "-f", "-p", f"0.0.0.0:{VIP_PORT}", "-h", str(root)],
            netns=backend.netns,
        )

    def wait_backend(self, backend: Backend, timeout: float) -> None:
        """Until the backend accepts connections, from its load balancer (as the checks)."""
        lb = f"ldlab-lb-{backend.site.lower()}"

        def accepts() -> bool:
            with inside(lb), socket.socket() as sock:
                sock.settimeout(1.0)
                return sock.connect_ex((backend.address, VIP_PORT)) == 0

        wait_for(accepts, timeout, f"backend {backend.name}'s HTTP server")

    def stop_backend(self, backend: Backend) -> None:
        self.stop(f"httpd-{backend.name}")

    # ------------------------------------------------------------------ client
    def go_client(self, timeout: float) -> None:
        """Let the client (started and waiting) send its first request."""
        out = self.path("client", "requests.tsv")
        wait_for(out.exists, timeout, "the client to start")
        self.started["client"].process.send_signal(signal.SIGUSR1)

    def start_client(self, interval: float, timeout: float) -> Path:
        """The client, started now (Python starts slowly in the guest), idle until
        go_client()."""
        out = self.path("client", "requests.tsv")
        env = dict(os.environ, PYTHONPATH=str(PROJECT), PYTHONDONTWRITEBYTECODE="1")
        self.spawn(
            "client",
            [
                sys.executable,
                "-m",
                "demo.client",
                "--target",
                f"{VIP}:{VIP_PORT}",
                "--interval",
                str(interval),
                "--timeout",
                str(timeout),
                "--out",
                str(out),
                "--start-on-sigusr1",
            ],
            netns=CLIENT_NS,
            env=env,
        )
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def daemon_status(site: Site, timeout: float = 2.0) -> dict[str, Any] | None:
    """The daemon's status document from its socket (what `ldirectordctl status` reads),
    or None when no daemon answers."""
    path = RUN_DIR / f"ldirectord.{site.config_name}.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    try:
        doc = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def daemon_command(
    site: Site, command: str, args: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """A command to the daemon over its control socket, as `ldirectordctl` sends it
    (not run as a program here: Python starts in tens of seconds in the guest)."""
    path = RUN_DIR / f"ldirectord.{site.config_name}.sock"
    request = json.dumps({"command": command, "args": args}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        doc = json.loads(b"".join(chunks))
    except (OSError, ValueError) as exc:
        raise LabError(f"daemon {site.name}: {command}: {exc}") from exc
    if not isinstance(doc, dict):
        raise LabError(f"daemon {site.name}: {command}: not a reply: {doc!r}")
    return doc


def vip_decision(status: dict[str, Any] | None) -> tuple[str, float] | None:
    """(state, since) of the lab's VIP in a status document: "announced", "withdrawn"..."""
    if not status:
        return None
    anycast = status.get("anycast") or {}
    for vip in anycast.get("vips") or []:
        if str(vip.get("vip", "")).split("/")[0] == VIP:
            return str(vip.get("state")), float(vip.get("since") or 0.0)
    return None
