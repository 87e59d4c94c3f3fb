"""The engine against scripted check results and a fake clock: the scenarios the
Perl original was recorded in (compat-harness), as the tables they end in."""

from __future__ import annotations

from ldirectord_py.engine import CommandRequested, Engine, MonitorRecord
from ldirectord_py.engine.wording import original_text
from ldirectord_py.ipvs.model import (
    Destination,
    Forwarding,
    Protocol,
    ServiceKey,
    VirtualService,
)

from .config.conftest import parse

HEAD = "checkinterval=2\nnegotiatetimeout=2\n"
VIRTUAL = (
    "virtual=127.0.0.100:8080\n"
    "\treal=127.0.0.11:8080 gate 1\n"
    "\treal=127.0.0.12:8080 gate 2\n"
    "\tservice=http\n"
    '\trequest="index.html"\n'
    '\treceive="OK"\n'
)


def engine(extra_global: str = "", extra_virtual: str = "", **kw: object) -> Engine:
    config = parse(HEAD + extra_global + VIRTUAL + extra_virtual)
    return Engine(config, 0.0, **kw)  # type: ignore[arg-type]


def dests(e: Engine, index: int = 0) -> dict[str, int]:
    """`ip:port -> weight` of one virtual's desired destinations."""
    service = e.desired()[index]
    return {str(d.key): d.weight for d in service.destinations}


def ident(e: Engine, address: str, index: int = 0) -> str:
    virtual = e.config.virtuals[index]
    real = next(r for r in virtual.reals if r.address == address)
    return virtual.check_identity(real)


def logs(effects: list[object]) -> list[str]:
    """The original's log lines for these events."""
    return [text for e in effects if (text := original_text(e)) is not None]  # type: ignore[arg-type]


def commands(effects: list[object]) -> list[str]:
    return [e.command for e in effects if isinstance(e, CommandRequested)]


def test_start_then_kill_and_restore_quiescent_no() -> None:
    e = engine()
    assert e.take_effects() == []
    (service,) = e.desired()
    assert service.scheduler == "wrr" and service.destinations == ()  # nothing known yet
    out = e.record(ident(e, "127.0.0.11"), True, "ok", 1.0)
    assert logs(out) == ["Added real server: 127.0.0.11:8080 (127.0.0.100:8080) (Weight set to 1)"]
    e.record(ident(e, "127.0.0.12"), True, "ok", 1.1)
    assert dests(e) == {"127.0.0.11:8080": 1, "127.0.0.12:8080": 2}
    out = e.record(ident(e, "127.0.0.12"), False, "connect refused", 5.0)
    assert logs(out) == ["Deleted real server: 127.0.0.12:8080 (127.0.0.100:8080)"]
    assert dests(e) == {"127.0.0.11:8080": 1}
    out = e.record(ident(e, "127.0.0.12"), True, "ok", 9.0)
    assert "Added real server: 127.0.0.12:8080 (127.0.0.100:8080) (Weight set to 2)" in logs(out)
    assert dests(e) == {"127.0.0.11:8080": 1, "127.0.0.12:8080": 2}


def test_quiescent_yes_keeps_down_reals_at_weight_zero() -> None:
    e = engine("quiescent=yes\n")
    assert dests(e) == {"127.0.0.11:8080": 0, "127.0.0.12:8080": 0}
    e.record(ident(e, "127.0.0.11"), True, "ok", 1.0)
    out = e.record(ident(e, "127.0.0.12"), True, "ok", 1.0)
    assert logs(out) == [
        "Restored real server: 127.0.0.12:8080 (127.0.0.100:8080) (Weight set to 2)"
    ]
    out = e.record(ident(e, "127.0.0.12"), False, "timeout", 3.0)
    assert logs(out) == [
        "Quiescent real server: 127.0.0.12:8080 (127.0.0.100:8080) (Weight set to 0)"
    ]
    assert dests(e) == {"127.0.0.11:8080": 1, "127.0.0.12:8080": 0}


def test_thresholds_kept_when_up_and_reset_when_quiesced() -> None:
    config = parse("quiescent=yes\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:80 masq 3 l:5 u:9\n")
    e = Engine(config, 0.0)
    identity = config.virtuals[0].check_identity(config.virtuals[0].reals[0])
    e.record(identity, True, "ok", 1.0)
    (d,) = e.desired()[0].destinations
    assert (d.weight, d.lower_threshold, d.upper_threshold, d.forwarding) == (
        3,
        5,
        9,
        Forwarding.MASQ,
    )
    e.record(identity, False, "down", 2.0)
    (d,) = e.desired()[0].destinations
    assert (d.weight, d.lower_threshold, d.upper_threshold) == (0, 0, 0)


