"""Issue 11: a reload re-plans only the virtuals that changed.

A virtual equal to the running one (config/compare.py) keeps its engine state
objects, its desired service, its status entry and its check spec -- the same
objects -- and what is built for the others gives what a full rebuild gives:
each test compares the incremental engine with one built from scratch (every
virtual carried by copy, as before issue 11) on the same results."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ldirectord_py.checks.result import CheckResult, FailureKind
from ldirectord_py.checks.scheduler import Scheduler
from ldirectord_py.checks.spec import CheckSpec
from ldirectord_py.config import Config, parse_text
from ldirectord_py.config.compare import compare_virtuals
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.daemon.reload_plan import plan_reload
from ldirectord_py.daemon.snapshot import KernelHolds, StatusBook
from ldirectord_py.engine import Engine, ServiceRefusedByConfig
from ldirectord_py.engine.drain import DrainKey
from ldirectord_py.ipvs.netlink import AsyncIPVS
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.reloads import config_change

from .config.conftest import RESOLVER, parse
from .test_checking_director import Kernel, Lines, free_port, run

HEAD = "checkinterval=5\nchecktimeout=2\nfailurecount=3\nquiescent=yes\n"


def virtual(n: int, *extra: str, reals: tuple[int, ...] = (1, 2)) -> str:
    lines = [f"virtual=192.0.2.{n}:80"]
    lines += [f"\treal=198.51.100.{n * 10 + r}:80 masq {r}" for r in reals]
    lines += ["\tchecktype=connect", *extra]
    return "\n".join(lines) + "\n"


def config(*virtuals: str, head: str = HEAD) -> Config:
    return parse(head + "".join(virtuals))


def full_reload(running: Engine, new: Config, now: float) -> Engine:
    """The next engine as before issue 11: every virtual built, state copied."""
    return Engine(new, now, live={s.key: s for s in running.desired()}, previous=running)


def ids(e: Engine, n: int) -> list[str]:
    """The check identities of virtual 192.0.2.N's reals."""
    v = next(v for v in e.config.virtuals if v.address == f"192.0.2.{n}")
    return [v.check_identity(r) for r in v.reals]


def statuses(e: Engine, n: int) -> list[object]:
    v = next(v for v in e.config.virtuals if v.address == f"192.0.2.{n}")
    return [e.real_status(v, r) for r in v.reals]


def vstatus(e: Engine, n: int) -> object:
    v = next(v for v in e.config.virtuals if v.address == f"192.0.2.{n}")
    return e.virtual_status(v)


def played(e: Engine) -> Engine:
    """Results for a running engine: virtual 1 all up; virtual 2's first real up
    then one failure (of 3), the second down; virtual 3 all down (fallback)."""
    now = 1.0
    for identity in ids(e, 1):
        e.record(identity, True, "ok", now)
    a, b = ids(e, 2)
    e.record(a, True, "ok", now)
    e.record(b, False, "refused", now, kind=FailureKind.REFUSED)
    e.record(a, False, "timeout", 2.0, kind=FailureKind.TIMEOUT)
    for identity in ids(e, 3):
        e.record(identity, False, "refused", now, kind=FailureKind.REFUSED)
    e.take_effects()
    return e


def same_outcome(incremental: Engine, full: Engine, results: list[tuple[str, bool]]) -> None:
    """Both engines decide the same, now and after the same results."""
    assert incremental.take_effects() == full.take_effects()
    assert incremental.desired() == full.desired()
    assert incremental.checks() == full.checks()
    for at, (identity, ok) in enumerate(results, start=10):
        kind = FailureKind.NONE if ok else FailureKind.REFUSED
        got = incremental.record(identity, ok, "r", float(at), kind=kind)
        want = full.record(identity, ok, "r", float(at), kind=kind)
        assert got == want
        assert incremental.desired() == full.desired()
    for v in full.config.virtuals:
        for r in v.reals:
            assert incremental.real_status(v, r) == full.real_status(v, r)
        assert incremental.virtual_status(v) == full.virtual_status(v)


