"""`ldirectordctl status` and `routes` output from a status document."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from ldirectord_py.cli.ctl_routes import render_routes
from ldirectord_py.cli.ctl_status import render_status
from ldirectord_py.observe.schema import StatusSnapshot

snap = StatusSnapshot.from_json

NOW = 1_800_000_000.0

STATUS: dict[str, Any] = {
    "status": "running",
    "config": "/etc/ha.d/ldirectord.cf",
    "pid": 4242,
    "started_at": NOW - 3725,
    "dataplane": {"converged": True, "operations": 4, "errors": 0, "last_error": None},
    "watchdog": {"stalled": False, "last_result_age": 0.4},
    "drained": ["192.0.2.2:80"],
    "virtuals": [
        {
            "virtual": "tcp:198.51.100.10:80",
            "fallback_active": False,
            "reals": [
                {
                    "real": "192.0.2.1:80",
                    "state": "up",
                    "weight": 1,
                    "failures": 0,
                    "last_latency": 0.0021,
                    "since": NOW - 60,
                    "last_reason": "ok",
                },
                {
                    "real": "192.0.2.2:80",
                    "state": "up",
                    "weight": 0,
                    "drained": True,
                    "failures": 0,
                    "last_latency": None,
                    "since": NOW - 5,
                    "last_reason": "ok",
                },
            ],
        }
    ],
    "anycast": {
        "enabled": True,
        "method": "gobgp",
        "vips": [
            {
                "vip": "198.51.100.10/32",
                "state": "announced",
                "reason": "198.51.100.10:80 tcp: 2 of 2 reals up",
                "since": NOW - 60,
                "guarded": False,
            },
            {
                "vip": "198.51.100.11/32",
                "state": "withdrawn",
                "reason": "198.51.100.11:80 tcp: 0 of 1 reals up",
                "since": NOW - 30,
                "guarded": False,
            },
        ],
        "gobgp": {
            "target": "127.0.0.1:50051",
            "connected": True,
            "peers": [{"address": "192.0.2.254", "asn": 65000, "state": "established"}],
            "gobgp": {"198.51.100.10/32": {"next_hop": "0.0.0.0", "med": 10, "communities": []}},
        },
    },
}


def test_status_shows_every_real_with_state_weight_and_drain() -> None:
    text = render_status("/run/ldirectord.ldirectord.cf.sock", snap(STATUS), now=NOW)
    assert "config:    /etc/ha.d/ldirectord.cf" in text
    assert "uptime:    1h02m  (pid 4242)" in text
    assert "dataplane: converged (4 operations, 0 errors)" in text
    assert "checks:    completing (last 0.4s ago)" in text
    assert "drained:   192.0.2.2:80" in text
    lines = text.splitlines()
    real1 = next(line for line in lines if line.strip().startswith("192.0.2.1:80"))
    assert real1.split()[:5] == ["192.0.2.1:80", "up", "1", "0", "2.1ms"]
    real2 = next(line for line in lines if line.strip().startswith("192.0.2.2:80"))
    assert "up (drained)" in real2 and real2.split()[3] == "0"
    assert "198.51.100.11/32" in text  # anycast section included


def test_routes_shows_decision_reason_and_gobgp_view() -> None:
    text = render_routes([("/run/x.sock", snap(STATUS))])
    lines = text.splitlines()
    assert lines[0] == "/etc/ha.d/ldirectord.cf: anycast by gobgp"
    assert "gobgp 127.0.0.1:50051: connected" in text
    assert "peer 192.0.2.254 AS65000: established" in text
    announced = next(line for line in lines if "198.51.100.10/32" in line)
    assert "announced" in announced and "in gobgp (next hop 0.0.0.0, med 10)" in announced
    assert announced.endswith("198.51.100.10:80 tcp: 2 of 2 reals up")
    withdrawn = next(line for line in lines if "198.51.100.11/32" in line)
    assert "withdrawn" in withdrawn and "not in gobgp" in withdrawn


def test_routes_without_anycast_and_with_gobgp_down() -> None:
    plain = render_routes(
        [("/run/x.sock", snap({"config": "a.cf", "anycast": {"enabled": False}}))]
    )
    assert plain == "a.cf: no anycast VIP configured\n"
    down = dict(STATUS["anycast"], gobgp={"target": "127.0.0.1:50051", "connected": False})
    text = render_routes([("/run/x.sock", snap(dict(STATUS, anycast=down)))])
    assert "gobgp 127.0.0.1:50051: unreachable" in text
    assert "gobgp unreachable" in next(line for line in text.splitlines() if "10/32" in line)


def test_commands_without_a_daemon_fail_clearly(tmp_path: Any, monkeypatch: Any) -> None:
    from ldirectord_py import runpaths
    from ldirectord_py.cli import ctl

    monkeypatch.setattr(runpaths, "RUN_DIR", str(tmp_path))
    ctl._register()
    runner = CliRunner()
    for args in (["status"], ["routes"], ["status", "-c", "nope.cf"]):
        result = runner.invoke(ctl.cli, args)
        assert result.exit_code == 1, args
        assert "ldirectordctl:" in result.output and "Traceback" not in result.output


def test_status_shows_the_kernels_weight_beside_the_desired_one_and_the_reload() -> None:
    virtual = dict(
        STATUS["virtuals"][0],
        service="TCP 198.51.100.10:80",
        programmed=True,
        reals=[
            dict(STATUS["virtuals"][0]["reals"][0], weight=0, programmed_weight=5, failures=3),
            dict(STATUS["virtuals"][0]["reals"][1], weight=None, programmed_weight=None),
        ],
    )
    reload = {"at": NOW - 10, "ok": False, "error": "unknown directive", "where": "x.cf:12"}
    document = dict(STATUS, schema=2, virtuals=[virtual], last_reload=reload)
    text = render_status("/run/x.sock", snap(document), now=NOW)
    lines = text.splitlines()
    real1 = next(line for line in lines if line.strip().startswith("192.0.2.1:80"))
    assert real1.split()[1:6] == ["up", "0", "(kernel", "5)", "3"]
    real2 = next(line for line in lines if line.strip().startswith("192.0.2.2:80"))
    assert real2.split()[3] == "-"  # not in the table: no weight
    assert "reload:    REFUSED: unknown directive (x.cf:12) at " in text
    unprogrammed = dict(document, virtuals=[dict(virtual, programmed=False)])
    assert "[not programmed]" in render_status("/run/x.sock", snap(unprogrammed), now=NOW)


def test_status_shows_the_last_reload_the_main_loop_recorded() -> None:
    """The `last_reload` record (observe/reloads.py, as the daemon serves it): an
    applied reload with its change counts and trigger; a refusal whose reason
    already names file:line does not repeat it."""
    from ldirectord_py.observe.reloads import ConfigChange, ReloadResult, ReloadTrigger

    change = ConfigChange(virtuals_changed=("tcp:198.51.100.10:80",), reals_added=("x",))
    applied = ReloadResult(
        at=NOW - 5, trigger=ReloadTrigger.SIGNAL, ok=True, config="x.cf", change=change
    )
    text = render_status("/run/x.sock", snap(dict(STATUS, last_reload=applied.as_json())), NOW)
    line = next(line for line in text.splitlines() if line.startswith("reload:"))
    assert line.startswith("reload:    applied: virtuals +0 -0 ~1, reals +1 -0 ~0 at ")
    assert line.endswith(", by signal")
    refused = ReloadResult(
        at=NOW - 1,
        trigger=ReloadTrigger.CONTROL,
        ok=False,
        config="x.cf",
        error="configuration not reloaded: x.cf:9: Unknown command bogus=1",
        error_path="x.cf",
        error_line=9,
    )
    text = render_status("/run/x.sock", snap(dict(STATUS, last_reload=refused.as_json())), NOW)
    line = next(line for line in text.splitlines() if line.startswith("reload:"))
    assert line.startswith(
        "reload:    REFUSED: configuration not reloaded: x.cf:9: Unknown command bogus=1 at "
    )
    assert line.endswith(", by control socket")
