"""Drained reals: weight 0 wherever they are, persisted across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ldirectord_py.daemon.drains import DrainStore
from ldirectord_py.engine.drain import DrainKey, apply_drains
from ldirectord_py.ipvs.model import Destination, VirtualService


def _table() -> tuple[VirtualService, ...]:
    web = VirtualService.tcp(
        "192.0.2.1",
        80,
        destinations=(
            Destination.of("198.51.100.1", 80, weight=5),
            Destination.of("198.51.100.2", 80),
        ),
    )
    tls = VirtualService.tcp("192.0.2.1", 443, destinations=(Destination.of("198.51.100.1", 443),))
    return (web, tls)


def _weights(table: tuple[VirtualService, ...]) -> list[list[tuple[str, int]]]:
    return [[(str(d.key), d.weight) for d in s.destinations] for s in table]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "198.51.100.1",
            [[("198.51.100.1:80", 0), ("198.51.100.2:80", 1)], [("198.51.100.1:443", 0)]],
        ),
        (
            "198.51.100.1:443",
            [[("198.51.100.1:80", 5), ("198.51.100.2:80", 1)], [("198.51.100.1:443", 0)]],
        ),
        (
            "198.51.100.9",
            [[("198.51.100.1:80", 5), ("198.51.100.2:80", 1)], [("198.51.100.1:443", 1)]],
        ),
    ],
)
def test_drain_sets_weight_zero_only_on_matching_reals(text: str, expected: object) -> None:
    assert _weights(apply_drains(_table(), [DrainKey.parse(text)])) == expected


def test_no_drains_returns_the_table_itself() -> None:
    table = _table()
    assert apply_drains(table, []) is table


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web1", "not an IP address"),
        ("198.51.100.1:0", "port must be 1-65535"),
        ("198.51.100.1:http", "port must be 1-65535"),
        ("[2001:db8::1", "unbalanced"),
        ("[2001:db8::1]80", "expected ':PORT'"),
    ],
)
def test_bad_real_names_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DrainKey.parse(text)


def test_ipv6_forms() -> None:
    assert str(DrainKey.parse("[2001:DB8::1]:80")) == "[2001:db8::1]:80"
    assert DrainKey.parse("2001:db8::1") == DrainKey("2001:db8::1", None)


def test_store_survives_a_restart_and_empties_its_file(tmp_path: Path) -> None:
    path = str(tmp_path / "ldirectord.cf.drained")
    store = DrainStore(path)
    assert store.drain(DrainKey.parse("198.51.100.1:80"))
    assert not store.drain(DrainKey.parse("198.51.100.1:80"))
    assert DrainStore(path).keys == {DrainKey("198.51.100.1", 80)}
    assert store.undrain(DrainKey("198.51.100.1", 80))
    assert not Path(path).exists()
    assert DrainStore(path).keys == set()


def test_a_damaged_store_drains_nothing_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "bad.drained"
    path.write_text("{not json")
    store = DrainStore(str(path))
    assert store.keys == set()
    assert store.load_error is not None and str(path) in store.load_error


def test_a_drain_that_cannot_be_saved_does_not_take_effect(tmp_path: Path) -> None:
    store = DrainStore(str(tmp_path / "missing-dir" / "drained"))
    with pytest.raises(OSError):
        store.drain(DrainKey.parse("198.51.100.1"))
    assert store.keys == set()


def test_the_run_file_store_writes_json_and_removes_an_empty_file(tmp_path: Path) -> None:
    from ldirectord_py.daemon.runfiles import store_json

    path = tmp_path / "x.maintenance"
    store_json(str(path), {"198.51.100.10/32": 1.5})
    assert path.read_text() == '{"198.51.100.10/32": 1.5}\n'
    store_json(str(path), {})
    assert not path.exists()
    store_json(str(path), [])  # nothing to remove: fine
    assert sorted(p.name for p in tmp_path.iterdir()) == []
