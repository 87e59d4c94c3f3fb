"""`ldirectordctl routes` names the GoBGP API the daemon found (or was pinned
to), and the reason when it found none."""

from __future__ import annotations

from typing import Any

from ldirectord_py.cli.ctl_routes import render_routes
from ldirectord_py.observe.schema import StatusSnapshot

TEXT = "GoBGP API at unix:/run/gobgpd/api.sock: neither the 3.x nor the 4.x service answers"


def status(**gobgp: Any) -> StatusSnapshot:
    base = {"target": "unix:/run/gobgpd/api.sock", "connected": True, "peers": [], "gobgp": {}}
    return StatusSnapshot.from_json(
        {
            "config": "site.cf",
            "anycast": {"enabled": True, "method": "gobgp", "vips": [], "gobgp": base | gobgp},
        }
    )


def test_api_found_at_connect() -> None:
    text = render_routes([("x", status(api="4.x (api.GoBgpService)", api_version="auto"))])
    assert (
        "gobgp unix:/run/gobgpd/api.sock: connected, GoBGP 4.x (api.GoBgpService), "
        "found at connect" in text
    )


def test_api_pinned() -> None:
    text = render_routes([("x", status(api="3.x (apipb.GobgpApi)", api_version="3"))])
    assert "GoBGP 3.x (apipb.GobgpApi), pinned by gobgpversion" in text


def test_neither_api_is_shown_as_the_reason() -> None:
    text = render_routes([("x", status(connected=False, api=None, last_error=TEXT))])
    assert f"gobgp unix:/run/gobgpd/api.sock: unreachable ({TEXT})" in text


def test_metrics_name_the_api_and_the_no_api_state() -> None:
    from ldirectord_py.observe.metrics import _families

    for gobgp, major, no_api in (
        ({"api": "4.x (api.GoBgpService)"}, 4, 0),
        ({"api": "3.x (apipb.GobgpApi)"}, 3, 0),
        ({"connected": False, "api": None, "no_api": True, "last_error": TEXT}, 0, 1),
    ):
        doc = status(**gobgp)
        samples = {s.name: s.value for f in _families(doc) for s in f.samples if not s.labels}
        assert samples["ldirectord_gobgp_api_major"] == major
        assert samples["ldirectord_gobgp_no_api"] == no_api
