"""The anycast policy (engine/anycast.py) on scripted health and a fake clock:
plain floats for `now`, configs parsed from text, no sockets and no sleeps."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from ldirectord_py.config import Config, parse_text
from ldirectord_py.config.resolve import StaticResolver
from ldirectord_py.engine.anycast import AnycastPolicy, ServiceDataplane
from ldirectord_py.engine.wording import original_text
from ldirectord_py.routing.model import Route, VipDecision, host_prefix

RESOLVER = StaticResolver({}, {})
PREFIX = "anycastprefix = 198.51.100.0/24\nanycastprefix = 2001:db8::/32\n"

A, B, C, D = (f"198.51.100.{n}" for n in (10, 11, 12, 13))
V6 = "2001:db8::10"


def ident(address: str, port: int = 80) -> str:
    if ":" in address:
        return f"tcp:[{address}]:{port}"
    return f"tcp:{address}:{port}"


def vip(address: str, *extra: str, port: int = 80, reals: int = 2) -> str:
    head = f"virtual6=[{address}]:{port}\n" if ":" in address else f"virtual={address}:{port}\n"
    lines = [
        f"\treal=127.0.0.{n + 1}:{port} gate\n"
        if ":" not in address
        else f"\treal6=[::{n + 1}]:{port} gate\n"
        for n in range(reals)
    ]
    return head + "".join(lines) + "".join(f"\t{e}\n" for e in extra)


def config(*blocks: str, head: str = "") -> Config:
    text = PREFIX + head + "".join(blocks)
    return parse_text(
        text, "/etc/ha.d/anycast.cf", resolver=RESOLVER, hostname="lb1", check_files=False
    )


def by_vip(policy: AnycastPolicy) -> dict[str, VipDecision]:
    return {str(d.vip.network_address): d for d in policy.decisions()}


def state(policy: AnycastPolicy, address: str) -> str:
    return by_vip(policy)[address].state


def route(policy: AnycastPolicy, address: str) -> Route | None:
    return policy.desired().routes.get(host_prefix(address))


def texts(lines: list[object]) -> list[str]:
    return [original_text(line) for line in lines]  # type: ignore[arg-type,misc]


def up(*addresses: str) -> dict[str, bool | None]:
    return {ident(a): True for a in addresses}


def down(*addresses: str) -> dict[str, bool | None]:
    return {ident(a): False for a in addresses}


def merge(*maps: Mapping[str, bool | None]) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for m in maps:
        out.update(m)
    return out


# --------------------------------------------------------------- start, no flap


def test_a_config_without_anycast_vips_is_disabled() -> None:
    policy = AnycastPolicy(config(vip("192.0.2.10")), 0.0)
    assert not policy.enabled
    assert policy.decisions() == ()
    assert policy.update(1.0, {}, True) == []
    assert policy.desired().routes == {}
    assert policy.desired().addresses == {}
    assert policy.next_wakeup() is None


def test_announce_at_start_without_flap() -> None:
    policy = AnycastPolicy(config(vip(A), vip("192.0.2.10")), 100.0)
    assert policy.enabled
    assert policy.virtual_identities() == (ident(A),)
    (decision,) = policy.decisions()
    assert decision.state == "unknown"
    assert decision.since == 100.0
    assert decision.virtuals == (f"{A}:80 tcp",)
    assert decision.reason == f"waiting for the first check round: {A}:80 tcp: not checked yet"
    assert policy.desired().routes == {}

    # The first round is not over: still nothing, and nothing logged.
    assert policy.update(101.0, {ident(A): None}, True) == []
    assert policy.update(102.0, {}, True) == []
    assert state(policy, A) == "unknown"
    assert policy.desired().routes == {}

    lines = policy.update(103.0, up(A), True, real_counts={ident(A): (2, 2)})
    assert texts(lines) == [f"Anycast {A}/32: announced ({A}:80 tcp: 2 of 2 reals up)"]
    (decision,) = policy.decisions()
    assert (decision.state, decision.since, decision.guarded) == ("announced", 103.0, False)
    assert route(policy, A) == Route(host_prefix(A))
    # No change, no log, same since.
    assert policy.update(104.0, up(A), True) == []
    assert policy.decisions()[0].since == 103.0


def test_undecided_until_health_and_dataplane_have_answered() -> None:
    """undecided(): the VIPs whose held route a writer keeps as it is (a restarted
    daemon adopts its previous run's route); decided down leaves the set."""
    policy = AnycastPolicy(config(vip(A), vip(B), vip(C)), 0.0)
    prefixes = {a: host_prefix(a) for a in (A, B, C)}
    assert policy.undecided() == set(prefixes.values())
    programmed = ServiceDataplane(True)
    policy.update(
        1.0,
        merge(up(A), down(B)),
        True,
        services={ident(A): programmed, ident(B): programmed},
    )
    # A decided up, B decided down, C not checked yet
    assert policy.undecided() == {prefixes[C]}
    assert state(policy, B) == "withdrawn"
    # C healthy but its ip_vs service not attempted yet: still undecided
    policy.update(2.0, up(C), True, services={ident(A): programmed, ident(B): programmed})
    assert policy.undecided() == {prefixes[C]}
    assert route(policy, C) is None
    # the kernel refuses it: decided (withdrawn)
    refused = ServiceDataplane(False, "ip_vs refused it")
    policy.update(3.0, {}, True, services={ident(A): programmed, ident(C): refused})
    assert policy.undecided() == frozenset()
    assert state(policy, C) == "withdrawn"


def test_starting_down_withdraws_without_announcing_first() -> None:
    policy = AnycastPolicy(config(vip(A)), 0.0)
    lines = policy.update(1.0, down(A), True, real_counts={ident(A): (0, 2)})
    assert texts(lines) == [f"Anycast {A}/32: withdrawn ({A}:80 tcp: 0 of 2 reals up)"]
    assert route(policy, A) is None


def test_withdraw_on_last_real_down_and_reannounce() -> None:
    policy = AnycastPolicy(config(vip(A)), 0.0)
    policy.update(1.0, up(A), True, real_counts={ident(A): (1, 2)})
    lines = policy.update(5.0, down(A), True, real_counts={ident(A): (0, 2)})
    assert texts(lines) == [f"Anycast {A}/32: withdrawn ({A}:80 tcp: 0 of 2 reals up)"]
    assert policy.desired().routes == {}
    assert policy.decisions()[0].since == 5.0
    lines = policy.update(9.0, up(A), True, real_counts={ident(A): (1, 2)})
    assert texts(lines) == [f"Anycast {A}/32: announced ({A}:80 tcp: 1 of 2 reals up)"]
    assert route(policy, A) == Route(host_prefix(A))


def test_reasons_without_counts() -> None:
    policy = AnycastPolicy(config(vip(A)), 0.0)
    policy.update(1.0, up(A), True)
    assert policy.decisions()[0].reason == f"{A}:80 tcp: a real up"
    policy.update(2.0, down(A), True)
    assert policy.decisions()[0].reason == f"{A}:80 tcp: no real up"


def test_a_missing_or_none_answer_keeps_the_last_one() -> None:
    policy = AnycastPolicy(config(vip(A)), 0.0)
    policy.update(1.0, down(A), True)
    assert policy.update(2.0, {}, True) == []
    assert policy.update(3.0, {ident(A): None}, True) == []
    assert state(policy, A) == "withdrawn"


def test_route_attributes() -> None:
    head = "anycastnexthop = 192.0.2.1\nanycastmed = 50\nanycastcommunity = 65000:1\n"
    head += "anycastcommunity = 65000:2\nanycastnexthop = 2001:db8:ffff::1\n"
    policy = AnycastPolicy(config(vip(A), vip(V6), head=head), 0.0)
    policy.update(1.0, up(A, V6), True)
    assert route(policy, A) == Route(
        prefix=ipaddress.ip_network(f"{A}/32"),
        next_hop="192.0.2.1",
        origin="igp",
        med=50,
        communities=("65000:1", "65000:2"),
    )
    v6 = route(policy, V6)
    assert v6 is not None
    assert str(v6.prefix) == "2001:db8::10/128"
    assert v6.next_hop == "2001:db8:ffff::1"


# ------------------------------------------------------------------ anycastdown


def test_down_med_keeps_the_route_with_that_med() -> None:
    policy = AnycastPolicy(config(vip(A), head="anycastmed = 10\nanycastdown = med 500\n"), 0.0)
    policy.update(1.0, up(A), True)
    assert route(policy, A) == Route(host_prefix(A), med=10)
    lines = policy.update(2.0, down(A), True, real_counts={ident(A): (0, 2)})
    assert texts(lines) == [
        f"Anycast {A}/32: depreferred ({A}:80 tcp: 0 of 2 reals up; anycastdown med 500)"
    ]
    assert route(policy, A) == Route(host_prefix(A), med=500)


def test_down_prepend() -> None:
    policy = AnycastPolicy(config(vip(A, "anycastdown = prepend 3")), 0.0)
    policy.update(1.0, down(A), True)
    assert state(policy, A) == "depreferred"
    assert route(policy, A) == Route(host_prefix(A), prepend=3)


def test_down_community_is_added_once() -> None:
    head = "anycastcommunity = 65000:1\nanycastdown = community 65000:666\n"
    policy = AnycastPolicy(config(vip(A), head=head), 0.0)
    policy.update(1.0, down(A), True)
    assert route(policy, A) == Route(host_prefix(A), communities=("65000:1", "65000:666"))
    head = "anycastcommunity = 65000:666\nanycastdown = community 65000:666\n"
    policy = AnycastPolicy(config(vip(A), head=head), 0.0)
    policy.update(1.0, down(A), True)
    assert route(policy, A) == Route(host_prefix(A), communities=("65000:666",))


# ------------------------------------------------------------------ anycastwhen


def two_services(when: str) -> AnycastPolicy:
    blocks = (vip(A, f"anycastwhen = {when}"), vip(A, f"anycastwhen = {when}", port=443))
    return AnycastPolicy(config(*blocks), 0.0)


def test_when_all_goes_down_only_when_every_service_has_no_real() -> None:
    policy = two_services("all")
    p80, p443 = ident(A, 80), ident(A, 443)
    policy.update(1.0, {p80: False}, True)
    assert state(policy, A) == "unknown"  # 443 may still save it
    policy.update(2.0, {p80: True}, True)
    assert state(policy, A) == "announced"  # certain already: 443 cannot change it
    policy.update(3.0, {p80: False, p443: True}, True)
    assert state(policy, A) == "announced"
    lines = policy.update(4.0, {p80: False, p443: False}, True)
    assert texts(lines) == [
        f"Anycast {A}/32: withdrawn ({A}:80 tcp: no real up; {A}:443 tcp: no real up)"
    ]
    assert by_vip(policy)[A].virtuals == (f"{A}:80 tcp", f"{A}:443 tcp")


def test_when_any_goes_down_as_soon_as_one_service_has_no_real() -> None:
    policy = two_services("any")
    p80, p443 = ident(A, 80), ident(A, 443)
    policy.update(1.0, {p80: True}, True)
    assert state(policy, A) == "unknown"
    policy.update(2.0, {p80: False}, True)
    assert state(policy, A) == "withdrawn"  # certain already
    assert by_vip(policy)[A].reason == (
        f"anycastwhen any: {A}:80 tcp: no real up; {A}:443 tcp: not checked yet"
    )
    policy.update(3.0, {p80: True, p443: True}, True)
    assert state(policy, A) == "announced"
    policy.update(4.0, {p80: True, p443: False}, True)
    assert state(policy, A) == "withdrawn"


# -------------------------------------------------------------------- hold-down


def test_holddown_holds_a_recovered_vip_then_announces() -> None:
    policy = AnycastPolicy(config(vip(A, "anycastholddown = 30")), 0.0)
    policy.update(1.0, up(A), True)
    assert state(policy, A) == "announced"  # the first announce is not held
    assert policy.next_wakeup() is None
    policy.update(10.0, down(A), True)
    assert state(policy, A) == "withdrawn"
    assert policy.next_wakeup() is None
    lines = policy.update(20.0, up(A), True)
    assert texts(lines) == [
        f"Anycast {A}/32: held (healthy again, held down until healthy for 30 s "
        f"(anycastholddown), then announced; {A}:80 tcp: a real up)"
    ]
    assert route(policy, A) is None  # routed as down
    assert policy.next_wakeup() == 50.0
    assert policy.update(49.9, up(A), True) == []
    assert state(policy, A) == "held"
    lines = policy.update(50.0, {}, True)
    assert texts(lines) == [f"Anycast {A}/32: announced ({A}:80 tcp: a real up)"]
    assert route(policy, A) is not None
    assert policy.next_wakeup() is None


def test_a_flap_inside_the_holddown_restarts_it() -> None:
    policy = AnycastPolicy(config(vip(A, "anycastholddown = 30")), 0.0)
    policy.update(1.0, up(A), True)
    policy.update(10.0, down(A), True)
    policy.update(20.0, up(A), True)
    assert policy.next_wakeup() == 50.0
    policy.update(30.0, down(A), True)
    assert state(policy, A) == "withdrawn"
    policy.update(40.0, up(A), True)
    assert state(policy, A) == "held"
    assert policy.next_wakeup() == 70.0
    policy.update(50.0, up(A), True)
    assert state(policy, A) == "held"
    policy.update(70.0, up(A), True)
    assert state(policy, A) == "announced"


def test_holddown_applies_to_a_vip_that_started_down() -> None:
    policy = AnycastPolicy(config(vip(A, "anycastholddown = 5")), 0.0)
    policy.update(1.0, down(A), True)
    policy.update(2.0, up(A), True)
    assert state(policy, A) == "held"
    policy.update(7.0, up(A), True)
    assert state(policy, A) == "announced"


def test_held_with_a_soft_down_keeps_the_depreferred_route() -> None:
    policy = AnycastPolicy(
        config(vip(A, "anycastholddown = 10", "anycastdown = med 900", "anycastmed = 1")), 0.0
    )
    policy.update(1.0, up(A), True)
    policy.update(2.0, down(A), True)
    policy.update(3.0, up(A), True)
    assert state(policy, A) == "held"
    assert route(policy, A) == Route(host_prefix(A), med=900)
    assert by_vip(policy)[A].reason.endswith("; anycastdown med 900")
    policy.update(13.0, up(A), True)
    assert route(policy, A) == Route(host_prefix(A), med=1)


def test_next_wakeup_is_the_earliest_holddown_end() -> None:
    policy = AnycastPolicy(
        config(vip(A, "anycastholddown = 30"), vip(B, "anycastholddown = 10")), 0.0
    )
    policy.update(1.0, up(A, B), True)
    policy.update(2.0, down(A, B), True)
    policy.update(3.0, up(A), True)
    policy.update(4.0, up(B), True)
    assert policy.next_wakeup() == 14.0
    policy.update(14.0, {}, True)
    assert state(policy, B) == "announced"
    assert policy.next_wakeup() == 33.0


# ---------------------------------------------------------------- max-withdraw


def four(head: str) -> AnycastPolicy:
    policy = AnycastPolicy(config(vip(A), vip(B), vip(C), vip(D), head=head), 0.0)
    policy.update(1.0, up(A, B, C, D), True)
    return policy


def test_maxwithdraw_keeps_the_later_ones_announced_and_says_so() -> None:
    policy = four("anycastmaxwithdraw = 2\n")
    policy.update(10.0, down(C), True)
    policy.update(11.0, down(A), True)
    lines = policy.update(12.0, down(B), True)
    assert texts(lines) == [
        f"Anycast {B}/32: announced (guarded) (down but kept announced: anycastmaxwithdraw "
        f"allows 2 withdrawn VIPs and more are down; {B}:80 tcp: no real up)",
        f"ANYCAST GUARD ENGAGED: 3 of 4 anycast VIPs are down but anycastmaxwithdraw allows "
        f"2 withdrawn: keeping {B}/32 announced although down. A local checker failure is "
        "likely; check the health checks",
    ]
    decisions = by_vip(policy)
    assert (decisions[A].state, decisions[C].state) == ("withdrawn", "withdrawn")
    assert (decisions[B].state, decisions[B].guarded) == ("announced", True)
    assert route(policy, B) == Route(host_prefix(B))
    assert set(policy.desired().routes) == {host_prefix(B), host_prefix(D)}

    # A fourth goes down: still the two that went down first are withdrawn.
    lines = policy.update(13.0, down(D), True)
    assert texts(lines) == [
        f"Anycast {D}/32: announced (guarded) (down but kept announced: anycastmaxwithdraw "
        f"allows 2 withdrawn VIPs and more are down; {D}:80 tcp: no real up)"
    ]
    # C returns: B (down before D) takes its slot; the guard stays engaged.
    lines = policy.update(20.0, up(C), True)
    assert texts(lines) == [
        f"Anycast {B}/32: withdrawn ({B}:80 tcp: no real up)",
        f"Anycast {C}/32: announced ({C}:80 tcp: a real up)",
    ]
    # A returns: two down, within the guard: released, loudly.
    lines = policy.update(21.0, up(A), True)
    assert texts(lines) == [
        f"Anycast {A}/32: announced ({A}:80 tcp: a real up)",
        f"Anycast {D}/32: withdrawn ({D}:80 tcp: no real up)",
        "Anycast guard released: 2 anycast VIPs down, within anycastmaxwithdraw (2)",
    ]
    assert not any(d.guarded for d in policy.decisions())


def test_maxwithdraw_ties_go_by_address_order() -> None:
    policy = four("anycastmaxwithdraw = 1\n")
    policy.update(10.0, down(D, B, C), True)
    decisions = by_vip(policy)
    assert decisions[B].state == "withdrawn"
    assert decisions[C].guarded and decisions[D].guarded


def test_maxwithdraw_percent_rounds_down() -> None:
    policy = four("anycastmaxwithdraw = 50%\n")  # 2 of 4
    policy.update(10.0, down(A, B, C), True)
    assert [d.state for d in policy.decisions()] == [
        "withdrawn",
        "withdrawn",
        "announced",
        "announced",
    ]
    policy = four("anycastmaxwithdraw = 24%\n")  # 0.96 -> 0: health never withdraws
    policy.update(10.0, down(A), True)
    assert by_vip(policy)[A].guarded
    assert route(policy, A) is not None


def test_maxwithdraw_does_not_count_depreferred_vips() -> None:
    policy = four("anycastmaxwithdraw = 1\nanycastdown = med 500\n")
    policy.update(10.0, down(A, B, C), True)
    assert [d.state for d in policy.decisions()][:3] == ["depreferred"] * 3
    assert not any(d.guarded for d in policy.decisions())


def test_maxwithdraw_prefers_really_down_vips_to_held_ones() -> None:
    blocks = (vip(A, "anycastholddown = 100"), vip(B), vip(C), vip(D))
    policy = AnycastPolicy(config(*blocks, head="anycastmaxwithdraw = 1\n"), 0.0)
    policy.update(1.0, up(A, B, C, D), True)
    policy.update(2.0, down(A), True)
    policy.update(3.0, up(A), True)
    assert state(policy, A) == "held"
    policy.update(4.0, down(B), True)
    decisions = by_vip(policy)
    assert decisions[B].state == "withdrawn"
    assert (decisions[A].state, decisions[A].guarded) == ("announced", True)


# -------------------------------------------------------------------- dataplane


def test_dataplane_down_withdraws_whatever_anycastdown_says_within_the_guard() -> None:
    """ip_vs gone: every VIP it served is down by its dataplane, `anycastdown med`
    included, and the anycastmaxwithdraw guard holds on this path too."""
    blocks = (vip(A), vip(B, "anycastdown = med 5"), vip(C), vip(D))
    policy = AnycastPolicy(config(*blocks, head="anycastmaxwithdraw = 1\n"), 0.0)
    policy.update(1.0, merge(up(A, B), down(C)), True)
    assert by_vip(policy)[C].state == "withdrawn"
    lines = policy.update(2.0, {}, False)
    assert texts(lines)[0] == (
        "Anycast: dataplane unavailable (ip_vs not programmed): "
        "withdrawing the anycast VIPs it served (anycastmaxwithdraw applies)"
    )
    decisions = by_vip(policy)
    # C went down first: it is the one withdrawn; A and B stay, guarded.
    assert decisions[C].state == "withdrawn"
    assert (decisions[A].state, decisions[A].guarded) == ("announced", True)
    assert (decisions[B].state, decisions[B].guarded) == ("announced", True)
    assert "dataplane unavailable" in decisions[A].reason
    assert decisions[D].state == "unknown"  # never answered: nothing to withdraw
    assert any("ANYCAST GUARD ENGAGED" in t for t in texts(lines))
    # Back: healthy VIPs return at once.
    lines = policy.update(3.0, {}, True)
    assert texts(lines)[0] == (
        "Anycast: dataplane available again: anycast VIPs follow their health"
    )
    decisions = by_vip(policy)
    assert (decisions[A].state, decisions[A].guarded) == ("announced", False)
    assert decisions[B].state == "announced"
    assert decisions[C].state == "withdrawn"


def test_dataplane_down_without_a_guard_withdraws_every_vip() -> None:
    blocks = (vip(A), vip(B, "anycastdown = med 5"))
    policy = AnycastPolicy(config(*blocks), 0.0)
    policy.update(1.0, up(A, B), True)
    policy.update(2.0, {}, False)
    assert policy.desired().routes == {}
    assert all(d.state == "withdrawn" for d in policy.decisions())


def test_a_refused_service_withdraws_only_its_own_vip() -> None:
    """Per-VIP dataplane truth: a service the kernel refuses is that VIP's problem."""
    policy = AnycastPolicy(config(vip(A), vip(B), vip(C)), 0.0)
    ok = ServiceDataplane(True)
    every = {ident(a): ok for a in (A, B, C)}
    policy.update(1.0, up(A, B, C), True, services=every)
    assert set(policy.desired().routes) == {host_prefix(a) for a in (A, B, C)}
    refused = ServiceDataplane(False, "ip_vs refused it: No such file or directory")
    lines = policy.update(2.0, {}, True, services={**every, ident(B): refused})
    assert set(policy.desired().routes) == {host_prefix(A), host_prefix(C)}
    decision = by_vip(policy)[B]
    assert decision.state == "withdrawn"
    assert "ip_vs refused it: No such file or directory" in decision.reason
    assert not any("withdrawing the anycast VIPs" in t for t in texts(lines))


def test_a_service_never_programmed_announces_nothing_and_withdraws_nothing() -> None:
    """A typo added on reload to an announced VIP (anycastwhen all) keeps the VIP;
    a VIP whose only service was never programmed is never announced."""
    blocks = (vip(A), vip(B))
    policy = AnycastPolicy(config(*blocks, head="anycastmaxwithdraw = 0\n"), 0.0)
    never = ServiceDataplane(False, "ip_vs refused it")
    policy.update(1.0, up(A, B), True, services={ident(A): ServiceDataplane(True), ident(B): never})
    assert set(policy.desired().routes) == {host_prefix(A)}
    assert by_vip(policy)[B].state == "withdrawn"
    assert not by_vip(policy)[B].guarded  # nothing was announced: nothing to guard


def test_dataplane_down_before_the_first_round() -> None:
    policy = AnycastPolicy(config(vip(A)), 0.0)
    policy.update(1.0, {}, False)
    assert state(policy, A) == "unknown"  # not announced, and nothing to log yet
    assert policy.desired().routes == {}
    policy.update(2.0, {}, True)
    assert state(policy, A) == "unknown"
    policy.update(3.0, up(A), True)
    assert state(policy, A) == "announced"


def test_a_dataplane_not_yet_programmed_at_start_is_not_news() -> None:
    """At start the ip_vs table is programmed moments after the first update: no
    "unavailable" / "available again" pair in the log for that."""
    policy = AnycastPolicy(config(vip(A)), 0.0)
    assert not any("dataplane" in t for t in texts(policy.update(1.0, {}, False)))
    assert not any("dataplane" in t for t in texts(policy.update(2.0, up(A), True)))
    lines = texts(policy.update(3.0, up(A), False))
    assert lines[0].startswith("Anycast: dataplane unavailable")


def test_dataplane_return_does_not_hold() -> None:
    policy = AnycastPolicy(config(vip(A, "anycastholddown = 60")), 0.0)
    policy.update(1.0, up(A), True)
    policy.update(2.0, up(A), False)
    policy.update(3.0, up(A), True)
    assert state(policy, A) == "announced"


# -------------------------------------------------------------------- addresses


def test_gobgp_method_keeps_every_vip_address_on_its_interface() -> None:
    blocks = (vip(A), vip(B, "anycastinterface = dummy0"), vip(V6))
    policy = AnycastPolicy(config(*blocks), 0.0)
    expected = {
        "lo": frozenset({host_prefix(A), host_prefix(V6)}),
        "dummy0": frozenset({host_prefix(B)}),
    }
    assert policy.desired().addresses == expected  # unknown VIPs too
    policy.update(1.0, merge(up(A), down(B, V6)), True)
    assert policy.desired().addresses == expected
    assert set(policy.desired().routes) == {host_prefix(A)}


def test_interface_method_has_addresses_only_for_announced_vips_and_no_routes() -> None:
    head = "anycastmethod = interface\nanycastmaxwithdraw = 1\n"
    blocks = (vip(A), vip(B, "anycastinterface = dummy0"), vip(C))
    policy = AnycastPolicy(config(*blocks, head=head), 0.0)
    assert policy.desired().addresses == {"lo": frozenset(), "dummy0": frozenset()}
    policy.update(1.0, up(A, B, C), True)
    assert policy.desired().addresses == {
        "lo": frozenset({host_prefix(A), host_prefix(C)}),
        "dummy0": frozenset({host_prefix(B)}),
    }
    policy.update(2.0, down(A), True)
    policy.update(3.0, down(C), True)  # beyond the guard: kept
    assert policy.desired().addresses["lo"] == frozenset({host_prefix(C)})
    assert policy.desired().routes == {}


# ----------------------------------------------------------------------- reload


def test_reload_keeps_the_state_of_vips_that_remain() -> None:
    old = AnycastPolicy(config(vip(A), vip(B, "anycastholddown = 30")), 0.0)
    old.update(1.0, up(A, B), True)
    old.update(5.0, down(A, B), True)
    old.update(10.0, up(B), True)
    assert state(old, B) == "held"
    new = old.reload(config(vip(A, "anycastmed = 7"), vip(B, "anycastholddown = 30"), vip(C)), 20.0)
    decisions = by_vip(new)
    assert (decisions[A].state, decisions[A].since) == ("withdrawn", 5.0)
    assert (decisions[B].state, decisions[B].since) == ("held", 10.0)
    assert decisions[C].state == "unknown"
    assert new.next_wakeup() == 40.0
    assert new.update(21.0, {}, True) == []  # nothing changed: nothing to say
    lines = new.update(22.0, merge(up(A), {ident(C): True}), True)
    assert texts(lines) == [
        f"Anycast {A}/32: announced ({A}:80 tcp: a real up)",
        f"Anycast {C}/32: announced ({C}:80 tcp: a real up)",
    ]
    assert route(new, A) == Route(host_prefix(A), med=7)


def test_reload_applies_new_route_attributes_at_once_and_logs_changes_next_update() -> None:
    old = AnycastPolicy(config(vip(A)), 0.0)
    old.update(1.0, up(A), True)
    new = old.reload(config(vip(A, "anycastmed = 9", "anycastwhen = any"), vip(B)), 2.0)
    assert route(new, A) == Route(host_prefix(A), med=9)
    assert new.update(3.0, {}, True) == []
    # A new service on a kept VIP waits for its first answer: no flap.
    old = AnycastPolicy(config(vip(A)), 0.0)
    old.update(1.0, up(A), True)
    new = old.reload(
        config(vip(A, "anycastwhen = any"), vip(A, "anycastwhen = any", port=443)), 2.0
    )
    assert state(new, A) == "announced"
    lines = new.update(3.0, {ident(A, 443): False}, True)
    assert texts(lines) == [
        f"Anycast {A}/32: withdrawn (anycastwhen any: {A}:80 tcp: a real up; "
        f"{A}:443 tcp: no real up)"
    ]


def test_reload_that_tightens_the_guard_logs_at_the_next_update() -> None:
    old = four("")
    old.update(2.0, down(A, B), True)
    new = old.reload(config(vip(A), vip(B), vip(C), vip(D), head="anycastmaxwithdraw = 1\n"), 3.0)
    assert by_vip(new)[B].guarded
    lines = texts(new.update(4.0, {}, True))
    assert lines[0].startswith(f"Anycast {B}/32: announced (guarded)")
    assert lines[1].startswith("ANYCAST GUARD ENGAGED: 2 of 4 anycast VIPs are down")


def test_reload_dropping_every_vip_disables() -> None:
    old = AnycastPolicy(config(vip(A)), 0.0)
    old.update(1.0, up(A), True)
    new = old.reload(config(vip("192.0.2.10")), 2.0)
    assert not new.enabled
    assert new.desired().routes == {}


# ------------------------------------------------------------------- invariants

ADDRESSES = (A, B, C, D, V6)
step = st.tuples(
    st.floats(min_value=0.0, max_value=20.0),
    st.fixed_dictionaries({ident(a): st.sampled_from([True, False, None]) for a in ADDRESSES}),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(min_value=0, max_value=5),
    holddown=st.integers(min_value=0, max_value=30),
    when_soft=st.booleans(),
    steps=st.lists(step, min_size=1, max_size=25),
)
def test_invariants(
    limit: int,
    holddown: int,
    when_soft: bool,
    steps: list[tuple[float, dict[str, bool | None], bool]],
) -> None:
    head = f"anycastmaxwithdraw = {limit}\nanycastholddown = {holddown}\n"
    blocks = [vip(a) for a in ADDRESSES]
    if when_soft:
        blocks[0] = vip(A, "anycastdown = med 100")
    policy = AnycastPolicy(config(*blocks, head=head), 0.0)
    prefixes = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8::/32")]
    now = 0.0
    decided: set[str] = set()
    programmed_once = False
    ever_routed: set[object] = set()
    for dt, serving, dataplane_ok in steps:
        now += dt
        policy.update(now, serving, dataplane_ok)
        programmed_once = programmed_once or dataplane_ok
        decided |= {k for k, v in serving.items() if v is not None}
        decisions = policy.decisions()
        routes = policy.desired().routes
        # Never a route outside the anycast prefixes, never one for a /24.
        for prefix, r in routes.items():
            assert r.prefix == prefix
            assert any(prefix.subnet_of(p) for p in prefixes if p.version == prefix.version)  # type: ignore[arg-type]
        # A VIP never announced is not withdrawn by a dataplane that failed first.
        withdrawn = [
            d
            for d in decisions
            if d.vip not in routes
            and d.state != "unknown"
            and (d.vip in ever_routed or not d.reason.startswith("dataplane unavailable"))
        ]
        ever_routed |= set(routes)
        if not programmed_once:
            # nothing was ever programmed, so nothing was ever announced
            assert routes == {}
            continue
        # The guard holds on every withdrawal path, a lost dataplane included.
        assert len(withdrawn) <= limit
        for d in decisions:
            assert (d.vip in routes) == (
                d.state in ("announced", "depreferred")
                or (d.state == "held" and d.vip == host_prefix(A) and when_soft)
            )
            if d.guarded:
                assert d.state == "announced"
            if d.state == "unknown":
                assert ident(str(d.vip.network_address)) not in decided
        wakeup = policy.next_wakeup()
        if any(d.state == "held" for d in decisions):
            assert wakeup is not None
        if wakeup is not None:  # a hold-down running (also behind a guarded announce)
            assert wakeup > now


def test_a_vip_whose_only_service_is_replaced_by_a_refused_one_is_withdrawn() -> None:
    """No black hole: a reload that moves the VIP's only service to a key the kernel
    refuses withdraws the VIP (its own dataplane), within the guard."""
    old = AnycastPolicy(config(vip(A), vip(B)), 0.0)
    old.update(1.0, up(A, B), True, services={ident(a): ServiceDataplane(True) for a in (A, B)})
    new = old.reload(config(vip(A, port=8080), vip(B)), 2.0)
    refused = ServiceDataplane(False, "ip_vs refused add service: No such file or directory")
    services = {ident(A, 8080): refused, ident(B): ServiceDataplane(True)}
    new.update(3.0, merge(up(B), {ident(A, 8080): True}), True, services=services)
    assert set(new.desired().routes) == {host_prefix(B)}
    assert "No such file or directory" in by_vip(new)[A].reason


def test_a_refused_service_never_announced_is_not_kept_by_the_guard() -> None:
    policy = AnycastPolicy(config(vip(A), head="anycastmaxwithdraw = 0\n"), 0.0)
    refused = ServiceDataplane(False, "ip_vs refused it")
    policy.update(1.0, up(A), True, services={ident(A): refused})
    assert policy.desired().routes == {}
    assert by_vip(policy)[A].state == "withdrawn" and not by_vip(policy)[A].guarded