FALLBACK = "\tfallback=127.0.0.1:80 masq"


def test_unchanged_virtuals_keep_their_objects_changed_ones_are_built() -> None:
    old = config(virtual(1), virtual(2), virtual(3, FALLBACK))
    running = played(Engine(old, 0.0))
    before = {n: statuses(running, n) for n in (1, 2, 3)}
    desired = {s.key: s for s in running.desired()}
    # virtual 2 changes (failurecount), 3 is removed, 4 is added
    new = config(virtual(1), virtual(2, "\tfailurecount=2"), virtual(4))
    compared = compare_virtuals(running.config, new, running.identities)
    assert compared.same == {"tcp:192.0.2.1:80"} and not compared.unchanged
    engine = running.reload(new, 5.0, compared)
    # kept: the very objects
    assert all(a is b for a, b in zip(statuses(engine, 1), before[1], strict=True))
    assert vstatus(engine, 1) is vstatus(running, 1)
    kept_service = engine.desired()[0]
    assert kept_service is desired[kept_service.key]
    # changed: new objects carrying the state (failures, up)
    after = statuses(engine, 2)
    assert all(a is not b for a, b in zip(after, before[2], strict=True))
    assert after == before[2] and after[0].failures == 1  # type: ignore[attr-defined]
    assert vstatus(engine, 2) is not vstatus(running, 2)
    # the same decisions as a full rebuild, now and on what comes next
    full = full_reload(played(Engine(old, 0.0)), new, 5.0)
    a, b = ids(engine, 2)
    (c,) = ids(engine, 4)[:1]
    same_outcome(
        engine,
        full,
        [(a, False), (a, False), (b, True), (c, True), (ids(engine, 1)[0], False)],
    )


def test_a_global_every_virtual_inherits_replans_them_all() -> None:
    """Globals are merged into each virtual's effective values: a change of one
    that virtuals inherit makes every inheriting virtual differ (rebuilt), one
    that sets its own stays kept."""
    own = "\tquiescent=yes\n\tchecktimeout=2\n\tfailurecount=3\n\tcheckinterval=5"
    old = config(virtual(1), virtual(2, own), virtual(3, FALLBACK))
    for head, kept in (
        (HEAD.replace("quiescent=yes", "quiescent=no"), {"tcp:192.0.2.2:80"}),
        (HEAD.replace("checktimeout=2", "checktimeout=3"), {"tcp:192.0.2.2:80"}),
        (HEAD.replace("failurecount=3", "failurecount=1"), {"tcp:192.0.2.2:80"}),
        # a virtual's own checkinterval is ignored without fork=yes (the original's rule)
        (HEAD.replace("checkinterval=5", "checkinterval=7"), set()),
    ):
        new = config(virtual(1), virtual(2, own), virtual(3, FALLBACK), head=head)
        compared = compare_virtuals(old, new)
        assert compared.same == kept, head
        running = played(Engine(old, 0.0))
        engine = running.reload(new, 5.0, compared)
        assert statuses(engine, 1)[0] is not statuses(running, 1)[0]
        assert (statuses(engine, 2)[0] is statuses(running, 2)[0]) == bool(kept)
        full = full_reload(played(Engine(old, 0.0)), new, 5.0)
        a, b = ids(engine, 1)
        same_outcome(engine, full, [(a, False), (a, False), (a, False), (b, False), (a, True)])
    # a global fallback: every virtual without its own gets it
    with_fallback = config(
        virtual(1), virtual(2, own), virtual(3, FALLBACK), head=HEAD + "fallback=127.0.0.2:80\n"
    )
    compared = compare_virtuals(old, with_fallback)
    assert compared.same == {"tcp:192.0.2.3:80"}
    running = played(Engine(old, 0.0))
    engine = running.reload(with_fallback, 5.0, compared)
    full = full_reload(played(Engine(old, 0.0)), with_fallback, 5.0)
    same_outcome(engine, full, [(i, False) for i in ids(engine, 1)] * 3)
    # globals no virtual inherits change nothing the engine holds
    quiet = config(
        virtual(1), virtual(2, own), virtual(3, FALLBACK), head=HEAD + "autoreload=yes\n"
    )
    assert compare_virtuals(old, quiet).unchanged


