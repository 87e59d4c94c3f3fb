"""Reloads you can see (issue 15 item 3): what a new file changes, the record of
the last reload, and the dry-run's table and route diff; and the near matches
that `ldirectordctl drain` offers for a real no virtual has (item 5). Pure: no
daemon, no socket, no clock."""

from __future__ import annotations

import dataclasses
import ipaddress

from ldirectord_py.cli.ctl_control import configured_reals, down_lines, near_matches
from ldirectord_py.config import Config, parse_text
from ldirectord_py.daemon.reload_preview import route_change, table_change
from ldirectord_py.engine import Engine
from ldirectord_py.observe.reloads import ConfigChange, ReloadResult, ReloadTrigger, config_change
from ldirectord_py.routing.model import Route

from .config.conftest import RESOLVER

BASE = (
    "checkinterval=5\n"
    "virtual=192.0.2.10:80\n"
    "\treal=10.0.0.1:80 gate 1\n"
    "\treal=10.0.0.2:80 gate 1\n"
    "\tchecktype=on\n"
    "virtual=192.0.2.11:80\n"
    "\treal=10.0.0.3:80 gate\n"
    "\tchecktype=on\n"
)


def _config(text: str) -> Config:
    return parse_text(text, "t.cf", resolver=RESOLVER, check_files=False)


def test_an_unchanged_file_and_moved_lines_change_nothing() -> None:
    old = _config(BASE)
    assert config_change(old, _config(BASE)).empty
    moved = _config("\n# a comment\n" + BASE)
    assert config_change(old, moved) == ConfigChange()
    assert config_change(old, moved).describe() == "no change"


def test_added_removed_and_changed_virtuals_and_reals() -> None:
    old = _config(BASE)
    new = _config(
        "checkinterval=7\n"
        "virtual=192.0.2.10:80\n"
        "\treal=10.0.0.1:80 gate 5\n"  # weight changed
        "\treal=10.0.0.4:80 gate 1\n"  # added; 10.0.0.2 removed
        "\tchecktype=on\n"
        "\tscheduler=wlc\n"  # the virtual changed
        "virtual=192.0.2.12:80\n"  # added; .11 removed with its real
        "\treal=10.0.0.5:80 gate\n"
        "\tchecktype=on\n"
    )
    change = config_change(old, new)
    assert change.virtuals_added == ("tcp:192.0.2.12:80",)
    assert change.virtuals_removed == ("tcp:192.0.2.11:80",)
    assert change.virtuals_changed == ("tcp:192.0.2.10:80",)
    assert change.reals_added == ("tcp:192.0.2.10:80 10.0.0.4:80", "tcp:192.0.2.12:80 10.0.0.5:80")
    assert set(change.reals_removed) == {
        "tcp:192.0.2.10:80 10.0.0.2:80",
        "tcp:192.0.2.11:80 10.0.0.3:80",
    }
    assert change.reals_changed == ("tcp:192.0.2.10:80 10.0.0.1:80",)
    assert change.globals_changed == ("checkinterval",)
    assert change.counts() == "virtuals +1 -1 ~1, reals +2 -2 ~1"
    text = change.describe(limit=1)
    assert text.startswith("virtuals +1 -1 ~1, reals +2 -2 ~1; virtuals added: tcp:192.0.2.12:80")
    assert "reals added: tcp:192.0.2.10:80 10.0.0.4:80 and 1 more" in text
    assert "global settings changed: checkinterval" in text


def test_the_reload_record() -> None:
    change = ConfigChange(reals_added=("tcp:192.0.2.10:80 10.0.0.4:80",))
    ok = ReloadResult(at=1.5, trigger=ReloadTrigger.SIGNAL, ok=True, config="t.cf", change=change)
    assert ok.summary() == "last reload (signal) applied: virtuals +0 -0 ~0, reals +1 -0 ~0"
    assert ok.as_json()["change"]["reals_added"] == ["tcp:192.0.2.10:80 10.0.0.4:80"]
    assert ok.where is None
    refused = ReloadResult(
        at=2.0,
        trigger=ReloadTrigger.CONTROL,
        ok=False,
        config="t.cf",
        error="configuration not reloaded: t.cf:9: Unknown command bogus=1",
        error_path="t.cf",
        error_line=9,
    )
    assert refused.where == "t.cf:9" and refused.as_json()["change"] is None
    assert refused.summary() == (
        "last reload (control socket) refused: configuration not reloaded: t.cf:9: "
        "Unknown command bogus=1"
    )
    assert dataclasses.is_dataclass(refused)
    try:
        refused.ok = True  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("ReloadResult must be frozen")


def test_table_change_shows_services_and_reals_added_removed_changed() -> None:
    old = _config(BASE)
    new = _config(BASE.replace("10.0.0.2:80 gate 1", "10.0.0.2:80 gate 3") + "")
    engine = Engine(old, 0.0)
    lines = table_change(engine.desired(), engine.reload(new, 1.0).desired())
    assert lines == [
        "  TCP 192.0.2.10:80",
        "~   -> 10.0.0.2:80 Route weight 1 => 10.0.0.2:80 Route weight 3",
    ]
    dropped = _config(BASE.split("virtual=192.0.2.11:80")[0])
    lines = table_change(engine.desired(), engine.reload(dropped, 1.0).desired())
    assert lines == ["- TCP 192.0.2.11:80 wrr", "-   -> 10.0.0.3:80 Route weight 1"]
    assert table_change(engine.desired(), engine.desired()) == []