def test_fallback_and_fallbackcommand_decided_by_the_first_round_without_flap() -> None:
    e = engine('fallback=127.0.0.1:8080 gate\nfallbackcommand="/bin/fb"\n')
    assert e.take_effects() == []
    out = e.record(ident(e, "127.0.0.11"), True, "ok", 1.0)
    assert commands(out) == []  # .12 has no result yet: nothing decided
    out = e.record(ident(e, "127.0.0.12"), True, "ok", 1.0)
    assert commands(out) == ['"/bin/fb" stop 127.0.0.100:8080 tcp']
    assert "127.0.0.1:8080" not in dests(e)
    e.record(ident(e, "127.0.0.11"), False, "x", 4.0)
    out = e.record(ident(e, "127.0.0.12"), False, "x", 4.0)
    assert commands(out) == ['"/bin/fb" start 127.0.0.100:8080 tcp']
    assert "Added fallback server: 127.0.0.1:8080 (127.0.0.100:8080) (Weight set to 1)" in logs(out)
    assert dests(e) == {"127.0.0.1:8080": 1}
    out = e.record(ident(e, "127.0.0.11"), True, "ok", 8.0)
    assert commands(out) == ['"/bin/fb" stop 127.0.0.100:8080 tcp']
    assert "Deleted fallback server: 127.0.0.1:8080 (127.0.0.100:8080)" in logs(out)
    assert dests(e) == {"127.0.0.11:8080": 1}
    out = e.record(ident(e, "127.0.0.12"), True, "ok", 8.0)
    assert commands(out) == []  # never the same word twice in a row


def test_all_down_at_start_puts_the_fallback_in_and_runs_start_once() -> None:
    e = engine("fallback=127.0.0.1:8080 gate\n", '\tfallbackcommand="/v"\n')
    e.record(ident(e, "127.0.0.11"), False, "refused", 1.0)
    out = e.record(ident(e, "127.0.0.12"), False, "refused", 1.0)
    assert commands(out) == ["/v start 127.0.0.100:8080 tcp"]
    assert dests(e) == {"127.0.0.1:8080": 1}
    # Fallback servers are deleted, never quiesced, even with quiescent=yes.
    q = engine("quiescent=yes\nfallback=127.0.0.1:8080 gate\n")
    q.record(ident(q, "127.0.0.11"), False, "x", 1.0)
    q.record(ident(q, "127.0.0.12"), False, "x", 1.0)
    q.record(ident(q, "127.0.0.11"), True, "ok", 2.0)
    assert dests(q) == {"127.0.0.11:8080": 1, "127.0.0.12:8080": 0}


def test_failurecount_soft_failures_and_reset() -> None:
    e = engine("failurecount=3\n")
    e.record(ident(e, "127.0.0.11"), True, "ok", 0.0)
    a = ident(e, "127.0.0.11")
    assert logs(e.record(a, False, "x", 1.0)) == [
        "Soft failure real server: 127.0.0.11:8080 (tcp:127.0.0.100:8080) failure 1/3"
    ]
    assert logs(e.record(a, False, "x", 2.0))[0].endswith("failure 2/3")
    assert logs(e.record(a, True, "ok", 3.0)) == [
        "Resetting soft failure count: 127.0.0.11:8080 (tcp:127.0.0.100:8080)"
    ]
    e.record(a, False, "x", 4.0)
    e.record(a, False, "x", 5.0)
    assert "127.0.0.11:8080" in dests(e)
    assert logs(e.record(a, False, "x", 6.0)) == [
        "Deleted real server: 127.0.0.11:8080 (127.0.0.100:8080)"
    ]
    assert "127.0.0.11:8080" not in dests(e)
    # A real that is down does not count failures.
    assert logs(e.record(a, False, "x", 7.0)) == []


def test_a_real_down_at_its_first_check_never_enters_the_table() -> None:
    e = engine("failurecount=3\n")
    assert e.record(ident(e, "127.0.0.11"), False, "refused", 1.0) == []
    assert dests(e) == {}


def test_preexisting_table_reals_serving_stay_up_others_wait_for_checks() -> None:
    live_service = VirtualService.tcp(
        "127.0.0.100",
        8080,
        scheduler="rr",
        destinations=(
            Destination.of("127.0.0.11", 8080, weight=1),
            Destination.of("127.0.0.12", 8080, weight=0),
            Destination.of("127.0.0.99", 8080, weight=1),
        ),
    )
    e = engine(live={live_service.key: live_service})
    assert dests(e) == {"127.0.0.11:8080": 1}  # .99 purged, .12 (weight 0) down
    assert e.desired()[0].scheduler == "wrr"
    e.record(ident(e, "127.0.0.12"), True, "ok", 1.0)
    assert dests(e) == {"127.0.0.11:8080": 1, "127.0.0.12:8080": 2}


def test_shared_real_is_checked_once_and_applies_to_both_virtuals() -> None:
    config = parse(
        "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tservice=http\n"
        "virtual=127.0.0.101:80\n\treal=127.0.0.11:80 gate\n\tservice=http\n"
    )
    e = Engine(config, 0.0)
    (target,) = e.checks()
    e.record(target.identity, True, "ok", 1.0)
    assert [len(s.destinations) for s in e.desired()] == [1, 1]
    e.record(target.identity, False, "x", 2.0)
    assert [len(s.destinations) for s in e.desired()] == [0, 0]


