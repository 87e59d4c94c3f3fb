"""format.py beyond the recorded goldens: JSON, errors, the merge order itself."""

from __future__ import annotations

import json
import random

import pytest

from ldirectord_py.ipvs.format import (
    ListingOptions,
    ServiceNotFound,
    _glibc_merge_sort,
    ipvsadm_order,
    listing_as_dict,
    render_listing,
)
from ldirectord_py.ipvs.model import Table, VirtualService
from tests.unit.ipvs.goldens import GOLDEN_DIR, load

CLASSIC = load(GOLDEN_DIR / "classic.json")


def test_json_lists_the_same_services_in_the_same_order() -> None:
    assert CLASSIC.table is not None
    data = listing_as_dict(CLASSIC.table, ListingOptions(numeric=True))
    json.dumps(data)  # plain values only
    order = [str(s.key) for s in ipvsadm_order(CLASSIC.table.services)]
    assert [s["service"] for s in data["services"]] == order  # type: ignore[union-attr]
    assert order[0] == "FWM 4294967295"  # listed as "FWM  -1" by ipvsadm; JSON keeps the mark
    assert data["version"] == "1.2.1"
    web = next(s for s in data["services"] if s["service"] == "TCP 192.0.2.10:80")  # type: ignore[index,union-attr]
    assert [d["destination"] for d in web["destinations"]] == [
        "198.51.100.2:8080",
        "198.51.100.3:80",
        "198.51.100.10:80",
    ]
    assert web["destinations"][1]["upper_threshold"] == 100
    assert web["destinations"][0]["forwarding"] == "masq"


def test_json_of_one_service() -> None:
    assert CLASSIC.table is not None
    key = VirtualService.firewall_mark(42).key
    data = listing_as_dict(CLASSIC.table, ListingOptions(service=key))
    assert [s["service"] for s in data["services"]] == ["FWM 42"]  # type: ignore[union-attr]
    assert data["services"][0]["sched_flags"] == ["sh-port"]  # type: ignore[index]


def test_a_missing_service_is_no_such_service() -> None:
    key = VirtualService.tcp("192.0.2.99", 1).key
    with pytest.raises(ServiceNotFound, match="No such service"):
        render_listing(Table(), ListingOptions(service=key))
    with pytest.raises(ServiceNotFound):
        listing_as_dict(Table(), ListingOptions(service=key))


def test_the_full_listing_needs_the_kernel_info() -> None:
    with pytest.raises(ValueError, match="ip_vs info"):
        render_listing(Table(), ListingOptions())


def test_the_merge_order_is_a_stable_sort_for_a_proper_comparison() -> None:
    rng = random.Random(7)
    for _ in range(200):
        items = [(rng.randrange(5), i) for i in range(rng.randrange(40))]
        merged = _glibc_merge_sort(items, lambda a, b: a[0] - b[0])
        assert merged == sorted(items, key=lambda x: x[0])