def test_quiescent_weights_and_fallback_follow_the_changed_virtual() -> None:
    old = config(virtual(1), virtual(2), virtual(3, FALLBACK))
    running = played(Engine(old, 0.0))
    # virtual 1 switches to quiescent=no: its down reals leave the table
    new = config(virtual(1, "\tquiescent=no"), virtual(2), virtual(3, FALLBACK))
    engine = running.reload(new, 5.0)
    full = full_reload(played(Engine(old, 0.0)), new, 5.0)
    a, b = ids(engine, 1)
    same_outcome(engine, full, [(a, False), (a, False), (a, False), (b, False)])
    v1 = engine.desired()[0]
    assert [d.weight for d in v1.destinations] == [2]  # a deleted, not at weight 0
    # the fallback of the kept virtual 3 is still in the table, its objects kept
    assert vstatus(engine, 3) is vstatus(running, 3)
    assert vstatus(engine, 3).fallback_active  # type: ignore[attr-defined]


def test_a_real_shared_with_a_changed_virtual_takes_its_new_parameters() -> None:
    """Two virtuals share one check; the first changes its checktimeout (not part
    of the check identity): the check is re-specified, its state kept."""
    shared = "\treal=198.51.100.99:80 masq 1\n"
    old = config(
        "virtual=192.0.2.1:80\n" + shared + "\tchecktype=connect\n",
        "virtual=192.0.2.2:80\n" + shared + "\tchecktype=connect\n",
    )
    running = Engine(old, 0.0)
    specs = tuple(CheckSpec.for_real(t.virtual, t.real) for t in running.checks())
    new = config(
        "virtual=192.0.2.1:80\n" + shared + "\tchecktype=connect\n\tchecktimeout=4\n",
        "virtual=192.0.2.2:80\n" + shared + "\tchecktype=connect\n",
    )
    plan = plan_reload(running, new, 1.0, lambda: 0.0, specs)
    ((spec,), (changed,)) = (plan.specs, plan.checks_changed)
    assert spec is changed and spec.checktimeout == 4.0 and plan.specs_replaced == specs
    # the order of two kept virtuals sharing a check decides whose parameters it has
    swapped = config(
        "virtual=192.0.2.2:80\n" + shared + "\tchecktype=connect\n",
        "virtual=192.0.2.1:80\n" + shared + "\tchecktype=connect\n\tchecktimeout=4\n",
    )
    running = Engine(new, 0.0)
    specs = tuple(CheckSpec.for_real(t.virtual, t.real) for t in running.checks())
    plan = plan_reload(running, swapped, 1.0, lambda: 0.0, specs)
    assert not plan.compared.in_order
    assert plan.specs[0].checktimeout == 2.0 and plan.checks_changed == plan.specs


