"""The table model: keys, equality that ignores counters and order, validation."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ldirectord_py.ipvs.model import (
    Destination,
    DestinationCounters,
    DestinationKey,
    Family,
    Forwarding,
    IPVSInfo,
    Protocol,
    SchedFlags,
    ServiceKey,
    Stats,
    Table,
    VirtualService,
)


def test_service_keys_read_like_ipvsadm() -> None:
    assert str(VirtualService.tcp("192.0.2.1", 80).key) == "TCP 192.0.2.1:80"
    assert str(VirtualService.udp("2001:db8::1", 53).key) == "UDP [2001:db8::1]:53"
    assert str(VirtualService.sctp("192.0.2.1", 5060).key) == "SCTP 192.0.2.1:5060"
    assert str(VirtualService.firewall_mark(7).key) == "FWM 7"
    assert str(VirtualService.firewall_mark(7, Family.INET6).key) == "FWM 7 IPv6"
    assert str(Destination.of("2001:db8::2", 8080).key) == "[2001:db8::2]:8080"


def test_ipv4_mapped_addresses_print_as_the_c_library_does() -> None:
    assert str(VirtualService.tcp("::ffff:192.0.2.1", 80).key) == "TCP [::ffff:192.0.2.1]:80"


def test_service_key_from_ipvsadm_arguments() -> None:
    assert (
        ServiceKey.for_address(Protocol.TCP, "192.0.2.1:80")
        == VirtualService.tcp("192.0.2.1", 80).key
    )
    assert (
        ServiceKey.for_address(Protocol.UDP, "[2001:db8::1]:53")
        == VirtualService.udp("2001:db8::1", 53).key
    )
    assert ServiceKey.for_address(Protocol.TCP, "192.0.2.1").port == 0
    assert (
        ServiceKey.for_fwmark(7, Family.INET6) == VirtualService.firewall_mark(7, Family.INET6).key
    )
    assert ServiceKey.for_fwmark(7) != ServiceKey.for_fwmark(7, Family.INET6)


def test_fwmark_services_of_both_families_are_different_services() -> None:
    table = Table.of(
        [VirtualService.firewall_mark(7), VirtualService.firewall_mark(7, Family.INET6)]
    )
    assert len(table) == 2


def test_counters_never_take_part_in_equality() -> None:
    quiet = Destination.of("10.0.0.1", 80, Forwarding.MASQ, weight=2)
    busy = Destination(
        quiet.address,
        80,
        Forwarding.MASQ,
        2,
        counters=DestinationCounters(5, 6, 7, Stats(connections=100)),
    )
    assert quiet == busy
    a = VirtualService.tcp("192.0.2.1", 80, destinations=(quiet,))
    b = VirtualService.tcp("192.0.2.1", 80, destinations=(busy,), stats=Stats(bytes_in=9))
    assert Table.of([a], IPVSInfo(0x010201, 4096)) == Table.of([b])


def test_tables_compare_services_and_destinations_in_any_order() -> None:
    d1, d2 = Destination.of("10.0.0.1", 80), Destination.of("10.0.0.2", 80)
    s1 = VirtualService.tcp("192.0.2.1", 80, destinations=(d1, d2))
    s2 = VirtualService.udp("192.0.2.1", 53)
    assert Table.of([s1, s2]) == Table.of(
        [s2, VirtualService.tcp("192.0.2.1", 80, destinations=(d2, d1))]
    )
    assert Table.of([s1, s2]) != Table.of([s2, VirtualService.tcp("192.0.2.1", 80)])


def test_a_service_setting_difference_is_a_table_difference() -> None:
    assert Table.of([VirtualService.tcp("192.0.2.1", 80, scheduler="rr")]) != Table.of(
        [VirtualService.tcp("192.0.2.1", 80, scheduler="wrr")]
    )


def test_default_netmask_is_full_for_each_family() -> None:
    assert VirtualService.tcp("192.0.2.1", 80).netmask == 0xFFFFFFFF
    assert VirtualService.tcp("2001:db8::1", 80).netmask == 128
    assert VirtualService.tcp("192.0.2.1", 80, netmask=0xFFFFFF00).netmask_text == "255.255.255.0"
    assert VirtualService.tcp("2001:db8::1", 80, netmask=64).netmask_text == "64"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: VirtualService.firewall_mark(0x1_0000_0000), "fwmark"),
        (
            lambda: VirtualService(Family.INET, Protocol.TCP, ip_address("2001:db8::1"), 80),
            "family",
        ),
        (lambda: VirtualService.tcp("192.0.2.1", 65536), "port"),
        (lambda: VirtualService.tcp("2001:db8::1", 80, netmask=0), "prefix length"),
        (lambda: VirtualService.tcp("2001:db8::1", 80, netmask=129), "prefix length"),
        (lambda: Destination.of("10.0.0.1", 80, weight=-1), "weight"),
        (lambda: Destination.of("10.0.0.1", 80, weight=2**31), "weight"),
        (lambda: Destination.of("10.0.0.1", 80, upper_threshold=2**31), "upper_threshold"),
        (lambda: Destination.of("10.0.0.1", 80, lower_threshold=5), "lower threshold 5 above"),
        (
            lambda: VirtualService.tcp(
                "192.0.2.1", 80, destinations=(Destination.of("10.0.0.1", 80),) * 2
            ),
            "appears twice",
        ),
        (lambda: Table.of([VirtualService.tcp("192.0.2.1", 80)] * 2), "appears twice"),
    ],
)
def test_impossible_entries_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_persistence_the_kernel_would_wrap_is_not_writable() -> None:
    VirtualService.tcp("192.0.2.1", 80, persistence=31 * 86400).writable()
    with pytest.raises(ValueError, match="persistence timeout 17179870 out of range"):
        VirtualService.tcp("192.0.2.1", 80, persistence=17179870).writable()
    # but a table read back may hold it (someone else wrote it)
    assert VirtualService.tcp("192.0.2.1", 80, persistence=0).persistence == 0


def test_gate_and_ipip_destinations_are_stored_on_the_virtual_port() -> None:
    service = VirtualService.tcp("192.0.2.1", 80)
    gate = Destination.of("10.0.0.1", 8080, Forwarding.ROUTE, weight=3)
    ipip = Destination.of("10.0.0.2", 8080, Forwarding.TUNNEL)
    masq = Destination.of("10.0.0.3", 8080, Forwarding.MASQ)
    assert service.stored_destination(gate) == Destination.of(
        "10.0.0.1", 80, Forwarding.ROUTE, weight=3
    )
    assert service.stored_destination(ipip).key == DestinationKey(ip_address("10.0.0.2"), 80)
    assert service.stored_destination(masq) == masq
    assert VirtualService.firewall_mark(3).stored_destination(gate) == gate


def test_forwarding_words_of_ldirectord() -> None:
    assert Forwarding.from_ldirectord("gate") is Forwarding.ROUTE
    assert Forwarding.from_ldirectord("masq") is Forwarding.MASQ
    assert Forwarding.from_ldirectord("ipip") is Forwarding.TUNNEL
    assert [f.label for f in Forwarding] == ["Masq", "Local", "Tunnel", "Route"]
    with pytest.raises(ValueError):
        Forwarding.from_ldirectord("nat")


def test_scheduler_flags_parse_like_ipvsadm_b() -> None:
    assert SchedFlags.parse("sh-port,sh-fallback", "sh") == SchedFlags.FLAG_1 | SchedFlags.FLAG_2
    assert SchedFlags.parse("mh-port", "mh") == SchedFlags.FLAG_2
    assert SchedFlags.parse("flag-3", "rr") == SchedFlags.FLAG_3
    with pytest.raises(ValueError, match="does not apply to rr"):
        SchedFlags.parse("sh-port", "rr")


def test_service_flag_word() -> None:
    s = VirtualService.udp(
        "192.0.2.1", 53, persistence=300, one_packet=True, sched_flags=SchedFlags.FLAG_2
    )
    assert s.flags == 0x01 | 0x04 | 0x10
    assert VirtualService.tcp("192.0.2.1", 80).flags == 0


def test_ipvs_info_version_text() -> None:
    assert IPVSInfo(0x010201, 4096).version_text == "1.2.1"
