"""Prometheus metrics: scraped from a real exporter on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import urllib.request
from pathlib import Path

import pytest

from ldirectord_py.checks.result import FailureKind
from ldirectord_py.config import Config, load
from ldirectord_py.daemon.mainloop import Daemon, Instance
from ldirectord_py.daemon.sdnotify import Notifier
from ldirectord_py.engine.events import (
    FailureCountReset,
    FallbackChanged,
    RealChanged,
    RealState,
)
from ldirectord_py.observe.log import Log, Sink
from ldirectord_py.observe.metrics import Metrics, parse_address
from ldirectord_py.observe.reloads import ReloadResult, ReloadTrigger
from ldirectord_py.observe.schema import ReloadSnapshot, StatusSnapshot

STATUS = StatusSnapshot.from_json(
    {
        "schema": 2,
        "status": "running",
        "started_at": 1_800_000_000.0,
        "build": {"version": "0.1.0", "python": "3.11.2"},
        "dataplane": {"converged": True, "operations": 7, "errors": 1, "reconciles": 3},
        "virtuals": [
            {
                "virtual": "tcp:198.51.100.10:80",
                "service": "TCP 198.51.100.10:80",
                "checktype": "negotiate",
                "fallback": "127.0.0.1:80",
                "fallback_active": False,
                "reals": [
                    {"real": "192.0.2.1:80", "state": "up", "weight": 5, "programmed_weight": 5},
                    {
                        "real": "192.0.2.2:80",
                        "state": "down",
                        "weight": 0,
                        "programmed_weight": 5,
                        "failures": 4,
                    },
                    {"real": "192.0.2.3:80", "state": "unknown", "weight": None},
                ],
            }
        ],
        "watchdog": {"stalled": False},
        "anycast": {
            "enabled": True,
            "vips": [{"vip": "198.51.100.10/32", "state": "depreferred", "guarded": True}],
            "gobgp": {
                "connected": True,
                "api": "4.x (api.GoBgpService)",
                "peers": [{"address": "192.0.2.254", "state": "ESTABLISHED"}],
            },
            "interfaces": {"converged": True},
        },
    }
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(metrics: Metrics, port: int) -> str:
    async def scenario() -> str:
        metrics.serve(f"127.0.0.1:{port}")
        try:
            metrics.observe_check("negotiate", True, 0.004, FailureKind.NONE)
            metrics.observe_check("negotiate", False, 3.0, FailureKind.TIMEOUT)
            metrics.observe_check("connect", False, 0.001, FailureKind.REFUSED)
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
    pair = 'real="{}",virtual="tcp:198.51.100.10:80"'
    assert "ldirectord_up 1.0" in lines
    assert 'ldirectord_build_info{python="3.11.2",version="0.1.0"} 1.0' in lines
    assert f"ldirectord_real_up{{{pair.format('192.0.2.1:80')}}} 1.0" in lines
    assert f"ldirectord_real_up{{{pair.format('192.0.2.2:80')}}} 0.0" in lines
    assert f"ldirectord_real_up{{{pair.format('192.0.2.3:80')}}} 0.0" in lines  # no -1
    for real, state in (("192.0.2.1:80", "up"), ("192.0.2.3:80", "unknown")):
        for value in ("up", "down", "unknown"):
            labels = f'real="{real}",state="{value}",virtual="tcp:198.51.100.10:80"'
            assert f"ldirectord_real_state{{{labels}}} {float(value == state)}" in lines
    assert f"ldirectord_real_weight{{{pair.format('192.0.2.1:80')}}} 5.0" in lines
    # the desired weight and the kernel's, both; none for a real not in the table
    assert f"ldirectord_real_weight{{{pair.format('192.0.2.2:80')}}} 0.0" in lines
    assert f"ldirectord_real_programmed_weight{{{pair.format('192.0.2.2:80')}}} 5.0" in lines
    assert not any(pair.format("192.0.2.3:80") in line for line in lines if "_weight{" in line)
    assert f"ldirectord_real_consecutive_failures{{{pair.format('192.0.2.2:80')}}} 4.0" in lines
    assert 'ldirectord_virtual_reals_up{virtual="tcp:198.51.100.10:80"} 1.0' in lines
    assert "ldirectord_ipvs_converged 1.0" in lines
    assert "# TYPE ldirectord_ipvs_operations_total counter" in lines
    assert "ldirectord_ipvs_operations_total 7.0" in lines
    assert "ldirectord_ipvs_errors_total 1.0" in lines
    assert 'ldirectord_ipvs_service_refused{service="TCP 198.51.100.10:80"} 0.0' in lines
    assert 'ldirectord_writer_crashes_total{writer="ipvs"} 0.0' in lines
    assert 'ldirectord_anycast_route_announced{vip="198.51.100.10/32"} 1.0' in lines
    assert 'ldirectord_anycast_vip_state{state="depreferred",vip="198.51.100.10/32"} 1.0' in lines
    assert 'ldirectord_anycast_vip_state{state="withdrawn",vip="198.51.100.10/32"} 0.0' in lines
    assert 'ldirectord_anycast_vip_guarded{vip="198.51.100.10/32"} 1.0' in lines
    assert "ldirectord_gobgp_connected 1.0" in lines
    assert "ldirectord_gobgp_api_major 4.0" in lines
    assert 'ldirectord_gobgp_peer_up{peer="192.0.2.254"} 1.0' in lines
    assert 'ldirectord_check_failures_total{checktype="negotiate",reason="timeout"} 1.0' in lines
    assert 'ldirectord_check_failures_total{checktype="connect",reason="refused"} 1.0' in lines
    assert 'ldirectord_check_duration_seconds_count{checktype="negotiate"} 2.0' in lines
    assert 'ldirectord_config_reloads_total{result="ok"} 1.0' in lines
    assert "ldirectord_config_last_reload_successful 1.0" in lines
    assert "ldirectord_config_last_reload_success_timestamp_seconds 1.8e+09" in lines


def test_every_counter_series_exists_from_the_start() -> None:
    """Before any event: the labelled counters of the configured virtuals and check
    types are there, at zero (a rate() over them works from the first scrape)."""
    metrics = Metrics(lambda: STATUS)

    async def scenario() -> str:
        body, _, _ = await metrics.render("", "", {})
        return body.decode()

    lines = set(asyncio.run(scenario()).splitlines())
    virtual = 'virtual="tcp:198.51.100.10:80"'
    assert f'ldirectord_real_transitions_total{{to="down",{virtual}}} 0.0' in lines
    assert f'ldirectord_real_transitions_total{{to="up",{virtual}}} 0.0' in lines
    assert f"ldirectord_fallback_activations_total{{{virtual}}} 0.0" in lines
    assert 'ldirectord_config_reloads_total{result="failed"} 0.0' in lines
    assert 'ldirectord_check_failures_total{checktype="negotiate",reason="other"} 0.0' in lines
    assert 'ldirectord_check_duration_seconds_count{checktype="negotiate"} 0.0' in lines


def test_a_failed_reload_shows_in_the_reload_gauges() -> None:
    failed = ReloadSnapshot(at=1_800_000_100.0, ok=False, error="bad", last_success_at=1.9e9)
    metrics = Metrics(lambda: dataclasses.replace(STATUS, last_reload=failed))

    async def scenario() -> str:
        body, _, _ = await metrics.render("", "", {})
        return body.decode()

    lines = set(asyncio.run(scenario()).splitlines())
    assert "ldirectord_config_last_reload_successful 0.0" in lines
    assert "ldirectord_config_last_reload_success_timestamp_seconds 1.9e+09" in lines


def test_drained_reals_are_counted_per_virtual_beside_the_reals_up() -> None:
    """A drained real that passes its checks is up but takes no new traffic: the
    drained count says how much of `reals_up` can serve."""
    [virtual] = STATUS.virtuals
    up, *rest = virtual.reals
    reals = (dataclasses.replace(up, drained=True, weight=0), *rest)
    drained = dataclasses.replace(STATUS, virtuals=(dataclasses.replace(virtual, reals=reals),))
    name = 'virtual="tcp:198.51.100.10:80"'

    async def scrape(status: StatusSnapshot) -> set[str]:
        body, _, _ = await Metrics(lambda: status).render("", "", {})
        return set(body.decode().splitlines())

    before, after = asyncio.run(scrape(STATUS)), asyncio.run(scrape(drained))
    assert f"ldirectord_virtual_reals_drained{{{name}}} 0.0" in before
    assert f"ldirectord_virtual_reals_drained{{{name}}} 1.0" in after
    assert f"ldirectord_virtual_reals_up{{{name}}} 1.0" in after


def test_a_virtual_removed_by_a_reload_takes_its_counters_along() -> None:
    current = [STATUS]
    metrics = Metrics(lambda: current[0])

    async def scenario() -> str:
        await metrics.render("", "", {})
        current[0] = dataclasses.replace(STATUS, virtuals=())
        body, _, _ = await metrics.render("", "", {})
        return body.decode()

    assert "tcp:198.51.100.10:80" not in asyncio.run(scenario())


def test_before_serving_a_scrape_gets_an_empty_document_not_an_exception() -> None:
    metrics = Metrics(lambda: STATUS)
    assert metrics._scrape_snapshot() is None


def test_a_snapshot_that_fails_is_up_0_not_an_error() -> None:
    def broken() -> StatusSnapshot:
        raise RuntimeError("loop gone")

    async def scenario() -> str:
        body, _, _ = await Metrics(broken).render("", "", {})
        return body.decode()

    assert "ldirectord_up 0.0" in asyncio.run(scenario()).splitlines()


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
    metrics.observe_check("connect", False, 0.1, FailureKind.RESET)
    metrics.observe_check("connect", False, 0.1, FailureKind.TIMEOUT)
    metrics.observe_check("connect", True, 0.1, FailureKind.NONE)
    assert metrics.check_failures.labels("connect", "reset")._value.get() == 1
    assert metrics.check_failures.labels("connect", "timeout")._value.get() == 1
    assert metrics.check_failures.labels("connect", "none")._value.get() == 0


class DiscardSink(Sink):
    def write(self, message: str) -> None:
        pass


class ReloadRecordingDirector:
    """Just enough of a director for the main loop's reloads; its status is the
    snapshot the metrics read, with `last_reload` as the main loop set it."""

    def __init__(self) -> None:
        self.last_reload: ReloadResult | None = None

    async def start(self, config: Config) -> None:
        pass

    async def reload(self, config: Config) -> None:
        pass

    async def stop(self) -> None:
        pass

    def snapshot(self) -> StatusSnapshot:
        reload = None if self.last_reload is None else self.last_reload.snapshot()
        return dataclasses.replace(STATUS, last_reload=reload)

    def status(self) -> dict[str, object]:
        return self.snapshot().to_json()


def test_a_refused_reload_from_the_main_loop_zeroes_the_gauge_and_keeps_the_success_time(
    tmp_path: Path,
) -> None:
    """The record the main loop makes on every reload is what the gauges show: an
    applied reload moves the success timestamp; a refused one sets the success
    gauge to 0 and leaves the timestamp at the applied one."""
    cfg = tmp_path / "m.cf"
    good = f'logfile="{tmp_path}/ld.log"\nvirtual=127.0.0.1:80\n\treal=127.0.0.2:80 gate\n'
    cfg.write_text(good)
    config = load(str(cfg), check_files=False)
    director = ReloadRecordingDirector()
    instance = Instance(str(cfg), "m.cf", "/bin/false", False, lambda p: load(p, check_files=False))
    daemon = Daemon(instance, config, Log(DiscardSink()), director, None, notifier=Notifier(None))
    metrics = Metrics(director.snapshot)

    async def scrape() -> dict[str, str]:
        body, _, _ = await metrics.render("", "", {})
        return {
            line.split(" ")[0]: line.split(" ")[1]
            for line in body.decode().splitlines()
            if line.startswith("ldirectord_config_last_reload")
        }

    async def scenario() -> None:
        before = await scrape()
        assert before["ldirectord_config_last_reload_successful"] == "1.0"
        assert float(before["ldirectord_config_last_reload_success_timestamp_seconds"]) == (
            STATUS.started_at
        )
        cfg.write_text(good + "\treal=127.0.0.3:80 gate\n")
        await daemon._reload_notified(ReloadTrigger.SIGNAL)
        applied = director.last_reload
        assert applied is not None and applied.ok, applied
        after_ok = await scrape()
        assert after_ok["ldirectord_config_last_reload_successful"] == "1.0"
        assert float(after_ok["ldirectord_config_last_reload_success_timestamp_seconds"]) == (
            applied.at
        )
        cfg.write_text(good + "bogus=1\n")
        await daemon._reload_notified(ReloadTrigger.CONTROL)
        refused = director.last_reload
        assert refused is not None and not refused.ok and refused.where == f"{cfg}:4"
        after_refusal = await scrape()
        assert after_refusal["ldirectord_config_last_reload_successful"] == "0.0"
        assert float(after_refusal["ldirectord_config_last_reload_success_timestamp_seconds"]) == (
            applied.at
        )
        document = StatusSnapshot.from_json(director.status())
        assert document.last_reload is not None
        assert document.last_reload.last_success_at == applied.at
        assert document.last_reload.trigger == "control socket"

    asyncio.run(scenario())
