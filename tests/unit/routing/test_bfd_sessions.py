"""Reading BFD session state for `ldirectordctl routes --bfd` (ldirectord_py/routing/bfd.py):
BIRD's and FRR's answers as recorded from BIRD 2.0.12 and FRR 8.4, bad --bfd values."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ldirectord_py.cli import ctl
from ldirectord_py.routing.bfd import (
    BfdDaemon,
    BfdReading,
    BfdSource,
    BfdSourceError,
    BfdState,
    parse_bird_sessions,
    parse_frr_peers,
    parse_source,
    render_lines,
)

BIRD = """BIRD 2.0.12 ready.
lb_bfd:
IP address                Interface  State      Since         Interval  Timeout
192.0.2.1                 up0        Up         16:42:45.829    0.100    0.300
2001:db8:1::1             up0        Down       2026-12-06 16:42:45    1.000    0.000
"""

FRR = json.dumps(
    [
        {"peer": "192.0.2.1", "local": "192.0.2.2", "status": "up", "receive-interval": 100,
         "transmit-interval": 100, "detect-multiplier": 3, "remote-transmit-interval": 100},
        {"peer": "2001:db8:1::1", "status": "init", "receive-interval": 100,
         "transmit-interval": 100, "detect-multiplier": 3, "remote-transmit-interval": 1000},
    ]
)  # fmt: skip


def test_bird_table() -> None:
    up, down = parse_bird_sessions(BIRD)
    assert (up.peer, up.interface, up.state, up.interval_ms, up.detect_ms) == (
        "192.0.2.1", "up0", BfdState.UP, 100, 300,
    )  # fmt: skip
    assert down.state is BfdState.DOWN and down.peer == "2001:db8:1::1"


def test_bird_without_bfd_is_an_error_with_birds_words() -> None:
    with pytest.raises(ValueError, match="no BFD protocol"):
        parse_bird_sessions("BIRD 2.0.12 ready.\nThere is no BFD protocol running\n")


def test_frr_json() -> None:
    up, init = parse_frr_peers(FRR)
    assert (up.peer, up.local, up.state, up.interval_ms, up.detect_ms) == (
        "192.0.2.1", "192.0.2.2", BfdState.UP, 100, 300,
    )  # fmt: skip
    # Our detection time follows the slower of our receive and their transmit interval.
    assert init.state is BfdState.INIT and init.detect_ms == 3000
    with pytest.raises(ValueError, match="not JSON"):
        parse_frr_peers("% Unknown command")
    with pytest.raises(ValueError, match="not a list"):
        parse_frr_peers("{}")


def test_sources() -> None:
    assert parse_source("auto") is None
    assert parse_source("none") == []
    assert parse_source("bird:/run/bird/bfd.ctl") == [
        BfdSource(BfdDaemon.BIRD, "/run/bird/bfd.ctl")
    ]
    assert parse_source("frr") == [BfdSource(BfdDaemon.FRR, None)]
    for bad in ("bird", "bird:relative.ctl", "frr:relative", "openbfdd"):
        with pytest.raises(BfdSourceError, match="--bfd"):
            parse_source(bad)


def test_render() -> None:
    source = BfdSource(BfdDaemon.BIRD, "/run/bird/bfd.ctl")
    lines = render_lines(
        [
            BfdReading(source, parse_bird_sessions(BIRD)),
            BfdReading(source, (), "connection refused"),
        ]
    )
    assert lines == [
        "  bfd peer 192.0.2.1 on up0 (bird:/run/bird/bfd.ctl): up, every 100 ms, "
        "down after 300 ms of silence",
        "  bfd peer 2001:db8:1::1 on up0 (bird:/run/bird/bfd.ctl): down, every 1000 ms, "
        "down after 0 ms of silence",
        "  bfd (bird:/run/bird/bfd.ctl): not readable: connection refused",
    ]


@pytest.mark.parametrize("command", ["routes", "status"])
def test_a_bad_bfd_value_is_refused_before_anything_is_read(command: str) -> None:
    ctl._register()
    done = CliRunner().invoke(ctl.cli, [command, "--bfd", "bird:relative.ctl"])
    assert done.exit_code == 2
    assert "bird needs the absolute path of BIRD's control socket" in done.output
    assert "Traceback" not in done.output