def test_route_change() -> None:
    net = ipaddress.ip_network
    a, b, c = net("198.51.100.10/32"), net("198.51.100.11/32"), net("198.51.100.12/32")
    old = {a: Route(a), b: Route(b, med=10)}
    new = {a: Route(a), b: Route(b, med=20)}
    assert route_change(old, new, [c]) == [
        "~ 198.51.100.11/32, med 10 => 198.51.100.11/32, med 20",
        "? 198.51.100.12/32: a new VIP, announced once its first check round says so",
    ]
    assert route_change(old, {}, [])[0] == "- 198.51.100.10/32"


STATUS = {
    "config": "t.cf",
    "drained": [],
    "virtuals": [
        {
            "virtual": "tcp:192.0.2.10:80",
            "service": "TCP 192.0.2.10:80",
            "reals": [
                {"real": "10.0.0.1:8080", "kernel": "10.0.0.1:80", "state": "up"},
                {
                    "real": "10.0.0.2:80",
                    "kernel": "10.0.0.2:80",
                    "state": "down",
                    "last_reason": "connection refused",
                },
            ],
        }
    ],
}


def test_near_matches_for_a_real_no_virtual_has() -> None:
    names = [r for _s, r in configured_reals(STATUS)]
    assert names == ["10.0.0.1:8080", "10.0.0.1:80", "10.0.0.2:80"]
    # same address first, then spellings close to what was typed
    assert near_matches("10.0.0.1:81", names)[:2] == ["10.0.0.1:8080", "10.0.0.1:80"]
    assert near_matches("10.0.0.3:80", names)[:2] == ["10.0.0.2:80", "10.0.0.1:80"]
    assert near_matches("172.16.9.9", names) == []


def test_check_now_names_the_reals_down() -> None:
    assert down_lines(STATUS) == ["  down: 10.0.0.2:80 in TCP 192.0.2.10:80: connection refused"]


ANYCAST = (
    "checkinterval=5\n"
    "anycastprefix=198.51.100.0/24\n"
    "virtual=198.51.100.10:80\n"
    "\treal=10.0.0.1:80 gate\n"
    "\tchecktype=on\n"
)


class _Director:
    """What preview() reads of the running director: its engine, clock and policy."""

    def __init__(self, config: Config) -> None:
        from ldirectord_py.engine.anycast import AnycastPolicy

        self.engine = Engine(config, 0.0)
        self.clock = lambda: 1.0
        self.anycast = type("Coordinator", (), {"policy": AnycastPolicy(config, 0.0)})()


def test_preview_of_a_new_anycast_virtual_and_a_drained_real() -> None:
    from ldirectord_py.daemon.reload_preview import preview
    from ldirectord_py.engine.drain import DrainKey

    old = _config(ANYCAST)
    new = _config(ANYCAST + "virtual=198.51.100.11:80\n\treal=10.0.0.2:80 gate\n\tchecktype=on\n")
    lines = preview(_Director(old), new, frozenset({DrainKey("10.0.0.2", 80)}))
    assert lines[0] == "desired ip_vs table:"
    assert "  + TCP 198.51.100.11:80 wrr" in lines
    assert "  +   -> 10.0.0.2:80 Route weight 0" in lines, "drained: weight 0"
    assert "anycast routes:" in lines
    assert lines[-1] == (
        "  ? 198.51.100.11/32: a new VIP, announced once its first check round says so"
    )
    assert preview(_Director(old), old, frozenset()) == [
        "desired ip_vs table:",
        "  no change",
        "anycast routes:",
        "  no change",
    ]
    assert preview(object(), new, frozenset()) == [
        "(no check state yet: the daemon has not started checking)"
    ]


def test_preview_drains_a_gate_real_on_another_port_as_the_writer_does() -> None:
    """`drain 10.0.0.2:8080` of a gate real under a port-80 virtual: the kernel
    stores it as 10.0.0.2:80, and the writer drains that stored form too
    (`Drains.keys_for`); the dry run must show the same weight 0."""
    from ldirectord_py.daemon.drains import Drains, DrainStore
    from ldirectord_py.daemon.reload_preview import preview
    from ldirectord_py.engine.drain import DrainKey, apply_drains

    old = _config(
        ANYCAST + "virtual=198.51.100.11:80\n\treal=10.0.0.2:8080 gate 1\n\tchecktype=on\n"
    )
    new = _config(
        ANYCAST + "virtual=198.51.100.11:80\n\treal=10.0.0.2:8080 gate 5\n\tchecktype=on\n"
    )
    added = _config(
        ANYCAST + "virtual=198.51.100.12:80\n\treal=10.0.0.2:8080 gate\n\tchecktype=on\n"
    )
    drained = frozenset({DrainKey("10.0.0.2", 8080)})
    store = DrainStore(None)
    store.keys = set(drained)

    lines = preview(_Director(old), new, drained)
    assert lines[:2] == ["desired ip_vs table:", "  no change"], "drained before and after"
    lines = preview(_Director(old), added, drained)
    assert "  +   -> 10.0.0.2:80 Route weight 0" in lines
    assert "  -   -> 10.0.0.2:80 Route weight 0" in lines
    # the row the preview shows is the one the writer is handed after the reload
    engine = Engine(added, 1.0)
    written = apply_drains(engine.desired(), Drains(store).keys_for(engine))
    assert [d.weight for s in written for d in s.destinations if str(d.address) == "10.0.0.2"] == [
        0
    ]
