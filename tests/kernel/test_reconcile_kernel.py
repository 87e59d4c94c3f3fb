"""The reconciler's guarantees against a real kernel, with the operations counted.

Zero operations for an unchanged table, in-place edits, services of others left
alone, and repair after someone changed an owned entry with ipvsadm.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from ldirectord_py.ipvs.model import Destination, Family, Forwarding, Table, VirtualService
from ldirectord_py.ipvs.netlink import NetlinkIPVS
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
)
from ldirectord_py.ipvs.reconcile import ApplyReport, Ownership, owned_keys, plan, reconcile

if TYPE_CHECKING:
    from conftest import Ipvsadm

WEB = VirtualService.tcp(
    "192.0.2.1",
    80,
    scheduler="wrr",
    destinations=(
        Destination.of("10.0.0.1", 80, Forwarding.MASQ, weight=2),
        Destination.of("10.0.0.2", 80, Forwarding.MASQ, weight=1),
        Destination.of("10.0.0.3", 80, Forwarding.MASQ, weight=0),
    ),
)
DNS6 = VirtualService.udp(
    "2001:db8::53",
    53,
    scheduler="sh",
    persistence=30,
    netmask=64,
    destinations=(Destination.of("2001:db8:1::1", 53, Forwarding.ROUTE),),
)
MARKED = VirtualService.firewall_mark(
    10,
    persistence=300,
    netmask=0xFFFFFF00,
    destinations=(
        Destination.of("10.0.1.1", 0, Forwarding.ROUTE),
        Destination.of("10.0.1.2", 0, Forwarding.TUNNEL),
    ),
)
DESIRED = Table.of([WEB, DNS6, MARKED])
OURS = owned_keys(DESIRED)


@pytest.fixture(scope="module")
def backend() -> Iterator[NetlinkIPVS]:
    with NetlinkIPVS() as ipvs:
        yield ipvs


def converge(backend: NetlinkIPVS, desired: Table = DESIRED, owns: Ownership = OURS) -> ApplyReport:
    report = reconcile(desired, backend, owns)
    assert report.ok, str(report)
    return report


@pytest.fixture
def programmed(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> Ipvsadm:
    report = converge(backend)
    assert report.counts() == {"add service": 3, "add destination": 6}
    return ipvs_table


def test_an_empty_kernel_is_programmed_and_reads_back_equal(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    assert backend.read_table() == DESIRED


def test_an_unchanged_table_gives_zero_operations(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    before = programmed.rules()
    for _ in range(3):
        assert converge(backend).operations == ()
    assert programmed.rules() == before


def test_one_weight_change_is_exactly_one_edit(backend: NetlinkIPVS, programmed: Ipvsadm) -> None:
    changed = replace(WEB.destinations[2], weight=5)
    desired = Table.of([replace(WEB, destinations=(*WEB.destinations[:2], changed)), DNS6, MARKED])
    report = converge(backend, desired)
    assert report.operations == (EditDestination(WEB.key, changed),)
    assert backend.read_table() == desired
    assert "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m -w 5" in programmed.rules()


def test_service_settings_change_in_place(backend: NetlinkIPVS, programmed: Ipvsadm) -> None:
    edited = replace(WEB, scheduler="sh", persistence=600, netmask=0xFFFF0000)
    desired = Table.of([edited, DNS6, MARKED])
    report = converge(backend, desired)
    assert report.operations == (EditService(edited),)
    assert backend.read_table() == desired
    assert programmed("-L", "-n", "-t", "192.0.2.1:80").splitlines()[2] == (
        "TCP  192.0.2.1:80 sh persistent 600 mask 255.255.0.0"
    )


def test_forwarding_and_thresholds_change_in_place(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    gate = replace(WEB.destinations[0], forwarding=Forwarding.ROUTE, upper_threshold=100)
    desired = Table.of([replace(WEB, destinations=(gate, *WEB.destinations[1:])), DNS6, MARKED])
    assert converge(backend, desired).operations == (EditDestination(WEB.key, gate),)
    assert backend.read_table() == desired


def test_services_of_others_are_never_touched(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> None:
    # an operator's service, and another instance's one on the same address
    ipvs_table("-A", "-t", "192.0.2.9:25", "-s", "rr")
    ipvs_table("-a", "-t", "192.0.2.9:25", "-r", "10.9.9.9:25", "-m", "-w", "3")
    ipvs_table("-A", "-t", "192.0.2.1:443", "-s", "lc", "-p", "60")
    theirs = ipvs_table.rules()
    report = converge(backend)
    assert report.counts() == {"add service": 3, "add destination": 6}
    live = backend.read_table()
    assert Table(tuple(s for s in live if OURS(s.key))) == DESIRED
    assert [r for r in ipvs_table.rules() if "192.0.2.9" in r or "192.0.2.1:443" in r] == theirs
    # and dropping all our services leaves theirs exactly as they were
    assert converge(backend, Table(), OURS).counts() == {"delete service": 3}
    assert ipvs_table.rules() == theirs


def test_a_real_deleted_behind_our_back_is_restored(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    programmed("-d", "-t", "192.0.2.1:80", "-r", "10.0.0.2:80")
    report = converge(backend)
    assert report.operations == (AddDestination(WEB.key, WEB.destinations[1]),)
    assert backend.read_table() == DESIRED


def test_a_weight_changed_behind_our_back_is_restored(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    programmed("-e", "-t", "192.0.2.1:80", "-r", "10.0.0.1:80", "-m", "-w", "9")
    programmed("-E", "-u", "[2001:db8::53]:53", "-s", "rr")
    report = converge(backend)
    assert set(report.operations) == {
        EditDestination(WEB.key, WEB.destinations[0]),
        EditService(DNS6),
    }
    assert backend.read_table() == DESIRED


def test_a_service_deleted_behind_our_back_is_restored_whole(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    programmed("-D", "-f", "10")
    report = converge(backend)
    assert report.operations == (
        AddService(MARKED),
        *(AddDestination(MARKED.key, d) for d in MARKED.destinations),
    )
    assert backend.read_table() == DESIRED


def test_a_real_added_by_hand_to_an_owned_service_is_removed(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    programmed("-a", "-t", "192.0.2.1:80", "-r", "10.0.0.99:80", "-m")
    report = converge(backend)
    assert report.operations == (DeleteDestination(WEB.key, Destination.of("10.0.0.99", 80).key),)


def test_a_service_dropped_from_the_config_is_deleted_on_reload(
    backend: NetlinkIPVS, programmed: Ipvsadm
) -> None:
    reloaded = Table.of([WEB, MARKED])
    report = converge(backend, reloaded, owned_keys(reloaded, DESIRED))
    assert report.operations == (DeleteService(DNS6.key),)
    assert backend.read_table() == reloaded


def test_gate_reals_on_another_port_converge_with_what_ipvsadm_makes(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    """A table programmed the Perl original's way (ipvsadm -g with the real's port)
    is already what we want: zero operations, and we produce the same table."""
    ipvs_table("-A", "-t", "192.0.2.5:80", "-s", "wlc")
    ipvs_table("-a", "-t", "192.0.2.5:80", "-r", "10.0.5.1:8080", "-g", "-w", "1")
    ipvs_table("-a", "-t", "192.0.2.5:80", "-r", "10.0.5.2:8080", "-i", "-w", "1")
    perl_made = ipvs_table.rules()
    desired = Table.of(
        [
            VirtualService.tcp(
                "192.0.2.5",
                80,
                destinations=(
                    Destination.of("10.0.5.1", 8080, Forwarding.ROUTE),
                    Destination.of("10.0.5.2", 8080, Forwarding.TUNNEL),
                ),
            )
        ]
    )
    assert converge(backend, desired, owned_keys(desired)).operations == ()
    backend.flush()
    assert converge(backend, desired, owned_keys(desired)).counts() == {
        "add service": 1,
        "add destination": 2,
    }
    assert ipvs_table.rules() == perl_made


def test_a_large_table_then_one_weight_change(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> None:
    services = []
    for i in range(100):
        reals = tuple(
            Destination.of(f"10.{i}.{j}.1", 80, Forwarding.MASQ, weight=1) for j in range(10)
        )
        family_v6 = i % 10 == 0
        address = f"2001:db8::{i:x}" if family_v6 else f"192.0.{i // 250}.{i % 250 + 1}"
        if family_v6:
            reals = tuple(
                Destination.of(f"2001:db8:{i:x}:{j:x}::1", 80, Forwarding.MASQ) for j in range(10)
            )
        services.append(VirtualService.tcp(address, 80, scheduler="wrr", destinations=reals))
    desired = Table.of(services)
    assert converge(backend, desired, owned_keys(desired)).counts() == {
        "add service": 100,
        "add destination": 1000,
    }
    assert converge(backend, desired, owned_keys(desired)).operations == ()
    one = replace(services[42].destinations[7], weight=9)
    services[42] = replace(
        services[42],
        destinations=tuple(one if d.key == one.key else d for d in services[42].destinations),
    )
    changed = Table.of(services)
    assert plan(changed, backend.read_table(), owned_keys(changed)) == [
        EditDestination(services[42].key, one)
    ]
    assert converge(backend, changed, owned_keys(changed)).applied == 1
    assert backend.read_table() == changed
    assert sum(1 for s in backend.read_table() if s.family is Family.INET6) == 10
