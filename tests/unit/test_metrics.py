"""Prometheus metrics: scraped from a real exporter on loopback."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from typing import Any

import pytest

from ldirectord_py.observe.metrics import Metrics, parse_address, reason_kind

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


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("timeout after 5s", "timeout"),
        ("negotiate: receive did not match", "receive_mismatch"),
        ("connect: connect refused", "refused"),
        ("status 503", "http_status"),
        ("Server in maintenance", "maintenance"),
        ("something new", "other"),
    ],
)
def test_reasons_become_bounded_labels(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


@pytest.mark.parametrize("text", ["9100", "host:", "host:0", "host:99999", ":x"])
def test_bad_metricsaddress_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_address(text)


def test_addresses() -> None:
    assert parse_address("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert parse_address("[::1]:9100") == ("::1", 9100)
    assert parse_address(":9100") == ("0.0.0.0", 9100)


def test_transitions_and_fallbacks_are_counted_from_the_engines_lines() -> None:
    metrics = Metrics(lambda: STATUS)
    names = {"198.51.100.10:80": "tcp:198.51.100.10:80"}
    for text in (
        "Added real server: 192.0.2.1:80 (198.51.100.10:80) (Weight set to 1)",
        "Deleted real server: 192.0.2.1:80 (198.51.100.10:80)",
        "Quiescent real server: 192.0.2.1:80 (198.51.100.10:80) (Weight set to 0)",
        "Restored real server: 192.0.2.1:80 (198.51.100.10:80) (Weight set to 1)",
        "Added fallback server: 127.0.0.1:80 (198.51.100.10:80) (Weight set to 1)",
        "Deleted fallback server: 127.0.0.1:80 (198.51.100.10:80)",
        "Resetting soft failure count: 192.0.2.1:80 (tcp:198.51.100.10:80)",
    ):
        metrics.observe_log(text, names)
    up = metrics.transitions.labels("tcp:198.51.100.10:80", "up")._value.get()
    down = metrics.transitions.labels("tcp:198.51.100.10:80", "down")._value.get()
    assert (up, down) == (2, 2)
    assert metrics.fallbacks.labels("tcp:198.51.100.10:80")._value.get() == 1
