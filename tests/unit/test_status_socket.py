"""The status socket and `ldirectordctl list --health`'s column."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from ldirectord_py.cli.ctl_list import add_health_column
from ldirectord_py.observe.status_socket import StatusServer, read_status

LISTING = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.10:80 wrr
  -> 198.51.100.11:80             Route   2      0          0
  -> 198.51.100.12:8080           Masq    0      0          0
UDP  192.0.2.10:53 rr ops
  -> 198.51.100.11:53             Tunnel  1      0          0
FWM  9 IPv6 mh
  -> [2001:db8::11]:0             Route   1      0          0
"""


def test_health_column_scopes_each_real_to_its_service() -> None:
    health = {
        ("TCP 192.0.2.10:80", "198.51.100.11:80"): "up since 2026-11-27 06:00:00",
        ("TCP 192.0.2.10:80", "198.51.100.12:8080"): "down since 2026-11-27 06:01:00",
        ("FWM 9 IPv6", "[2001:db8::11]:0"): "up since 2026-11-27 06:02:00",
    }
    lines = add_health_column(LISTING, health).splitlines()
    assert lines[2].endswith(" Health")
    assert lines[4].endswith(" up since 2026-11-27 06:00:00")
    assert lines[5].endswith(" down since 2026-11-27 06:01:00")
    assert lines[7].endswith(" unknown")  # same address, other service: not reported
    assert lines[9].endswith(" up since 2026-11-27 06:02:00")
    assert lines[3] == "TCP  192.0.2.10:80 wrr"  # service lines unchanged


def test_status_socket_serves_json_to_root_only(tmp_path: Path) -> None:
    path = str(tmp_path / "ldirectord.t.cf.sock")

    async def scenario() -> dict[str, object]:
        server = StatusServer(path, lambda: {"status": "running", "virtuals": []})
        await server.start()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600
        data = await asyncio.get_running_loop().run_in_executor(None, read_status, path)
        await server.stop()
        assert not os.path.exists(path)
        return data

    assert asyncio.run(scenario()) == {"status": "running", "virtuals": []}
