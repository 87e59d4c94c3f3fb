"""`ldirectordctl status|drain|undrain|check-now|reload` and the metrics exporter
against the real daemon, started as users start it (no ip_vs on this host: the
daemon decides and reports, the dataplane says why it is not programmed)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import REPO, Sandbox, wait_until

CTL = REPO / ".venv" / "bin" / "ldirectordctl"


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


# The default metrics port: free in the sandbox's own network namespace, whatever
# listens on it on the machine.
METRICS_PORT = 9588


@pytest.fixture
def backend(sandbox: Sandbox) -> Iterator[None]:
    """An HTTP backend on the real 127.0.0.11:8080 of CONFIG_BODY, in the sandbox's
    network namespace."""
    server = sandbox.in_netns(lambda: ThreadingHTTPServer(("127.0.0.11", 8080), _Ok))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


def _scrape(sandbox: Sandbox, port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            return str(reply.read().decode())

    return sandbox.in_netns(get)


def ctl(sandbox: Sandbox, *args: str) -> tuple[int, str, str]:
    res = sandbox.call(CTL, *args, timeout=60)
    return res.rc, res.out, res.err


def test_status_drain_check_now_reload_and_metrics(sandbox: Sandbox, backend: None) -> None:
    port = METRICS_PORT
    cfg = sandbox.config(globals_=f"metricsaddress=127.0.0.1:{port}\n")
    sandbox.start(cfg)

    def real_up() -> bool:
        rc, out, _ = ctl(sandbox, "status")
        return rc == 0 and " up " in out

    wait_until(real_up, "the real is reported up", timeout=20)
    rc, out, err = ctl(sandbox, "status")
    assert rc == 0, err
    assert f"config:    {cfg}" in out
    assert "virtual tcp:127.0.0.100:8080" in out
    assert "dataplane: not converged" in out and "ip_vs" in out  # says why

    rc, out, err = ctl(sandbox, "drain", "127.0.0.11:8080")
    assert rc == 0, err
    assert "127.0.0.11:8080: drained (weight 0) in TCP 127.0.0.100:8080" in out
    assert (sandbox.run / "ldirectord.t.cf.drained").exists()
    rc, out, _ = ctl(sandbox, "status", "--json")
    assert '"drained": true' in out and '"weight": 0' in out
    rc, out, err = ctl(sandbox, "drain", "not-an-ip")
    assert rc == 1 and "not an IP address" in err and "Traceback" not in err

    rc, out, err = ctl(sandbox, "check-now")
    assert rc == 0, err
    assert "checked 1 reals" in out and "1 up, 0 down" in out

    # a broken config is refused with its line; the daemon keeps running
    good = cfg.read_text()
    cfg.write_text(good + "bogusdirective=1\n")
    rc, out, err = ctl(sandbox, "reload")
    assert rc == 1
    assert "configuration not reloaded" in err and "t.cf:9: Unknown command bogusdirective=1" in err
    cfg.write_text(good.replace("checkinterval=1", "checkinterval=2"))
    rc, out, err = ctl(sandbox, "reload")
    assert rc == 0, err
    assert f"reloaded {cfg}" in out

    # the drain survived the reload and survives a restart
    assert sandbox.ld(cfg, "stop").rc == 0
    sandbox.start(cfg)
    wait_until(real_up, "the restarted daemon reports the real up", timeout=20)
    rc, out, _ = ctl(sandbox, "status", "--json")
    assert '"drained": true' in out

    metrics = _scrape(sandbox, port)
    assert (
        'ldirectord_real_up{real="127.0.0.11:8080",virtual="tcp:127.0.0.100:8080"} 1.0' in metrics
    )
    assert (
        'ldirectord_real_weight{real="127.0.0.11:8080",virtual="tcp:127.0.0.100:8080"} 0.0'
        in metrics
    )
    assert 'ldirectord_check_duration_seconds_count{checktype="negotiate"}' in metrics

    rc, out, err = ctl(sandbox, "undrain", "127.0.0.11:8080")
    assert rc == 0, err
    assert not (sandbox.run / "ldirectord.t.cf.drained").exists()
    assert sandbox.ld(cfg, "stop").rc == 0
    rc, out, err = ctl(sandbox, "status")
    assert rc == 1 and "no ldirectord-py daemon is running" in err


def test_commands_without_a_daemon(sandbox: Sandbox, tmp_path: Path) -> None:
    for args in (("status",), ("routes",), ("drain", "127.0.0.1"), ("check-now",), ("reload",)):
        rc, _out, err = ctl(sandbox, *args)
        assert rc == 1, args
        assert err.startswith("ldirectordctl: ") and "Traceback" not in err, (args, err)
