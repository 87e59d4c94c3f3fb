"""The netlink backend against a real kernel ip_vs: every operation, every model field.

Cross-checked with ipvsadm in both directions: what we write, ipvsadm lists (and
our listing of it is byte-identical); what ipvsadm writes, we read back exactly.
Ends with real NAT traffic between network namespaces and its counters.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ldirectord_py.ipvs.connections import read_connections
from ldirectord_py.ipvs.format import ListingOptions, render_listing
from ldirectord_py.ipvs.listing import live_listing
from ldirectord_py.ipvs.model import (
    SCHEDULERS,
    Destination,
    Family,
    Forwarding,
    SchedFlags,
    Table,
    VirtualService,
)
from ldirectord_py.ipvs.netlink import AsyncIPVS, IPVSError, NetlinkIPVS
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)
from ldirectord_py.ipvs.reconcile import owned_keys

if TYPE_CHECKING:
    from conftest import Ipvsadm

VIP = "192.0.2.1"


@pytest.fixture(scope="module")
def backend() -> Iterator[NetlinkIPVS]:
    with NetlinkIPVS() as ipvs:
        yield ipvs


def program(backend: NetlinkIPVS, table: Table) -> None:
    operations: list[Operation] = []
    for service in table:
        operations.append(AddService(service))
        operations.extend(AddDestination(service.key, d) for d in service.destinations)
    errors = [e for e in backend.execute(operations) if e is not None]
    assert errors == []


def ipvsadm_listing(ipvsadm: Ipvsadm, *args: str) -> str:
    return ipvsadm("-L", *args)


def same_listing(
    backend: NetlinkIPVS, ipvsadm: Ipvsadm, options: ListingOptions, *args: str
) -> None:
    assert render_listing(backend.read_table(), options) == ipvsadm_listing(ipvsadm, *args)


# ----------------------------------------------------------------------- info ----
def test_info_is_the_listing_header(backend: NetlinkIPVS, ip_vs_kernel: str) -> None:
    info = backend.read_info()
    assert f"IP Virtual Server version {info.version_text} (size={info.connection_table_size})" == (
        ip_vs_kernel
    )


# ------------------------------------------------------------------- services ----
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_is_written_read_and_edited(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm, scheduler: str
) -> None:
    service = VirtualService.tcp(VIP, 80, scheduler=scheduler)
    backend.add_service(service)
    assert backend.read_table() == Table.of([service])
    assert ipvs_table.rules() == [f"-A -t {VIP}:80 -s {scheduler}"]
    other = "rr" if scheduler != "rr" else "wrr"
    backend.edit_service(replace(service, scheduler=other))
    assert [s.scheduler for s in backend.read_table()] == [other]


SERVICE_SHAPES = [
    VirtualService.tcp(VIP, 80),
    VirtualService.udp(VIP, 53, scheduler="wrr"),
    VirtualService.sctp(VIP, 5060, scheduler="rr"),
    VirtualService.tcp("2001:db8::1", 443, scheduler="mh", sched_flags=SchedFlags.FLAG_2),
    VirtualService.udp("2001:db8::1", 53, persistence=120, netmask=64),
    VirtualService.tcp(VIP, 443, persistence=300, netmask=0xFFFFFF00),
    VirtualService.tcp(VIP, 0, persistence=60),
    VirtualService.firewall_mark(
        7, scheduler="sh", sched_flags=SchedFlags.FLAG_1 | SchedFlags.FLAG_2
    ),
    VirtualService.firewall_mark(7, Family.INET6, persistence=30, netmask=48),
    VirtualService.firewall_mark(0xFFFFFFFF, scheduler="dh"),
    VirtualService.udp(VIP, 5060, persistence=60, pe_name="sip", one_packet=True),
    VirtualService.firewall_mark(8, scheduler="lblc", sched_flags=SchedFlags.FLAG_3),
    VirtualService.tcp(VIP, 8080, one_packet=True),
]


@pytest.mark.parametrize("service", SERVICE_SHAPES, ids=str)
def test_each_service_shape_reads_back_and_lists_as_ipvsadm(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm, service: VirtualService
) -> None:
    backend.add_service(service)
    assert backend.read_table() == Table.of([service])
    for args, options in [
        (("-n",), ListingOptions(numeric=True)),
        (("-n", "--persistent-conn"), ListingOptions(numeric=True, persistent_conn=True)),
        (("-n", "--stats"), ListingOptions(numeric=True, stats=True)),
    ]:
        same_listing(backend, ipvs_table, options, *args)


def test_every_service_setting_is_edited_in_place(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    service = VirtualService.udp(VIP, 5060, scheduler="rr")
    backend.add_service(service)
    backend.add_destination(service.key, Destination.of("10.0.0.1", 5060, Forwarding.MASQ))
    for edited in [
        replace(service, scheduler="sh", sched_flags=SchedFlags.FLAG_1 | SchedFlags.FLAG_2),
        replace(service, persistence=600, netmask=0xFFFF0000),
        replace(service, persistence=60, pe_name="sip"),
        replace(service, one_packet=True),
        service,
    ]:
        backend.edit_service(edited)
        (live,) = backend.read_table()
        assert live == edited
        assert len(live.destinations) == 1, "an edit must not drop the destinations"


# --------------------------------------------------------------- destinations ----
def test_each_forwarding_method_weight_and_threshold(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    service = VirtualService.tcp(VIP, 80, scheduler="wrr")
    reals = (
        Destination.of("10.0.0.1", 8080, Forwarding.MASQ, weight=3),
        Destination.of("10.0.0.2", 80, Forwarding.ROUTE, weight=0),
        Destination.of("10.0.0.3", 80, Forwarding.TUNNEL, weight=2**31 - 1),
        Destination.of("10.0.0.4", 80, Forwarding.LOCAL, weight=1),
        Destination.of("10.0.0.5", 80, Forwarding.MASQ, upper_threshold=100, lower_threshold=10),
        Destination.of("10.0.0.6", 80, Forwarding.ROUTE, upper_threshold=2**31 - 1),
        Destination.of("10.0.0.7", 80, Forwarding.ROUTE, upper_threshold=9, lower_threshold=9),
    )
    program(backend, Table.of([replace(service, destinations=reals)]))
    (live,) = backend.read_table()
    assert set(live.destinations) == set(reals)
    same_listing(backend, ipvs_table, ListingOptions(numeric=True), "-n")
    same_listing(
        backend, ipvs_table, ListingOptions(numeric=True, thresholds=True), "-n", "--thresholds"
    )
    assert "Local" in ipvs_table("-L", "-n")


def test_ipv6_destinations_and_an_ipv4_tunnel_under_an_ipv6_service(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    service = VirtualService.tcp(
        "2001:db8::1",
        80,
        destinations=(
            Destination.of("2001:db8:1::1", 8080, Forwarding.MASQ, weight=5),
            Destination.of("10.0.0.9", 80, Forwarding.TUNNEL),
        ),
    )
    fwm6 = VirtualService.firewall_mark(
        9, Family.INET6, destinations=(Destination.of("2001:db8:1::2", 0, Forwarding.ROUTE),)
    )
    program(backend, Table.of([service, fwm6]))
    assert backend.read_table() == Table.of([service, fwm6])
    same_listing(backend, ipvs_table, ListingOptions(numeric=True), "-n")


def test_destination_settings_are_edited_in_place(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    service = VirtualService.tcp(VIP, 80)
    real = Destination.of("10.0.0.1", 80, Forwarding.MASQ)
    program(backend, Table.of([replace(service, destinations=(real,))]))
    for edited in [
        replace(real, weight=0),
        replace(real, weight=7, upper_threshold=50, lower_threshold=5),
        replace(real, forwarding=Forwarding.ROUTE),
        replace(real, forwarding=Forwarding.TUNNEL),
        real,
    ]:
        backend.edit_destination(service.key, edited)
        assert backend.read_table().services[0].destinations == (edited,)


def test_the_kernel_stores_a_destination_port_as_sent_and_ipvsadm_rewrites_it(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    """The port rewrite of gate/ipip reals is ipvsadm's, not the kernel's: the
    reconciler therefore plans such reals on the virtual's port itself."""
    service = VirtualService.tcp(VIP, 80)
    backend.add_service(service)
    backend.add_destination(service.key, Destination.of("10.0.0.1", 8080, Forwarding.ROUTE))
    ipvs_table("-a", "-t", f"{VIP}:80", "-r", "10.0.0.2:8080", "-g")
    ipvs_table("-a", "-t", f"{VIP}:80", "-r", "10.0.0.3:8080", "-i")
    ipvs_table("-A", "-f", "5")
    ipvs_table("-a", "-f", "5", "-r", "10.0.0.4:8080", "-g")
    ports = {str(d) for s in backend.read_table() for d in s.destinations}
    assert ports == {"10.0.0.1:8080", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:8080"}
    stored = service.stored_destination(Destination.of("10.0.0.2", 8080, Forwarding.ROUTE))
    assert str(stored) == "10.0.0.2:80"


def test_add_edit_delete_of_services_and_destinations(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    service = VirtualService.tcp(VIP, 80)
    real = Destination.of("10.0.0.1", 80, Forwarding.MASQ)
    backend.add_service(service)
    backend.add_destination(service.key, real)
    assert ipvs_table.rules() == [
        f"-A -t {VIP}:80 -s wlc",
        f"-a -t {VIP}:80 -r 10.0.0.1:80 -m -w 1",
    ]
    backend.delete_destination(service.key, real)
    assert ipvs_table.rules() == [f"-A -t {VIP}:80 -s wlc"]
    backend.delete_service(service.key)
    assert ipvs_table.rules() == []


# ------------------------------------------------------------------- refusals ----
def test_refusals_name_the_object_and_the_errno(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> None:
    service = VirtualService.tcp(VIP, 80)
    real = Destination.of("10.0.0.1", 80, Forwarding.MASQ)
    backend.add_service(service)
    backend.add_destination(service.key, real)
    cases: list[tuple[Operation, int, str]] = [
        (AddService(service), errno.EEXIST, f"add service TCP {VIP}:80: File exists (EEXIST)"),
        (
            AddDestination(service.key, real),
            errno.EEXIST,
            f"add destination 10.0.0.1:80 to TCP {VIP}:80: File exists (EEXIST)",
        ),
        (
            DeleteService(VirtualService.udp(VIP, 53).key),
            errno.ESRCH,
            f"delete service UDP {VIP}:53: No such process (ESRCH)",
        ),
        (
            EditService(VirtualService.udp(VIP, 53)),
            errno.ESRCH,
            f"edit service UDP {VIP}:53: No such process (ESRCH)",
        ),
        (
            EditDestination(service.key, Destination.of("10.0.0.2", 80)),
            errno.ENOENT,
            f"edit destination 10.0.0.2:80 of TCP {VIP}:80: No such file or directory (ENOENT)",
        ),
        (
            DeleteDestination(service.key, Destination.of("10.0.0.2", 80).key),
            errno.ENOENT,
            f"delete destination 10.0.0.2:80 from TCP {VIP}:80: No such file or directory (ENOENT)",
        ),
        (
            AddDestination(VirtualService.udp(VIP, 53).key, real),
            errno.ESRCH,
            f"add destination 10.0.0.1:80 to UDP {VIP}:53: No such process (ESRCH)",
        ),
        (
            AddService(VirtualService.tcp(VIP, 81, scheduler="nosuch")),
            errno.ENOENT,
            f"add service TCP {VIP}:81: No such file or directory (ENOENT)",
        ),
        (
            AddService(VirtualService.udp(VIP, 82, pe_name="nosuch")),
            errno.ENOENT,
            f"add service UDP {VIP}:82: No such file or directory (ENOENT)",
        ),
    ]
    for operation, code, text in cases:
        with pytest.raises(IPVSError) as raised:
            backend.run(operation)
        assert (raised.value.errno, str(raised.value)) == (code, text)
    assert len(ipvs_table.rules()) == 2, "refused operations changed nothing"


def test_a_batch_goes_on_after_a_refusal(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> None:
    a, b = VirtualService.tcp(VIP, 80), VirtualService.tcp(VIP, 81)
    results = backend.execute([AddService(a), AddService(a), AddService(b)])
    assert [r.errno if r else None for r in results] == [None, errno.EEXIST, None]
    assert backend.read_table() == Table.of([a, b])


def test_large_batches_report_one_result_per_operation(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm
) -> None:
    services = [VirtualService.tcp(f"10.{i // 250}.{i % 250}.1", 80) for i in range(450)]
    operations: list[Operation] = [AddService(s) for s in services]
    operations.insert(300, AddService(services[0]))  # one refusal in the second batch
    results = backend.execute(operations)
    assert len(results) == len(operations)
    assert [i for i, r in enumerate(results) if r is not None] == [300]
    assert len(backend.read_table()) == 450


def test_flush_empties_the_table(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> None:
    program(backend, Table.of(SERVICE_SHAPES[:4]))
    backend.flush()
    assert backend.read_table() == Table()
    assert ipvs_table.rules() == []


# --------------------------------------------------------- ipvsadm writes, we read
def test_what_ipvsadm_writes_we_read_exactly(backend: NetlinkIPVS, ipvs_table: Ipvsadm) -> None:
    for command in [
        f"-A -t {VIP}:80 -s wrr -p 600 -M 255.255.255.0",
        f"-a -t {VIP}:80 -r 10.0.0.1:8080 -m -w 4 -x 100 -y 20",
        f"-a -t {VIP}:80 -r 10.0.0.2:80 -g -w 0",
        f"-a -t {VIP}:80 -r 10.0.0.3:80 -i",
        "-A -u [2001:db8::1]:53 -s sh -b sh-port,sh-fallback -p 30 -M 64",
        "-a -u [2001:db8::1]:53 -r [2001:db8:1::1]:53 -m",
        "-A -f 3 -6 -s rr -p 60 -M 96",
        "-A -f 4 -s mh -b mh-port",
        f"-A -u {VIP}:5060 -s rr -p 60 --pe sip -o",
        f"-A --sctp-service {VIP}:2905 -s lc",
    ]:
        ipvs_table(*command.split())
    expected = Table.of(
        [
            VirtualService.tcp(
                VIP,
                80,
                scheduler="wrr",
                persistence=600,
                netmask=0xFFFFFF00,
                destinations=(
                    Destination.of(
                        "10.0.0.1",
                        8080,
                        Forwarding.MASQ,
                        weight=4,
                        upper_threshold=100,
                        lower_threshold=20,
                    ),
                    Destination.of("10.0.0.2", 80, Forwarding.ROUTE, weight=0),
                    Destination.of("10.0.0.3", 80, Forwarding.TUNNEL),
                ),
            ),
            VirtualService.udp(
                "2001:db8::1",
                53,
                scheduler="sh",
                sched_flags=SchedFlags.FLAG_1 | SchedFlags.FLAG_2,
                persistence=30,
                netmask=64,
                destinations=(Destination.of("2001:db8:1::1", 53, Forwarding.MASQ),),
            ),
            VirtualService.firewall_mark(
                3, Family.INET6, scheduler="rr", persistence=60, netmask=96
            ),
            VirtualService.firewall_mark(4, scheduler="mh", sched_flags=SchedFlags.FLAG_2),
            VirtualService.udp(
                VIP, 5060, scheduler="rr", persistence=60, pe_name="sip", one_packet=True
            ),
            VirtualService.sctp(VIP, 2905, scheduler="lc"),
        ]
    )
    assert backend.read_table() == expected
    same_listing(backend, ipvs_table, ListingOptions(numeric=True), "-n")
    same_listing(backend, ipvs_table, ListingOptions())
    # what `ldirectordctl list` will call
    assert live_listing(ListingOptions(numeric=True, thresholds=True)) == ipvs_table(
        "-L", "-n", "--thresholds"
    )
    as_json = json.loads(live_listing(ListingOptions(numeric=True), as_json=True))
    assert len(as_json["services"]) == 6


def test_asyncio_backend_reconciles_without_blocking_the_loop(ipvs_table: Ipvsadm) -> None:
    desired = Table.of(
        [
            VirtualService.tcp(
                VIP, 80, destinations=(Destination.of("10.0.0.1", 80, Forwarding.MASQ),)
            )
        ]
    )

    async def scenario() -> tuple[int, int, int]:
        ipvs = AsyncIPVS()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        first = await ipvs.reconcile(desired, owned_keys(desired))
        second = await ipvs.reconcile(desired, owned_keys(desired))
        task.cancel()
        live = await ipvs.read_table()
        await ipvs.close()
        assert live == desired
        return first.applied, len(second.operations), ticks

    applied, again, ticks = asyncio.run(scenario())
    assert (applied, again) == (2, 0)
    assert ticks > 0, "the event loop ran while the worker talked to the kernel"


# ---------------------------------------------------------------- real traffic ----
def sh(command: str) -> str:
    return subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def nat_lab(ipvs_table: Ipvsadm, tmp_path: Path) -> Iterator[None]:
    """client netns -> VIP on a dummy device -> two web servers in their own netns.

    It forwards in the guest's own namespace, and puts the setting back afterwards:
    every namespace made later starts from that one's IPv4 settings. It removes
    every device it brought, also the one loading `dummy` makes on its own
    (dummy0): test_guest.py holds the guest to lo alone, whichever runs first."""
    servers = []
    forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    devices = set(os.listdir("/sys/class/net"))
    try:
        for ns, inside, outside in [
            ("ktrs1", "198.51.100.2/30", "198.51.100.1/30"),
            ("ktrs2", "198.51.100.6/30", "198.51.100.5/30"),
            ("ktcl", "203.0.113.2/24", "203.0.113.1/24"),
        ]:
            sh(f"ip netns add {ns}")
            sh(f"ip link add v{ns} type veth peer name eth0 netns {ns}")
            sh(f"ip addr add {outside} dev v{ns} && ip link set v{ns} up")
            sh(f"ip -n {ns} addr add {inside} dev eth0 && ip -n {ns} link set eth0 up")
            sh(f"ip -n {ns} link set lo up && ip -n {ns} route add default via {outside[:-3]}")
            if ns != "ktcl":
                root = tmp_path / ns
                root.mkdir()
                (root / "index.html").write_text(ns + "\n")
                servers.append(
                    subprocess.Popen(
                        [
                            "ip",
                            "netns",
                            "exec",
                            ns,
                            "busybox",
                            "httpd",
                            "-f",
                            "-p",
                            f"{inside[:-3]}:8080",
                            "-h",
                            str(root),
                        ]
                    )
                )
        sh("ip link add ktvip type dummy && ip link set ktvip up")
        sh(f"ip addr add {VIP}/32 dev ktvip")
        sh("sysctl -qw net.ipv4.ip_forward=1")
        yield
    finally:
        for p in servers:
            p.terminate()
            p.wait()
        for ns in ("ktrs1", "ktrs2", "ktcl"):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        subprocess.run(["ip", "link", "del", "ktvip"], check=False)
        for name in sorted(set(os.listdir("/sys/class/net")) - devices):
            subprocess.run(["ip", "link", "del", name], check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forwarding)


def poll(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


def test_nat_traffic_is_counted_and_listed_as_ipvsadm_does(
    backend: NetlinkIPVS, ipvs_table: Ipvsadm, nat_lab: None
) -> None:
    service = VirtualService.tcp(
        VIP,
        80,
        scheduler="rr",
        destinations=(
            Destination.of("198.51.100.2", 8080, Forwarding.MASQ),
            Destination.of("198.51.100.6", 8080, Forwarding.MASQ),
        ),
    )
    program(backend, Table.of([service]))
    answers = [sh(f"ip netns exec ktcl curl -sS -m 10 http://{VIP}/").strip() for _ in range(4)]
    assert sorted(answers) == ["ktrs1", "ktrs1", "ktrs2", "ktrs2"]

    # the kernel folds its per-CPU counters every 2 s: poll
    poll(lambda: backend.read_table().services[0].stats.connections == 4)
    (live,) = backend.read_table()
    assert live.stats.packets_in > 0 and live.stats.packets_out > 0
    assert live.stats.bytes_in > 0 and live.stats.bytes_out > 0
    for d in live.destinations:
        assert d.counters.stats.connections == 2
        assert d.counters.active_connections + d.counters.inactive_connections == 2

    # the listings that carry counters, byte for byte, read in one estimator window
    for args, options in [
        (("-n", "--stats"), ListingOptions(numeric=True, stats=True)),
        (("-n", "--rate"), ListingOptions(numeric=True, rate=True)),
        (("-n", "--stats", "--exact"), ListingOptions(numeric=True, stats=True, exact=True)),
        (("-n",), ListingOptions(numeric=True)),
        (("-n", "--persistent-conn"), ListingOptions(numeric=True, persistent_conn=True)),
    ]:
        for _ in range(20):
            before = backend.read_table()
            theirs = ipvs_table("-L", *args)
            if backend.read_table().services[0].stats == before.services[0].stats:
                break
        assert render_listing(before, options) == theirs

    # -c: the connection table, read around the same second as ipvsadm
    for _ in range(50):
        before_conns = read_connections()
        theirs = ipvs_table("-L", "-n", "-c")
        if read_connections() == before_conns:
            break
    assert len(before_conns) >= 4
    rendered = render_listing(
        Table(), ListingOptions(numeric=True, connections=True), connections=before_conns
    )
    assert rendered == theirs

    backend.zero(service.key)
    (zeroed,) = backend.read_table()
    assert zeroed.stats.connections == 0 and zeroed.stats.packets_in == 0
    sh(f"ip netns exec ktcl curl -sS -m 10 http://{VIP}/")
    poll(lambda: backend.read_table().services[0].stats.connections == 1)
    backend.zero()
    assert backend.read_table().services[0].stats.connections == 0
