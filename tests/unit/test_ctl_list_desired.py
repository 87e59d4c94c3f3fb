"""`ldirectordctl list -n --health` on a machine without ip_vs: the table the
daemon wants, in ipvsadm's layout, marked as not programmed (it used to fail)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from ldirectord_py.cli import ctl_list
from ldirectord_py.cli.ctl import cli
from ldirectord_py.ipvs.format import ListingOptions
from ldirectord_py.ipvs.netlink import IPVSUnavailable
from ldirectord_py.observe.schema import StatusSnapshot

SNAPSHOT = StatusSnapshot.from_json(
    {
        "schema": 2,
        "config": "/etc/ha.d/ldirectord.cf",
        "virtuals": [
            {
                "virtual": "tcp:198.51.100.10:80",
                "service": "TCP 198.51.100.10:80",
                "scheduler": "wlc",
                "reals": [
                    {
                        "real": "192.0.2.1:80",
                        "kernel": "192.0.2.1:80",
                        "forward": "Masq",
                        "weight": 5,
                        "state": "up",
                        "since": 1_800_000_000.0,
                    },
                    {
                        "real": "192.0.2.2:80",
                        "kernel": "192.0.2.2:80",
                        "forward": "Masq",
                        "weight": 0,
                        "state": "down",
                        "since": 1_800_000_000.0,
                    },
                    {"real": "192.0.2.3:80", "kernel": "192.0.2.3:80", "weight": None},
                ],
            },
            {
                "virtual": "fwm:7",
                "service": "FWM 7",
                "scheduler": "rr",
                "persistence": 300,
                "reals": [{"real": "192.0.2.1:0", "kernel": "192.0.2.1:0", "weight": 1}],
            },
        ],
    }
)


def test_the_desired_table_in_ipvsadm_layout_marked_not_programmed() -> None:
    text = ctl_list.desired_listing([SNAPSHOT], ListingOptions(numeric=True), "no ip_vs")
    lines = text.splitlines()
    assert lines[0].startswith("IP Virtual Server table NOT PROGRAMMED") and "no ip_vs" in lines[0]
    assert lines[1] == "Prot LocalAddress:Port Scheduler Flags"
    assert any(line.startswith("TCP  198.51.100.10:80 wlc") for line in lines)
    assert any(line.startswith("FWM  7 rr persistent 300") for line in lines)
    masq = [line.split() for line in lines if line.startswith("  -> 192.0.2.")]
    assert ["->", "192.0.2.1:80", "Masq", "5", "0", "0"] in masq
    assert ["->", "192.0.2.2:80", "Masq", "0", "0", "0"] in masq  # quiesced: weight 0
    assert not any("192.0.2.3" in line for line in lines)  # deleted: not in the table


def test_one_service_only() -> None:
    options = ListingOptions(numeric=True, service=ctl_list._parse_service("FWM 7"))
    text = ctl_list.desired_listing([SNAPSHOT], options, "no ip_vs")
    assert "FWM  7" in text and "TCP" not in text.split("\n", 1)[1].replace("Prot", "")


def test_list_health_without_ip_vs_shows_it_instead_of_failing(monkeypatch: Any) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> str:
        raise IPVSUnavailable()

    monkeypatch.setattr("ldirectord_py.ipvs.listing.live_listing", unavailable)
    monkeypatch.setattr(ctl_list, "daemon_snapshots", lambda: [SNAPSHOT])
    result = CliRunner().invoke(cli, ["list", "-n", "--health"])
    assert result.exit_code == 0, result.output
    assert "NOT PROGRAMMED" in result.output
    row = next(line for line in result.output.splitlines() if "192.0.2.2:80" in line)
    assert row.split()[-4:-2] == ["down", "since"]


@pytest.mark.parametrize("args", [["list", "-n"], ["list", "-n", "--health"]])
def test_without_ip_vs_and_without_a_daemon_it_still_fails(monkeypatch: Any, args: Any) -> None:
    def unavailable(*a: Any, **k: Any) -> str:
        raise IPVSUnavailable()

    monkeypatch.setattr("ldirectord_py.ipvs.listing.live_listing", unavailable)
    monkeypatch.setattr(ctl_list, "daemon_snapshots", lambda: [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "ip_vs" in result.output