def test_fwmark_external_fallbackcommand_gets_colon_zero() -> None:
    config = parse(
        'fallbackcommand="/fb"\nvirtual=7\n\treal=127.0.0.11 gate\n'
        "\tchecktype=external\n\tcheckcommand=/bin/chk\n\tscheduler=rr\n"
        "\tpersistent=600\n\tnetmask=255.255.255.0\n"
    )
    e = Engine(config, 0.0)
    (service,) = e.desired()
    assert service.key == ServiceKey.for_fwmark(7)
    assert (service.scheduler, service.persistence, service.netmask_text) == (
        "rr",
        600,
        "255.255.255.0",
    )
    (target,) = e.checks()
    out = e.record(target.identity, False, "exit 1", 1.0)
    assert commands(out) == ['"/fb" start :0 fwm']


def test_gate_real_on_another_port_is_stored_on_the_virtuals_port() -> None:
    config = parse("quiescent=yes\nvirtual=127.0.0.100:80\n\treal=127.0.0.11:8080 gate\n")
    e = Engine(config, 0.0)
    (target,) = e.checks()
    e.record(target.identity, True, "ok", 1.0)
    assert dests(e) == {"127.0.0.11:80": 1}
    e.record(target.identity, False, "x", 2.0)
    assert dests(e) == {"127.0.0.11:80": 0}  # quirk 3 fixed: restorable
    e.record(target.identity, True, "ok", 3.0)
    assert dests(e) == {"127.0.0.11:80": 1}


def test_checktype_on_and_off() -> None:
    on = Engine(parse("virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tchecktype=on\n"), 0.0)
    assert on.checks() == [] and dests(on) == {"127.0.0.11:80": 1}
    # never checked: the start says it is added, as the original logs it
    assert "Added real server: 127.0.0.11:80 (127.0.0.100:80) (Weight set to 1)" in logs(
        on.take_effects()  # type: ignore[arg-type]
    )
    off = Engine(
        parse(
            'fallback=127.0.0.1:80\nfallbackcommand="/fb"\n'
            "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n\tchecktype=off\n"
        ),
        0.0,
    )
    assert off.checks() == []
    # No real up, so the fallback is there and the command ran (quirk 6, kept).
    assert dests(off) == {"127.0.0.1:80": 1}
    assert commands(off.take_effects()) == ['"/fb" start 127.0.0.100:80 tcp']


def test_maintenance_takes_a_real_down_at_once() -> None:
    e = engine("failurecount=5\n")
    a = ident(e, "127.0.0.11")
    e.record(a, True, "ok", 1.0)
    out = e.record(a, False, "Server in maintenance", 2.0, maintenance=True)
    assert logs(out) == ["Deleted real server: 127.0.0.11:8080 (127.0.0.100:8080)"]


def test_monitorfile_lines() -> None:
    e = engine(extra_virtual="\tmonitorfile=/tmp/mon.log\n")
    out = e.record(ident(e, "127.0.0.11"), False, "bad|reply\n", 1.0)
    (line,) = [x for x in out if isinstance(x, MonitorRecord)]
    assert line.path == "/tmp/mon.log"
    assert line.text == (
        "negotiate http tcp 127.0.0.11 8080 1 gate /index.html OK [down] bad%7creply%0a"
    )


def test_reload_keeps_state_and_applies_weight_change_in_place() -> None:
    e = engine()
    e.record(ident(e, "127.0.0.11"), True, "ok", 1.0)
    e.record(ident(e, "127.0.0.12"), True, "ok", 1.0)
    new_config = parse(
        HEAD
        + "virtual=127.0.0.100:8080\n\treal=127.0.0.11:8080 gate 5\n\treal=127.0.0.13:8080 gate\n"
        + '\tservice=http\n\trequest="index.html"\n\treceive="OK"\n\tscheduler=rr\n'
    )
    e2 = e.reload(new_config, 10.0)
    assert dests(e2) == {"127.0.0.11:8080": 5}  # .12 dropped, .13 waits for its check
    assert e2.desired()[0].scheduler == "rr"
    assert e2.take_effects() == []  # the virtual stays settled: no command, no flap
    e2.record(ident(e2, "127.0.0.13"), True, "ok", 11.0)
    assert dests(e2) == {"127.0.0.11:8080": 5, "127.0.0.13:8080": 1}


def test_cleanstop_keys() -> None:
    config = parse(
        "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
        "virtual=127.0.0.101:80\n\treal=127.0.0.11:80 gate\n\tcleanstop=no\n"
    )
    assert Engine(config, 0.0).cleanstop_keys() == [
        ServiceKey.for_address(Protocol.TCP, "127.0.0.100:80")
    ]


def test_desired_is_stable_without_events() -> None:
    e = engine("quiescent=yes\n")
    assert e.desired() == e.desired()
    assert [s.destinations for s in e.desired()] == [s.destinations for s in e.desired()]