def test_the_plan_keeps_specs_entries_and_rows_of_unchanged_virtuals() -> None:
    old = config(virtual(1), virtual(2), virtual(3, FALLBACK))
    running = played(Engine(old, 0.0))
    specs = tuple(CheckSpec.for_real(t.virtual, t.real) for t in running.checks())
    book = StatusBook(running, frozenset(), lambda: 0.0)
    book.set_kernel(KernelHolds(frozenset(s.key for s in running.desired())))
    drains = frozenset({DrainKey("198.51.100.11", 80), DrainKey("198.51.100.21", 80)})
    book.set_drains(drains)
    book.refresh()
    book.mark(ids(running, 1)[0], True)  # a mark not yet refreshed is carried
    new = config(virtual(1), virtual(4), virtual(2, "\tfailurecount=1"), virtual(3, FALLBACK))
    plan = plan_reload(running, new, 5.0, lambda: 0.0, specs, book)
    assert plan.engine is not None and plan.book is not None
    kept = {s.identity: s for s in specs}
    for identity in ids(running, 1) + ids(running, 3):
        assert next(s for s in plan.specs if s.identity == identity) is kept[identity]
    assert {s.identity for s in plan.checks_changed} == set(ids(plan.engine, 4))
    assert plan.checks_removed == () and not plan.same_checks
    assert plan.book.entries[0] is book.entries[0]  # virtual 1
    assert plan.book.entries[3] is book.entries[2]  # virtual 3, now fourth
    assert plan.book.entries[2] is not book.entries[1]  # virtual 2 changed
    assert plan.book.dirty == 1  # the carried mark
    plan.book.set_drains(drains)  # as the director does at the switch: nothing to redo
    assert plan.book.dirty == 1
    plan.book.refresh()
    fresh = StatusBook(plan.engine, frozenset(), lambda: 0.0)
    fresh.set_kernel(book._kernel)
    fresh.set_drains(drains)
    fresh.refresh()
    assert plan.book.entries == fresh.entries
    drained = [(v.virtual, r.real) for v in plan.book.entries for r in v.reals if r.drained]
    assert drained == [
        ("tcp:192.0.2.1:80", "198.51.100.11:80"),
        ("tcp:192.0.2.2:80", "198.51.100.21:80"),
    ]
    # failure counts of the checks kept carry over (the director's carry_failures)
    b = ids(running, 2)[1]
    book.mark(b, False)
    book.mark(b, False)
    plan.book.carry_failures(book)
    plan.book.refresh()
    assert [r.failures for r in plan.book.entries[2].reals] == [0, 2]


def test_a_reload_that_changes_no_virtual_plans_nothing() -> None:
    text = (
        HEAD + virtual(1) + virtual(2, "\tscheduler=rr\n\tschedflags=sh-port")
    )  # virtual 2 cannot be programmed: refused at every reload, as before
    old = parse(text)
    running = Engine(old, 0.0)
    specs = tuple(CheckSpec.for_real(t.virtual, t.real) for t in running.checks())
    moved = parse("# a comment moves every line\n\n" + text)
    assert moved.virtuals[0].line != old.virtuals[0].line
    plan = plan_reload(running, moved, 5.0, lambda: 0.0, specs)
    assert plan.compared.unchanged and plan.engine is None and plan.book is None
    assert plan.specs is specs and plan.same_checks and plan.same_desired
    (refused,) = plan.effects
    assert isinstance(refused, ServiceRefusedByConfig)
    assert plan.effects == [
        e
        for e in full_reload(running, moved, 5.0).take_effects()
        if isinstance(e, ServiceRefusedByConfig)
    ]
    running.use_positions(moved)
    assert running.config is moved  # where lines and the digest are read


def test_the_reload_record_takes_the_verdict_and_says_the_same() -> None:
    old = config(virtual(1), virtual(2), virtual(3, FALLBACK))
    for new in (
        config(virtual(1), virtual(2), virtual(3, FALLBACK)),
        config(virtual(1), virtual(2, reals=(1, 3)), virtual(4)),
        config(virtual(2), virtual(1, "\tquiescent=no"), virtual(3)),
        config(virtual(1), virtual(2), virtual(3, FALLBACK), head=HEAD + "autoreload=yes\n"),
    ):
        compared = compare_virtuals(old, new)
        assert config_change(old, new, compared.same) == config_change(old, new)


