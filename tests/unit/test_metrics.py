"""Prometheus metrics: scraped from a real exporter on loopback."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from typing import Any

import pytest

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.engine.events import (
    FailureCountReset,
    FallbackChanged,
    RealChanged,
    RealState,
)
from ldirectord_py.observe.metrics import Metrics, parse_address

STATUS: dict[str, Any] = {
    "status": "running",
    "dataplane": {"converged": True, "operations": 7, "errors": 1, "reconciles": 3},
    "virtuals": [
        {
            "virtual": "tcp:198.51.100.10:80",
            "fallback_active": False,
            "reals": [
                {"real": "192.0.2.1:80", "state": "up", "weight": 5},
                {"real": "192.0.2.2:80", "state": "down", "weight": 0},
                {"real": "192.0.2.3:80", "state": "unknown", "weight": None},
            ],
        }
    ],
    "watchdog": {"stalled": False},
    "anycast": {
        "enabled": True,
        "vips": [{"vip": "198.51.100.10/32", "state": "announced"}],
        "gobgp": {"connected": True, "peers": [{"address": "192.0.2.254", "state": "ESTABLISHED"}]},
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(metrics: Metrics, port: int) -> str:
    async def scenario() -> str:
        metrics.serve(f"127.0.0.1:{port}")
        try:
            metrics.observe_check("negotiate", True, "ok", 0.004)
            metrics.observe_check("negotiate", False, "timeout after 3s", 3.0)
            metrics.observe_check("connect", False, "connect refused", 0.001)
            metrics.reloads.labels("ok").inc()

            def get() -> str:
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url, timeout=5) as reply:
                    return str(reply.read().decode())

            return await asyncio.get_running_loop().run_in_executor(None, get)
        finally:
            metrics.close()

    return asyncio.run(scenario())


def test_scrape_shows_state_counters_and_histograms() -> None:
    text = _scrape(Metrics(lambda: STATUS), _free_port())
    lines = set(text.splitlines())
    assert "ldirectord_up 1.0" in lines
    assert 'ldirectord_real_up{real="192.0.2.1:80",virtual="tcp:198.51.100.10:80"} 1.0' in lines
    assert 'ldirectord_real_up{real="192.0.2.2:80",virtual="tcp:198.51.100.10:80"} 0.0' in lines
    assert 'ldirectord_real_up{real="192.0.2.3:80",virtual="tcp:198.51.100.10:80"} -1.0' in lines
    assert 'ldirectord_real_weight{real="192.0.2.1:80",virtual="tcp:198.51.100.10:80"} 5.0' in lines
    assert 'ldirectord_virtual_reals_up{virtual="tcp:198.51.100.10:80"} 1.0' in lines
    assert "ldirectord_ipvs_converged 1.0" in lines
    assert "ldirectord_ipvs_operations 7.0" in lines
    assert 'ldirectord_anycast_route_announced{vip="198.51.100.10/32"} 1.0' in lines
    assert "ldirectord_gobgp_connected 1.0" in lines
    assert 'ldirectord_gobgp_peer_up{peer="192.0.2.254"} 1.0' in lines
    assert 'ldirectord_check_failures_total{checktype="negotiate",reason="timeout"} 1.0' in lines
    assert 'ldirectord_check_failures_total{checktype="connect",reason="refused"} 1.0' in lines
    assert 'ldirectord_check_duration_seconds_count{checktype="negotiate"} 2.0' in lines
    assert 'ldirectord_config_reloads_total{result="ok"} 1.0' in lines


def test_before_serving_a_scrape_gets_an_empty_document_not_an_exception() -> None:
    metrics = Metrics(lambda: STATUS)
    assert metrics._scrape_snapshot() == {}


@pytest.mark.parametrize("text", ["9100", "host:", "host:0", "host:99999", ":x"])
def test_bad_metricsaddress_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_address(text)


def test_addresses() -> None:
    assert parse_address("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert parse_address("[::1]:9100") == ("::1", 9100)
    assert parse_address(":9100") == ("0.0.0.0", 9100)


def test_transitions_and_fallbacks_are_counted_from_the_engines_events() -> None:
    metrics = Metrics(lambda: STATUS)
    virtual, where, real = "tcp:198.51.100.10:80", "198.51.100.10:80", "192.0.2.1:80"

    def change(old: RealState, new: RealState, quiescent: bool) -> RealChanged:
        weight = 1 if new is RealState.UP else 0
        return RealChanged(virtual, where, real, old, new, weight, quiescent, "", FailureKind.NONE)

    for event in (
        change(RealState.UNKNOWN, RealState.UP, False),  # Added real server
        change(RealState.UP, RealState.DOWN, False),  # Deleted real server
        change(RealState.UP, RealState.DOWN, True),  # Quiescent real server
        change(RealState.DOWN, RealState.UP, True),  # Restored real server
        FallbackChanged(virtual, where, "127.0.0.1:80", True),
        FallbackChanged(virtual, where, "127.0.0.1:80", False),
        FailureCountReset(virtual, real),
    ):
        metrics.observe(event)
    up = metrics.transitions.labels("tcp:198.51.100.10:80", "up")._value.get()
    down = metrics.transitions.labels("tcp:198.51.100.10:80", "down")._value.get()
    assert (up, down) == (2, 2)
    assert metrics.fallbacks.labels("tcp:198.51.100.10:80")._value.get() == 1


def test_check_failures_are_counted_by_the_kind_the_check_set() -> None:
    metrics = Metrics(lambda: STATUS)
    metrics.observe_check("connect", False, "whatever the text", 0.1, FailureKind.RESET)
    metrics.observe_check("connect", False, "timeout after 3s", 0.1)  # kind from the text
    assert metrics.check_failures.labels("connect", "reset")._value.get() == 1
    assert metrics.check_failures.labels("connect", "timeout")._value.get() == 1
