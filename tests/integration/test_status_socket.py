"""The running daemon serves its status on /var/run/ldirectord.<CFGNAME>.sock."""

from __future__ import annotations

import os
import stat

from ldirectord_py.observe.status_socket import read_status

from .conftest import Sandbox, wait_until


def test_daemon_serves_status_next_to_its_pid_file_and_removes_it(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    sandbox.start(cfg)
    path = sandbox.run / "ldirectord.t.cf.sock"
    wait_until(path.exists, "the status socket appears")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    status: dict[str, object] = {}

    def reported() -> bool:
        status.update(read_status(str(path)))
        virtuals = status.get("virtuals") or []
        return bool(virtuals) and virtuals[0]["reals"][0]["state"] != "unknown"  # type: ignore[index]

    wait_until(reported, "the first check result is reported", timeout=15)
    (virtual,) = status["virtuals"]  # type: ignore[misc]
    assert virtual["service"] == "TCP 127.0.0.100:8080"
    (real,) = virtual["reals"]
    # Nothing listens on 127.0.0.11:8080 in the sandbox: the real is down.
    assert (real["real"], real["state"]) == ("127.0.0.11:8080", "down")
    assert "refused" in real["last_reason"]
    assert status["dataplane"]["converged"] is False  # type: ignore[index]  # no ip_vs here
    assert sandbox.ld(cfg, "stop").rc == 0
    assert not path.exists()