def test_update_some_touches_only_the_checks_named() -> None:
    def spec(n: int, **kw: object) -> CheckSpec:
        fields: dict[str, object] = {
            "identity": f"connect:tcp:198.51.100.{n}:80",
            "checktype": "connect",
            "service": "none",
            "protocol": "tcp",
            "family": 4,
            "address": f"198.51.100.{n}",
            "port": 80,
            "checkport": 80,
            "virtual_address": "192.0.2.1",
            "virtual_port": 80,
            "fwmark": None,
            "checkinterval": 5.0,
        }
        fields.update(kw)
        return CheckSpec(**fields)  # type: ignore[arg-type]

    async def scenario() -> None:
        results: list[str] = []
        scheduler = Scheduler(lambda i, r: results.append(i), runner=_never, fd_budget=100)
        first = [spec(n) for n in range(1, 6)]
        scheduler.update(first)
        scheduler.start()
        entries = dict(scheduler._entries)
        due = {i: scheduler.next_due(i) for i in entries}
        new = scheduler.update_some(
            [
                spec(6),
                spec(2, checktimeout=9.0),
                spec(3, checkinterval=2.0),
                spec(4, checktype="off"),
            ],
            removed=[first[4].identity],
        )
        assert new == {spec(6).identity}
        assert scheduler.identities == {spec(n).identity for n in (1, 2, 3, 6)}
        for n in (1, 2, 3):
            assert scheduler._entries[spec(n).identity] is entries[spec(n).identity]
        assert scheduler._entries[spec(2).identity].spec.checktimeout == 9.0
        assert scheduler.next_due(spec(1).identity) == due[spec(1).identity]  # untouched
        assert scheduler.next_due(spec(2).identity) == due[spec(2).identity]  # same interval
        assert scheduler._entries[spec(3).identity].interval == 2.0
        await scheduler.stop()

    asyncio.run(scenario())


async def _never(spec: CheckSpec, combined: object, runtime: object) -> CheckResult:
    await asyncio.sleep(3600)
    raise AssertionError("not reached")


def test_the_director_keeps_everything_on_a_reload_that_changes_nothing(tmp_path: Path) -> None:
    port = free_port("127.0.0.41")
    text = (
        "checkinterval=1\nchecktimeout=1\n"
        f"virtual=127.0.0.100:80\n\treal=127.0.0.41:{port} masq\n\treal=127.0.0.42:{port} masq\n"
        "\tchecktype=connect\n"
        f"virtual=127.0.0.101:80\n\treal=127.0.0.41:{port} masq\n\tchecktype=connect\n"
    )
    path = str(tmp_path / "t.cf")

    def load(body: str) -> Config:
        return parse_text(body, path, resolver=RESOLVER, check_files=False)

    async def scenario() -> None:
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.41", port)
        director = CheckingDirector(Log(Lines()), ipvs_factory=lambda: AsyncIPVS(Kernel))
        director.use_state_file(str(tmp_path / "t.drained"))
        await director.start(load(text))
        await director.wait_ready()
        assert director.scheduler is not None
        engine, book, specs = director.engine, director._book, director._specs
        entries = dict(director.scheduler._entries)
        status = director.status()

        def shape(doc: dict[str, Any]) -> list[tuple[str, str, str, int | None]]:
            """What a reload could change (checks go on: latencies do change)."""
            return [
                (v["virtual"], r["real"], r["state"], r["weight"])
                for v in doc["virtuals"]
                for r in v["reals"]
            ]

        moved = load("# moved\n" + text + "# and a comment\n")
        await director.reload(moved)
        assert director.engine is engine and director._book is book
        assert director._specs is specs and director.scheduler._entries == entries
        assert director.engine is not None and director.engine.config is moved
        assert director.kept_virtuals == {"tcp:127.0.0.100:80", "tcp:127.0.0.101:80"}
        assert shape(director.status()) == shape(status)
        # one virtual changes: the other's objects stay, the scheduler is told one check
        changed = load(text.replace("127.0.0.101:80\n", "127.0.0.101:80\n\tchecktimeout=2\n"))
        await director.reload(changed)
        assert director.engine is not engine and director._book is not book
        assert director._book is not None and director._book.entries[0] is book.entries[0]
        assert director.kept_virtuals == {"tcp:127.0.0.100:80"}
        # 127.0.0.41 is shared with the changed virtual (re-specified), .42 is not
        (kept,) = [s for s in specs if "127.0.0.42" in s.identity]
        assert any(s is kept for s in director._specs)
        assert director.scheduler._entries[kept.identity] is entries[kept.identity]
        listener.close()
        await listener.wait_closed()
        await director.stop()

    run(scenario)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_compare_matches_by_identity_not_position(count: int) -> None:
    vs = [virtual(n) for n in range(1, 6)]
    old = config(*vs)
    new = config(*(vs[count:] + vs[:count]))
    compared = compare_virtuals(old, new)
    assert compared.same == {v.identity for v in old.virtuals}
    assert compared.unchanged == (count == 0) and compared.in_order == (count == 0)


