"""Faults of issue 10 that need a real ip_vs (run in the QEMU guest by make test-kernel).

Invariants held:
* A VIP is withdrawn only by its own health or its own dataplane: a service the
  kernel refuses elsewhere in the config (a scheduler typo) withdraws no anycast
  route at the router (BIRD), and `ldirectordctl reload` exits 1 naming it.
* No lost drain state, never two daemons: a daemon SIGKILLed in the middle of a
  reload, started again, is one daemon, keeps its drains, and writes nothing to
  the kernel for the services that did not change.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import test_anycast_daemon as harness  # noqa: E402 (beside this file, as pytest imports it)
from test_anycast_daemon import BACKENDS, LDIRECTORDCTL, ROUTE, WAIT, Site, wait_for  # noqa: E402

from tests.integration.routing.lab import Lab, LabError  # noqa: E402

# The lab and site of the anycast daemon tests (gobgpd peering with BIRD).
lab = harness.lab
site = harness.site

SECOND = "198.51.100.11"
TYPO = "virtual=192.0.2.200:80\n\treal=203.0.113.11:8080 masq\n\tscheduler=wrrr\n"


def _two_vips(site: Site, extra: str = "") -> None:
    """Two anycast VIPs, one backend each, anycastmaxwithdraw=1."""
    site.write_config("anycastmaxwithdraw=1\n" + extra)
    text = site.cfg.read_text().replace(f"\treal={BACKENDS[1]}:8080 masq\n", "")
    text += f"virtual={SECOND}:80\n\treal={BACKENDS[1]}:8080 masq\n"
    text += '\tservice=http\n\trequest="/"\n\treceive="OK"\n'
    site.cfg.write_text(text)


def _route(lab: Lab, site: Site, prefix: str, *, present: bool = True) -> None:
    """Wait for the route at the router; on timeout, fail with the daemon's log."""
    try:
        lab.wait_route(prefix, present=present, timeout=WAIT)
    except LabError as exc:
        raise AssertionError(f"{exc}\n--- daemon log ---\n{site.log_text()[-8000:]}") from None


def _ctl(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return site.ns_run(LDIRECTORDCTL, *args, "-c", site.cfg.name)


def test_faults_finding1_a_scheduler_typo_withdraws_no_anycast_route(lab: Lab, site: Site) -> None:
    """Invariant: a VIP is withdrawn only by its own health or its own dataplane."""
    for address in BACKENDS:
        site.backend_up(address)
    _two_vips(site)
    site.start()
    _route(lab, site, ROUTE)
    _route(lab, site, f"{SECOND}/32")

    site.cfg.write_text(site.cfg.read_text() + TYPO)
    done = _ctl(site, "reload")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "reloaded" in done.stdout
    assert "192.0.2.200:80" in done.stderr and "ip_vs refused" in done.stderr
    time.sleep(5)  # several check rounds and writer retries
    assert lab.route(ROUTE) is not None, "the typo withdrew an unrelated anycast VIP"
    assert lab.route(f"{SECOND}/32") is not None, "the typo withdrew an unrelated anycast VIP"
    services = "\n".join(site.ipvs_services())
    assert f"{ROUTE.split('/')[0]}:80" in services and f"{SECOND}:80" in services
    assert "withdrawing the anycast VIPs" not in site.log_text()
    assert "192.0.2.200:80 not programmed" in site.log_text()
    status = site.ns_run(LDIRECTORDCTL, "status", "--json", "-c", site.cfg.name)
    assert "192.0.2.200" in status.stdout and "refused" in status.stdout
    # the real fault of a VIP's own: its one backend dies -> withdrawn (one allowed)
    site.backend_down(BACKENDS[1])
    _route(lab, site, f"{SECOND}/32", present=False)
    assert lab.route(ROUTE) is not None


def test_faults_sigkill_mid_reload_then_start_keeps_drains_and_writes_nothing(
    lab: Lab, site: Site
) -> None:
    """Invariants: never two daemons; no lost drain state; reconcile, never flush."""
    for address in BACKENDS:
        site.backend_up(address)
    _two_vips(site)
    site.start()
    _route(lab, site, ROUTE)
    done = _ctl(site, "drain", f"{BACKENDS[0]}:8080")
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: any(
            f"{BACKENDS[0]}:8080" in line and " 0 " in f" {line} "
            for line in site.ns_run("ipvsadm", "-L", "-n").stdout.splitlines()
        ),
        "the drain at weight 0 in ip_vs",
    )
    pid = site.pid()
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.05)  # inside the reload (the guest is slow)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the daemon killed")
    before = site.log_text()
    site.start()
    second = site.pid()
    assert second != pid
    # one daemon: a second start starts nothing (silent, as the original) and logs
    # the running pid
    again = site.ld("start")
    assert again.returncode == 0
    assert f"is already running with pid: {second}" in site.log_text()
    assert site.pid() == second
    time.sleep(3)
    new_log = site.log_text()[len(before) :]
    for word in ("Added virtual server", "Changed virtual server", "Purged virtual server"):
        assert word not in new_log, f"restart wrote to the kernel: {new_log}"
    listing = site.ns_run("ipvsadm", "-L", "-n").stdout
    drained = [line for line in listing.splitlines() if f"{BACKENDS[0]}:8080" in line]
    assert drained and drained[0].split()[3] == "0", listing
    status = site.ns_run(LDIRECTORDCTL, "status", "--json", "-c", site.cfg.name)
    assert f"{BACKENDS[0]}:8080" in status.stdout
