"""The whole daemon, as users start it, moving an anycast VIP's route at a real
router: ip_vs in the site's namespace (real kernel), gobgpd peering with BIRD
(tests/integration/routing/lab.py), HTTP backends inside the site.

What an operator checks: the route is at the router while a backend serves, gone
when the last one dies, back when one returns; a killed and restarted daemon
neither duplicates nor loses it; GoBGP restarted gets it back; `anycastdown`
de-prefers instead of withdrawing; stop withdraws the route before the pool goes
(or keeps it with `anycaststop = keep`); the interface method moves the route
through BIRD's `protocol direct`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.integration.routing.lab import Lab, LabError, require_tools  # noqa: E402

LDIRECTORD = str(REPO / ".venv" / "bin" / "ldirectord")
LDIRECTORDCTL = str(REPO / ".venv" / "bin" / "ldirectordctl")
VIP = "198.51.100.10"
ROUTE = f"{VIP}/32"
BACKENDS = ("203.0.113.11", "203.0.113.12")
# The guest is software-emulated: generous waits, each bounded.
WAIT = 60.0

BACKEND_SCRIPT = """
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"OK " + sys.argv[1].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
socketserver.TCPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer((sys.argv[1], 8080), H).serve_forever()
"""


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


RUN_DIR = Path("/var/run")
KEPT_STATE = (".drained", ".maintenance")
"""What a daemon keeps next to its pid file across stop and start, by config name:
drained reals and VIPs in planned maintenance."""


class Site:
    """One load-balancer site of the lab: our daemon and its backends.

    Every test's config has the same name (anycast0.cf), and the daemon keeps
    drains and planned maintenance across restarts by that name: a Site starts
    and ends without any (a drain left by one test would drain another's real).
    """

    def __init__(self, lab: Lab, index: int, workdir: Path) -> None:
        self.lab, self.index, self.dir = lab, index, workdir
        self.ns = lab.sites[index].ns
        self.backends: dict[str, subprocess.Popen[bytes]] = {}
        self.cfg = workdir / f"anycast{index}.cf"
        self.log = workdir / f"anycast{index}.log"
        self.forget_kept_state()
        for address in BACKENDS:
            lab.site_exec(index, "ip", "addr", "add", f"{address}/32", "dev", "lo")

    def kept_state(self) -> list[Path]:
        """The files of KEPT_STATE for this config name that exist."""
        paths = (RUN_DIR / f"ldirectord.{self.cfg.name}{suffix}" for suffix in KEPT_STATE)
        return [path for path in paths if path.exists()]

    def forget_kept_state(self) -> None:
        """Remove the kept state of this config name; no daemon of it may run."""
        pidfile = RUN_DIR / f"ldirectord.{self.cfg.name}.pid"
        pid = (pidfile.read_text().split() or [""])[0] if pidfile.exists() else ""
        assert not (pid.isdigit() and Path(f"/proc/{pid}").exists()), (
            f"a daemon of this config name still runs ({pidfile}: pid {pid})"
        )
        for path in self.kept_state():
            path.unlink()

    def write_config(self, extra: str = "", method: str = "gobgp") -> None:
        self.cfg.write_text(
            f'logfile="{self.log}"\ncheckinterval=1\nnegotiatetimeout=5\n'
            "anycastprefix=198.51.100.0/24\n"
            f"anycastmethod={method}\n"
            f"gobgpapi={self.lab.gobgp_target(self.index)}\n{extra}"
            f"virtual={VIP}:80\n"
            + "".join(f"\treal={b}:8080 masq\n" for b in BACKENDS)
            + '\tservice=http\n\trequest="/"\n\treceive="OK"\n'
        )

    def ns_run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ld(self, command: str) -> subprocess.CompletedProcess[str]:
        return self.ns_run(LDIRECTORD, str(self.cfg), command)

    def start(self) -> None:
        done = self.ld("start")
        assert done.returncode == 0, done.stdout + done.stderr

    def pid(self) -> int:
        return int(Path(f"/var/run/ldirectord.{self.cfg.name}.pid").read_text().split()[0])

    def backend_up(self, address: str) -> None:
        self.backends[address] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", BACKEND_SCRIPT, address],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def backend_down(self, address: str) -> None:
        proc = self.backends.pop(address, None)
        if proc is not None:
            proc.kill()
            proc.wait(10)

    def routes_json(self) -> dict[str, Any]:
        done = self.ns_run(LDIRECTORDCTL, "routes", "--json", "-c", self.cfg.name)
        assert done.returncode == 0, done.stderr
        doc: dict[str, Any] = json.loads(done.stdout)
        return next(iter(doc.values()))

    def vip_state(self) -> str | None:
        vips = self.routes_json().get("vips") or []
        return vips[0]["state"] if vips else None

    def ipvs_services(self) -> list[str]:
        out = self.ns_run("ipvsadm", "-S", "-n").stdout
        return [line for line in out.splitlines() if line.startswith("-A")]

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def close(self) -> None:
        if self.cfg.exists():
            self.ld("stop")
        for address in list(self.backends):
            self.backend_down(address)
        self.forget_kept_state()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    try:
        require_tools()
    except LabError as exc:
        pytest.fail(str(exc))
    with Lab(sites=1, hold_time=3, workdir=tmp_path / "lab") as lab:
        yield lab


@pytest.fixture
def site(lab: Lab, tmp_path: Path) -> Iterator[Site]:
    s = Site(lab, 0, tmp_path)
    yield s
    s.close()


def gobgp_paths(lab: Lab) -> list[dict[str, Any]]:
    out = lab.gobgp("global", "rib", "-j")
    table: dict[str, list[dict[str, Any]]] = json.loads(out) if out.strip() else {}
    return table.get(ROUTE, [])


def test_route_follows_backends_survives_restarts_and_goes_first_on_stop(
    lab: Lab, site: Site
) -> None:
    for address in BACKENDS:
        site.backend_up(address)
    site.write_config()
    site.start()
    route = lab.wait_route(ROUTE, timeout=WAIT)
    assert route is not None and route.as_path == [65001]
    assert site.vip_state() == "announced"
    assert len(site.ipvs_services()) == 1

    # every backend dies: withdrawn at the router; one returns: announced again
    for address in BACKENDS:
        site.backend_down(address)
    lab.wait_route(ROUTE, present=False, timeout=WAIT)
    assert site.vip_state() == "withdrawn"
    assert f"Anycast {ROUTE}: withdrawn" in site.log_text()
    site.backend_up(BACKENDS[0])
    lab.wait_route(ROUTE, timeout=WAIT)

    # SIGKILL: GoBGP keeps the route; the restarted daemon adopts it, no duplicate
    # and no change at all (a withdraw + announce would be a flap at the router)
    pid = site.pid()
    subprocess.run(["kill", "-KILL", str(pid)], check=True)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the daemon to die")
    assert lab.route(ROUTE) is not None
    logged = len(site.log_text())
    site.start()
    wait_for(lambda: site.vip_state() == "announced", "the restarted daemon to decide")
    time.sleep(2)
    assert len(gobgp_paths(lab)) == 1, gobgp_paths(lab)
    assert lab.route(ROUTE) is not None
    restarted = site.log_text()[logged:]
    assert "route writer: withdrew" not in restarted, restarted
    assert "route writer: announced" not in restarted, restarted

    # GoBGP restarted (it forgets API routes): the daemon announces again
    lab.restart_speaker(0)
    lab.wait_established(timeout=WAIT)
    lab.wait_route(ROUTE, timeout=WAIT)
    assert len(gobgp_paths(lab)) == 1

    # stop: the route goes first; when it is gone at the router the pool is
    # still in the kernel, and after stop the pool is gone too
    stopper = subprocess.Popen(
        ["ip", "netns", "exec", site.ns, LDIRECTORD, str(site.cfg), "stop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lab.wait_route(ROUTE, present=False, timeout=WAIT)
    assert stopper.wait(120) == 0
    assert site.ipvs_services() == []
    site.cfg.unlink()  # stopped: nothing to stop at teardown


def test_anycastdown_med_deprefers_and_anycaststop_keep_keeps(lab: Lab, site: Site) -> None:
    site.backend_up(BACKENDS[0])
    site.write_config("anycastdown=med 500\nanycastmed=10\nanycaststop=keep\n")
    site.start()
    lab.wait_route(ROUTE, timeout=WAIT, where=lambda r: r.med == 10)
    site.backend_down(BACKENDS[0])
    route = lab.wait_route(ROUTE, timeout=WAIT, where=lambda r: r.med == 500)
    assert route is not None
    assert site.vip_state() == "depreferred"
    done = site.ld("stop")
    assert done.returncode == 0, done.stderr
    site.cfg.unlink()
    time.sleep(2)
    assert lab.route(ROUTE) is not None  # kept, as configured
    assert site.ipvs_services() == []


def test_gobgp_unreachable_at_start_then_up(lab: Lab, site: Site) -> None:
    lab.stop_speaker(0)
    site.backend_up(BACKENDS[0])
    site.write_config()
    site.start()
    wait_for(lambda: site.vip_state() == "announced", "the daemon to decide")
    status = site.routes_json()
    assert status["gobgp"]["connected"] is False
    lab.start_speaker(0)
    lab.wait_established(timeout=WAIT)
    lab.wait_route(ROUTE, timeout=WAIT)


@pytest.fixture
def bird_lab(tmp_path: Path) -> Iterator[Lab]:
    try:
        require_tools()
    except LabError as exc:
        pytest.fail(str(exc))
    with Lab(sites=1, speaker="bird", workdir=tmp_path / "lab") as lab:
        yield lab


def test_interface_method_moves_the_route_through_protocol_direct(
    bird_lab: Lab, tmp_path: Path
) -> None:
    site = Site(bird_lab, 0, tmp_path)
    try:
        site.backend_up(BACKENDS[0])
        site.write_config(method="interface")
        site.start()
        bird_lab.wait_route(ROUTE, timeout=WAIT)
        addresses = site.ns_run("ip", "-o", "addr", "show", "dev", "lo").stdout
        assert f"{VIP}/32" in addresses
        site.backend_down(BACKENDS[0])
        bird_lab.wait_route(ROUTE, present=False, timeout=WAIT)
        assert f"{VIP}/32" not in site.ns_run("ip", "-o", "addr", "show", "dev", "lo").stdout
        site.backend_up(BACKENDS[0])
        bird_lab.wait_route(ROUTE, timeout=WAIT)
    finally:
        site.close()
    bird_lab.wait_route(ROUTE, present=False, timeout=WAIT)  # stop removed the address


def test_sigkill_leaves_no_stale_route_after_a_config_change(lab: Lab, site: Site) -> None:
    """A daemon killed while announcing, restarted with the VIP gone from its
    config, withdraws the stale route it finds in GoBGP (ours, in our prefix)."""
    site.backend_up(BACKENDS[0])
    site.write_config()
    site.start()
    lab.wait_route(ROUTE, timeout=WAIT)
    pid = site.pid()
    subprocess.run(["kill", "-KILL", str(pid)], check=True)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the daemon to die")
    site.cfg.write_text(
        site.cfg.read_text().replace(f"virtual={VIP}:80", "virtual=198.51.100.20:80")
    )
    site.start()
    lab.wait_route("198.51.100.20/32", timeout=WAIT)
    lab.wait_route(ROUTE, present=False, timeout=WAIT)


def test_max_withdraw_guard_and_hold_down_at_the_router(lab: Lab, site: Site) -> None:
    """Two VIPs, `anycastmaxwithdraw = 1`: when both lose their backends only the
    first to fail is withdrawn, the other stays announced (guarded). With
    `anycastholddown = 4` a recovered VIP returns only after 4 healthy seconds."""
    second = "198.51.100.11"
    for address in BACKENDS:
        site.backend_up(address)
    site.write_config("anycastmaxwithdraw=1\nanycastholddown=4\n")
    text = site.cfg.read_text()
    # one backend per VIP, so that each can be failed on its own
    text = text.replace(f"\treal={BACKENDS[1]}:8080 masq\n", "")
    text += f"virtual={second}:80\n\treal={BACKENDS[1]}:8080 masq\n"
    text += '\tservice=http\n\trequest="/"\n\treceive="OK"\n'
    site.cfg.write_text(text)
    site.start()
    lab.wait_route(ROUTE, timeout=WAIT)
    lab.wait_route(f"{second}/32", timeout=WAIT)

    site.backend_down(BACKENDS[0])
    lab.wait_route(ROUTE, present=False, timeout=WAIT)
    site.backend_down(BACKENDS[1])
    wait_for(lambda: "ANYCAST GUARD ENGAGED" in site.log_text(), "the guard to engage")
    time.sleep(3)
    assert lab.route(f"{second}/32") is not None  # kept: the guard allows one withdrawal
    vips = {v["vip"]: v for v in site.routes_json()["vips"]}
    assert vips[f"{second}/32"]["guarded"] is True

    # the guarded VIP recovers first (held, still announced); then the withdrawn
    # one: held too, and it keeps the one withdrawal slot (it went down first)
    site.backend_up(BACKENDS[1])
    time.sleep(2)
    site.backend_up(BACKENDS[0])
    up_at = time.monotonic()
    lab.wait_route(ROUTE, timeout=WAIT)
    # not before 4 healthy seconds (the first check after the restore is the
    # start of the hold-down, so the route may come a check interval later)
    assert time.monotonic() - up_at >= 4.0
    assert f"Anycast {ROUTE}: held" in site.log_text()


PERL_LDIRECTORD = "/usr/sbin/ldirectord"
ANYCAST = str(REPO / ".venv" / "bin" / "ldirectord-anycast")


def test_the_perl_original_moves_the_route_with_ldirectord_anycast(lab: Lab, site: Site) -> None:
    """The paper's set-up with the Perl original (Debian `ldirectord`):
    `fallbackcommand = ldirectord-anycast ...`; it appends `start|stop VIP:PORT
    PROTO` when its fallback starts (every real down: withdraw) and ends (announce)."""
    assert Path(PERL_LDIRECTORD).exists(), "install the Debian package ldirectord (make deps)"
    cfg = site.dir / "perl-anycast.cf"
    log = site.dir / "perl-anycast.log"
    # the line, quoted, inside the virtual (a global value keeps its quotes
    # in the original, and the shell then looks for a program of that whole name)
    cfg.write_text(
        f'logfile="{log}"\ncheckinterval=1\nnegotiatetimeout=5\n'
        f"virtual={VIP}:80\n\treal={BACKENDS[0]}:8080 masq\n"
        f'\tfallbackcommand="{ANYCAST} --gobgpapi {lab.gobgp_target(0)} '
        f'--prefix 198.51.100.0/24 --timeout 10"\n'
        '\tservice=http\n\trequest="/"\n\treceive="OK"\n'
    )

    def perl(command: str) -> subprocess.CompletedProcess[str]:
        return site.ns_run(PERL_LDIRECTORD, str(cfg), command)

    # Each call is a new Python process with grpc (seconds in the emulated guest),
    # and the original runs them synchronously, flapping while it starts (spec 5.5).
    slow = 4 * WAIT
    site.backend_up(BACKENDS[0])
    try:
        started = perl("start")
        assert started.returncode == 0, started.stdout + started.stderr
        lab.wait_route(ROUTE, timeout=slow)  # a real up: the fallback ended -> "stop"
        site.backend_down(BACKENDS[0])  # every real down -> "start" -> withdraw
        lab.wait_route(ROUTE, present=False, timeout=slow)
        site.backend_up(BACKENDS[0])
        lab.wait_route(ROUTE, timeout=slow)
    except Exception as exc:
        raise AssertionError(f"{exc}\n--- the original's log:\n{log.read_text()[-4000:]}") from exc
    finally:
        perl("stop")
    assert "failed" not in log.read_text()  # every ldirectord-anycast call succeeded