def test_desired_looks_again_only_at_the_virtuals_that_changed() -> None:
    e = played(Engine(config(virtual(1), virtual(2), virtual(3, FALLBACK)), 0.0))
    before = e.desired()
    (a, _) = ids(e, 2)
    e.record(a, False, "timeout", 3.0, kind=FailureKind.TIMEOUT)
    e.record(a, False, "timeout", 4.0, kind=FailureKind.TIMEOUT)  # down: a new table
    after = e.desired()
    assert [d.weight for d in before[1].destinations] == [1, 0]
    assert [d.weight for d in after[1].destinations] == [0, 0]  # quiesced
    assert after[0] is before[0] and after[2] is before[2]  # not looked at again
    full = e._build_desired(None)  # what a build of every virtual gives
    assert [[d.weight for d in s.destinations] for s in after] == [
        [d.weight for d in s.destinations] for s in full
    ]
    for identity in ids(e, 3):  # virtual 3 comes back: its fallback leaves
        e.record(identity, True, "ok", 5.0)
    now = e.desired()
    assert now[1] is after[1]
    assert "127.0.0.1:80" in [str(d.key) for d in after[2].destinations]
    assert [(str(d.key), d.weight) for d in now[2].destinations] == [
        ("198.51.100.31:80", 1),
        ("198.51.100.32:80", 2),
    ]  # up, and the fallback gone
    assert e.desired_service(e.config.virtuals[2]) is e.desired()[2]


def test_a_book_planned_while_the_running_one_refreshes_keeps_every_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next book is made in a thread while the loop may be refreshing the
    running one in slices (a status request): an entry not yet rebuilt when it is
    copied keeps its mark, so the new book ends as a full rebuild's."""
    monkeypatch.setattr("ldirectord_py.daemon.snapshot.SLICE_REALS", 1)
    old = config(virtual(1), virtual(2), virtual(3, FALLBACK))
    running = played(Engine(old, 0.0))
    specs = tuple(CheckSpec.for_real(t.virtual, t.real) for t in running.checks())
    book = StatusBook(running, frozenset(), lambda: 0.0)
    book.refresh()
    # results since the last refresh: virtual 1's (nothing changes), then virtual
    # 3's first real comes back
    a = ids(running, 1)[0]
    running.record(a, True, "ok", 3.0)
    book.mark(a, True)
    c = ids(running, 3)[0]
    running.record(c, True, "ok", 4.0)
    book.mark(c, True)
    running.take_effects()
    refreshing = book.refresh_sliced()
    refreshing.send(None)  # virtual 1 rebuilt; the loop yields before virtual 3
    new = config(virtual(1), virtual(2, "\tfailurecount=1"), virtual(3, FALLBACK))
    plan = plan_reload(running, new, 6.0, lambda: 0.0, specs, book)  # the thread's work
    with pytest.raises(StopIteration):  # the loop finishes the running book's refresh
        while True:
            refreshing.send(None)
    assert plan.engine is not None and plan.book is not None
    plan.book.carry_failures(book)
    plan.book.refresh()
    fresh = StatusBook(plan.engine, frozenset(), lambda: 0.0)
    fresh.carry_failures(book)
    fresh.refresh()
    assert plan.book.entries[2].reals[0].state == "up"
    assert plan.book.entries == fresh.entries
    book.refresh()  # and the running book's own marks are all done
    assert book.dirty == 0


