"""Smoke tests of the kernel test environment itself (scripts/ipvs-vm/run).

They prove what every other test in tests/kernel relies on: a real ip_vs with
every scheduler, a guest that cannot reach any network, and the project's venv
with pyroute2 talking to the kernel over generic netlink.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Ipvsadm

# Every scheduler that ip_vs ships (ipvsadm(8), "-s scheduler").
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq")
VIP = "192.0.2.1"  # RFC 5737 documentation range: exists only in the test's table
REAL = "198.51.100.2"
REPO = Path(__file__).resolve().parents[2]
# Set by scripts/ipvs-vm/run in the guest's environment; absent on a host run.
IN_GUEST = os.environ.get("IPVS_VM_GUEST") == "1"


def test_ip_vs_reports_its_version(ip_vs_kernel: str, ipvsadm: Ipvsadm) -> None:
    assert re.fullmatch(r"IP Virtual Server version \d+\.\d+\.\d+ \(size=\d+\)", ip_vs_kernel)
    # ipvsadm asks the kernel over netlink and prints the same first line.
    assert ipvsadm("-L", "-n").splitlines()[0] == ip_vs_kernel


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_loads(ipvs_table: Ipvsadm, scheduler: str) -> None:
    # The kernel finds the scheduler by name (loading ip_vs_<name> on demand)
    # or refuses the service.
    ipvs_table("-A", "-t", f"{VIP}:80", "-s", scheduler)
    assert ipvs_table.rules() == [f"-A -t {VIP}:80 -s {scheduler}"]


def test_unknown_scheduler_is_refused(ipvs_table: Ipvsadm) -> None:
    # Proves the scheduler test above is not vacuous: the kernel checks the name.
    proc = ipvs_table.run("-A", "-t", f"{VIP}:80", "-s", "nosuchsched")
    assert proc.returncode != 0
    assert ipvs_table.rules() == []


def test_the_guest_has_no_network_device_but_lo() -> None:
    if not IN_GUEST:
        # Host mode: the runner used the host only because its kernel has ip_vs;
        # there is no guest to isolate, and the host's interfaces are its own.
        assert Path("/proc/net/ip_vs").exists()
        return
    # Strict whatever ran before: a test that adds a device removes it, and the
    # ones a module makes on its own when loaded (dummy0), too (test_netlink.py).
    left = "a test left a device behind (or the guest has a network device)"
    assert [name for _, name in socket.if_nameindex()] == ["lo"], left
    assert os.listdir("/sys/class/net") == ["lo"], left
    # Not merely no driver: no network controller (PCI class 0x02) exists at all.
    pci = Path("/sys/bus/pci/devices")
    nics = [d.name for d in pci.iterdir() if (d / "class").read_text().startswith("0x02")]
    assert nics == []


def test_venv_python_and_pyroute2_drive_the_kernel(ipvs_table: Ipvsadm) -> None:
    # The interpreter is a venv, and the project is importable from the work tree.
    assert sys.prefix != sys.base_prefix
    import ldirectord_py

    assert Path(ldirectord_py.__file__).resolve().is_relative_to(REPO)

    from pyroute2 import IPVS, IPVSService

    ipvs_table("-A", "-t", f"{VIP}:80", "-s", "wlc")
    ipvs_table("-a", "-t", f"{VIP}:80", "-r", f"{REAL}:8080", "-m", "-w", "3")
    with IPVS() as ipvs:
        services = list(ipvs.service("dump"))
        assert len(services) == 1
        svc = services[0]
        assert svc.get(("IPVS_CMD_ATTR_SERVICE", "addr")) == VIP
        assert svc.get(("IPVS_CMD_ATTR_SERVICE", "port")) == 80
        assert svc.get(("IPVS_CMD_ATTR_SERVICE", "protocol")) == socket.IPPROTO_TCP
        assert svc.get(("IPVS_CMD_ATTR_SERVICE", "sched_name")) == "wlc"
        service = IPVSService(addr=VIP, port=80, protocol=socket.IPPROTO_TCP)
        dests = list(ipvs.dest("dump", service=service))
        assert len(dests) == 1
        dest = dests[0]
        assert dest.get(("IPVS_CMD_ATTR_DEST", "addr")) == REAL
        assert dest.get(("IPVS_CMD_ATTR_DEST", "port")) == 8080
        assert dest.get(("IPVS_CMD_ATTR_DEST", "weight")) == 3
        assert dest.get(("IPVS_CMD_ATTR_DEST", "fwd_method")) == 0  # masquerading
        # ...and what pyroute2 writes, ipvsadm reads.
        ipvs.service("del", service=service)
    assert ipvs_table.rules() == []
