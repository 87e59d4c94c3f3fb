"""The reconciler's guarantees, on hand-picked cases and on random tables."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldirectord_py.ipvs.model import (
    Destination,
    Family,
    Forwarding,
    SchedFlags,
    ServiceKey,
    Table,
    VirtualService,
    as_address,
)
from ldirectord_py.ipvs.operations import (
    AddDestination,
    AddService,
    DeleteDestination,
    DeleteService,
    EditDestination,
    EditService,
    Operation,
)
from ldirectord_py.ipvs.reconcile import (
    ApplyReport,
    Ownership,
    apply,
    as_stored,
    owned_keys,
    plan,
    reconcile,
)
from tests.unit.ipvs.fake_kernel import FakeKernel

# ------------------------------------------------------------------ strategies ----
SERVICE_KEYS = [
    VirtualService.tcp("192.0.2.1", 80).key,
    VirtualService.tcp("192.0.2.1", 443).key,
    VirtualService.udp("192.0.2.1", 53).key,
    VirtualService.sctp("192.0.2.2", 5060).key,
    VirtualService.tcp("2001:db8::1", 80).key,
    VirtualService.firewall_mark(1).key,
    VirtualService.firewall_mark(1, Family.INET6).key,
]
V4_REALS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
V6_REALS = ["2001:db8:1::1", "2001:db8:1::2"]


@st.composite
def destinations(draw: st.DrawFn, family: Family) -> Destination:
    upper = draw(st.sampled_from([0, 10]))
    return Destination.of(
        draw(st.sampled_from(V4_REALS if family is Family.INET else V6_REALS)),
        draw(st.sampled_from([0, 80, 8080])),
        draw(st.sampled_from([Forwarding.MASQ, Forwarding.ROUTE, Forwarding.TUNNEL])),
        weight=draw(st.integers(0, 3)),
        upper_threshold=upper,
        lower_threshold=draw(st.sampled_from([0, 5] if upper else [0])),
    )


@st.composite
def services(draw: st.DrawFn, key: ServiceKey) -> VirtualService:
    netmasks = [None, 0xFFFFFF00] if key.family is Family.INET else [None, 64]
    pool = draw(st.lists(destinations(key.family), max_size=4, unique_by=lambda d: d.key))
    service = VirtualService(
        key.family,
        key.protocol,
        key.address,
        key.port,
        key.fwmark,
        scheduler=draw(st.sampled_from(["wlc", "rr", "sh"])),
        sched_flags=draw(st.sampled_from([SchedFlags.NONE, SchedFlags.FLAG_2])),
        persistence=draw(st.sampled_from([None, 60, 300])),
        netmask=draw(st.sampled_from(netmasks)),
        pe_name=draw(st.sampled_from([None, "sip"])),
        one_packet=draw(st.booleans()),
        destinations=tuple(pool),
    )
    try:
        return as_stored(service)
    except ValueError:  # two reals on one kernel key: keep the first of each
        seen: dict[object, Destination] = {}
        for d in service.destinations:
            seen.setdefault(service.stored_destination(d).key, d)
        return as_stored(replace(service, destinations=tuple(seen.values())))


@st.composite
def tables(draw: st.DrawFn) -> Table:
    keys = draw(st.lists(st.sampled_from(SERVICE_KEYS), unique=True, max_size=len(SERVICE_KEYS)))
    return Table(tuple(draw(services(k)) for k in keys))


@st.composite
def situations(draw: st.DrawFn) -> tuple[Table, Table, Ownership]:
    """(desired, live, owns): the desired services are owned, some others too."""
    desired, live = draw(tables()), draw(tables())
    extra = draw(st.lists(st.sampled_from(SERVICE_KEYS), unique=True))
    return desired, live, owned_keys(desired, extra)


def owned_part(table: Table, owns: Ownership) -> Table:
    return Table(tuple(s for s in table.services if owns(s.key)))


def foreign_part(table: Table, owns: Ownership) -> Table:
    return Table(tuple(s for s in table.services if not owns(s.key)))


def applied(live: Table, operations: list[Operation]) -> tuple[Table, ApplyReport]:
    kernel = FakeKernel(live)
    report = apply(operations, kernel)
    return kernel.read_table(), report


def keys_of(op: Operation) -> ServiceKey:
    match op:
        case AddService(s) | EditService(s):
            return s.key
        case DeleteService(k):
            return k
        case AddDestination(k, _) | EditDestination(k, _) | DeleteDestination(k, _):
            return k
    raise TypeError(op)


# ------------------------------------------------------------- random tables ----
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(situations())
def test_applying_the_plan_makes_the_owned_part_equal_to_the_desired_table(
    situation: tuple[Table, Table, Ownership],
) -> None:
    desired, live, owns = situation
    result, report = applied(live, plan(desired, live, owns))
    assert report.ok, str(report)
    assert owned_part(result, owns) == desired


@PROPERTY
@given(situations())
def test_services_not_owned_are_never_touched(situation: tuple[Table, Table, Ownership]) -> None:
    desired, live, owns = situation
    operations = plan(desired, live, owns)
    assert all(owns(keys_of(op)) for op in operations)
    result, _ = applied(live, operations)
    foreign_before = foreign_part(live, owns)
    foreign_after = foreign_part(result, owns)
    assert foreign_after == foreign_before
    assert [s.key for s in foreign_after] == [s.key for s in foreign_before]


@PROPERTY
@given(situations())
def test_planning_again_after_applying_gives_nothing(
    situation: tuple[Table, Table, Ownership],
) -> None:
    desired, live, owns = situation
    result, _ = applied(live, plan(desired, live, owns))
    assert plan(desired, result, owns) == []


@PROPERTY
@given(situations())
def test_every_planned_operation_is_needed(situation: tuple[Table, Table, Ownership]) -> None:
    desired, live, owns = situation
    operations = plan(desired, live, owns)
    for i in range(len(operations)):
        result, _ = applied(live, operations[:i] + operations[i + 1 :])
        assert owned_part(result, owns) != desired, f"{operations[i]} was not needed"


@PROPERTY
@given(tables())
def test_a_desired_table_equal_to_the_live_one_gives_nothing(table: Table) -> None:
    assert plan(table, table, owned_keys(table)) == []
    reordered = Table(
        tuple(
            replace(s, destinations=tuple(reversed(s.destinations)))
            for s in reversed(table.services)
        )
    )
    assert plan(reordered, table, owned_keys(table)) == []


@PROPERTY
@given(tables(), st.data())
def test_setting_changes_are_edits_in_place(table: Table, data: st.DataObject) -> None:
    """Same keys, other settings: only edits, one per changed entry."""
    changed_services = []
    for s in table.services:
        new = data.draw(services(s.key))
        # keep the same destination keys, with the new draw's settings where it has them
        redrawn = {d.key: d for d in new.destinations}
        kept = tuple(
            replace(redrawn.get(d.key, d), address=d.address, port=d.port) for d in s.destinations
        )
        changed_services.append(replace(new, destinations=kept))
    desired = Table(tuple(changed_services))
    operations = plan(desired, table, owned_keys(table))
    assert all(isinstance(op, EditService | EditDestination) for op in operations)
    expected = sum(new != old for new, old in zip(desired, table, strict=True)) + sum(
        new != old
        for s_new, s_old in zip(desired, table, strict=True)
        for new, old in zip(s_new.destinations, s_old.destinations, strict=True)
    )
    assert len(operations) == expected


# ------------------------------------------------------------------- examples ----
WEB = VirtualService.tcp(
    "192.0.2.1",
    80,
    scheduler="wrr",
    destinations=(
        Destination.of("10.0.0.1", 80, Forwarding.MASQ, weight=1),
        Destination.of("10.0.0.2", 80, Forwarding.MASQ, weight=1),
    ),
)
OPERATORS = VirtualService.udp(
    "192.0.2.9", 53, destinations=(Destination.of("10.0.0.9", 53, Forwarding.ROUTE),)
)


def test_one_weight_change_is_one_edit() -> None:
    desired = Table.of(
        [
            replace(
                WEB,
                destinations=(
                    WEB.destinations[0],
                    Destination.of("10.0.0.2", 80, Forwarding.MASQ, weight=0),
                ),
            )
        ]
    )
    live = Table.of([WEB, OPERATORS])
    assert plan(desired, live, owned_keys(desired)) == [
        EditDestination(WEB.key, Destination.of("10.0.0.2", 80, Forwarding.MASQ, weight=0))
    ]


def test_a_service_added_by_hand_is_left_alone() -> None:
    desired = Table.of([WEB])
    assert plan(desired, Table.of([WEB, OPERATORS]), owned_keys(desired)) == []


def test_a_service_dropped_from_the_config_is_deleted_when_still_owned() -> None:
    old_config = Table.of([WEB, OPERATORS])
    new_config = Table.of([WEB])
    operations = plan(new_config, old_config, owned_keys(new_config, old_config))
    assert operations == [DeleteService(OPERATORS.key)]


def test_a_real_added_by_hand_to_an_owned_service_is_removed() -> None:
    extra = Destination.of("10.0.0.7", 80, Forwarding.MASQ)
    live = Table.of([replace(WEB, destinations=(*WEB.destinations, extra))])
    assert plan(Table.of([WEB]), live, owned_keys(live)) == [DeleteDestination(WEB.key, extra.key)]


def test_a_real_deleted_behind_our_back_is_restored() -> None:
    live = Table.of([replace(WEB, destinations=WEB.destinations[:1])])
    assert plan(Table.of([WEB]), live, owned_keys(live)) == [
        AddDestination(WEB.key, WEB.destinations[1])
    ]


def test_new_service_is_added_before_its_destinations() -> None:
    operations = plan(Table.of([WEB]), Table(), owned_keys(Table.of([WEB])))
    assert operations == [
        AddService(WEB),
        AddDestination(WEB.key, WEB.destinations[0]),
        AddDestination(WEB.key, WEB.destinations[1]),
    ]


def test_replacing_a_pool_adds_before_it_deletes() -> None:
    fallback = Destination.of("127.0.0.1", 80, Forwarding.ROUTE)
    live = Table.of([replace(WEB, destinations=(fallback,))])
    operations = plan(Table.of([WEB]), live, owned_keys(live))
    assert [type(op) for op in operations] == [AddDestination, AddDestination, DeleteDestination]


def test_scheduler_and_persistence_changes_are_one_service_edit() -> None:
    desired = Table.of([replace(WEB, scheduler="sh", persistence=300, netmask=0xFFFFFF00)])
    operations = plan(desired, Table.of([WEB]), owned_keys(desired))
    assert operations == [EditService(desired.services[0])]


def test_forwarding_method_change_on_the_same_key_is_an_edit() -> None:
    gate = Destination.of("10.0.0.1", 80, Forwarding.ROUTE)
    desired = Table.of([replace(WEB, destinations=(gate, WEB.destinations[1]))])
    assert plan(desired, Table.of([WEB]), owned_keys(desired)) == [EditDestination(WEB.key, gate)]


def test_gate_real_on_another_port_is_planned_on_the_virtual_port() -> None:
    gate_8080 = Destination.of("10.0.0.1", 8080, Forwarding.ROUTE)
    masq_8080 = Destination.of("10.0.0.1", 8080, Forwarding.MASQ)
    desired = Table.of([replace(WEB, destinations=(gate_8080,))])
    live = Table.of([replace(WEB, destinations=(masq_8080,))])
    gate_80 = Destination.of("10.0.0.1", 80, Forwarding.ROUTE)
    assert plan(desired, live, owned_keys(live)) == [
        AddDestination(WEB.key, gate_80),
        DeleteDestination(WEB.key, masq_8080.key),
    ]
    after = Table.of([replace(WEB, destinations=(gate_80,))])
    assert plan(desired, after, owned_keys(live)) == []


def test_two_reals_on_one_kernel_key_are_refused() -> None:
    both = replace(
        WEB,
        destinations=(
            Destination.of("10.0.0.1", 8080, Forwarding.ROUTE),
            Destination.of("10.0.0.1", 80, Forwarding.ROUTE),
        ),
    )
    try:
        plan(Table.of([both]), Table(), owned_keys(Table.of([both])))
    except ValueError as e:
        assert "10.0.0.1:8080 and 10.0.0.1:80 are both 10.0.0.1:80" in str(e)
    else:
        raise AssertionError("no error")


def test_a_persistence_the_kernel_would_wrap_is_refused_before_writing() -> None:
    desired = Table.of([replace(WEB, persistence=17179870)])
    try:
        plan(desired, Table(), owned_keys(desired))
    except ValueError as e:
        assert "persistence timeout 17179870 out of range" in str(e)
    else:
        raise AssertionError("no error")


def test_a_desired_service_must_be_owned() -> None:
    try:
        plan(Table.of([WEB]), Table(), owned_keys([]))
    except ValueError as e:
        assert "not owned" in str(e)
    else:
        raise AssertionError("no error")


def test_reconcile_reports_counts_and_refusals() -> None:
    kernel = FakeKernel(Table.of([OPERATORS]))
    report = reconcile(Table.of([WEB]), kernel, owned_keys(Table.of([WEB])))
    assert report.ok
    assert report.counts() == {"add service": 1, "add destination": 2}
    assert str(report) == "ip_vs: 2 add destination, 1 add service"
    assert reconcile(Table.of([WEB]), kernel, owned_keys(Table.of([WEB]))).operations == ()

    failing = FakeKernel()
    ops: list[Operation] = [AddDestination(WEB.key, WEB.destinations[0]), AddService(WEB)]
    report = apply(ops, failing)
    assert not report.ok
    assert report.applied == 1
    assert report.counts() == {"add service": 1}
    assert [op for op, _ in report.failures] == [ops[0]]
    assert "1 failed" in str(report)


def test_ipv6_and_fwmark_keys_are_distinct_services() -> None:
    v4 = VirtualService.firewall_mark(1)
    v6 = VirtualService.firewall_mark(1, Family.INET6)
    desired = Table.of([v4, v6])
    assert [type(op) for op in plan(desired, Table(), owned_keys(desired))] == [
        AddService,
        AddService,
    ]
    assert as_address("2001:db8::1").version == 6