def test_a_reload_that_keeps_the_engine_still_feeds_the_new_anycast_policy() -> None:
    """A global anycast setting that no virtual holds (anycastmaxwithdraw) changes
    no virtual: the engine goes on as it is, and the new policy must still be
    given the facts at the switch, as when the engine is built again."""
    from ldirectord_py.daemon.anycast import AnycastCoordinator
    from ldirectord_py.ipvs.writer import DataplaneView

    from .test_anycast_director import Recorder

    body = (
        "checkinterval=5\nanycastprefix=198.51.100.0/24\ngobgpapi=127.0.0.1:50099\n"
        "virtual=198.51.100.10:80\n\treal=127.0.0.31:80 gate\n\tchecktype=connect\n"
    )
    old = parse("anycastmaxwithdraw=0\n" + body)  # health never withdraws
    new = parse(body)  # unlimited
    assert compare_virtuals(old, new).unchanged

    def routes_after_reload(rebuilt: bool) -> dict[str, object]:
        async def scenario() -> dict[str, object]:
            events: list[str] = []
            routes, interfaces = Recorder(events), Recorder([])
            coordinator = AnycastCoordinator(
                Log(Lines()),
                clock=lambda: 1.0,
                route_writer_factory=lambda *a: routes,
                interface_writer_factory=lambda *a: interfaces,
            )
            engine = Engine(old, 0.0)
            (identity,) = [t.identity for t in engine.checks()]
            view = DataplaneView(1, frozenset(s.key for s in engine.desired()))
            await coordinator.start(old)
            engine.record(identity, True, "ok", 1.0)
            coordinator.update(engine, view)
            assert list(routes.routes) == ["198.51.100.10/32"]
            engine.record(identity, False, "refused", 1.0, kind=FailureKind.REFUSED)
            coordinator.update(engine, view)
            assert list(routes.routes) == ["198.51.100.10/32"]  # guarded
            await coordinator.reload(new)
            if rebuilt:
                engine = full_reload(engine, new, 1.0)
            else:
                engine.use_positions(new)  # the director's no-change path
            coordinator.update(engine, view)  # the switch (table.held)
            await coordinator.stop()
            return routes.routes

        return asyncio.run(scenario())

    assert routes_after_reload(rebuilt=True) == {}  # withdrawn: no guard any more
    assert routes_after_reload(rebuilt=False) == routes_after_reload(rebuilt=True)


def test_results_held_during_a_reload_are_recorded_even_when_its_switch_fails(
    tmp_path: Path,
) -> None:
    """A step of the switch that raises (here the anycast coordinator's reload) must
    not leave the director holding every later result: they are recorded, in the
    engine that runs, and the results that come after are recorded at once."""
    port = free_port("127.0.0.43")
    text = (
        "checkinterval=1\nchecktimeout=1\n"
        f"virtual=127.0.0.100:80\n\treal=127.0.0.43:{port} masq\n\tchecktype=connect\n"
    )
    path = str(tmp_path / "t.cf")

    def load(body: str) -> Config:
        return parse_text(body, path, resolver=RESOLVER, check_files=False)

    async def scenario() -> None:
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.43", port)
        director = CheckingDirector(Log(Lines()), ipvs_factory=lambda: AsyncIPVS(Kernel))
        director.use_state_file(str(tmp_path / "t.drained"))
        await director.start(load(text))
        await director.wait_ready()
        assert director.engine is not None and director._specs
        identity = director._specs[0].identity
        virtual = director.engine.config.virtuals[0]
        real = virtual.reals[0]
        assert director.engine.real_status(virtual, real).up

        async def broken(config: Config) -> None:
            # a result arrives while the reload is under way: it is held
            director._on_result(identity, CheckResult(False, "connect refused", 0.001))
            raise RuntimeError("the coordinator failed")

        director.anycast.reload = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="the coordinator failed"):
            await director.reload(load(text + "# changed\n"))
        assert director._held is None, "results stay held after the failed switch"
        engine = director.engine
        assert engine is not None
        assert not engine.real_status(virtual, real).up, "the held result was not recorded"
        director._on_result(identity, CheckResult(True, "ok", 0.001))
        assert engine.real_status(virtual, real).up, "a later result was not recorded"
        listener.close()
        await listener.wait_closed()
        await director.stop()

    run(scenario)
