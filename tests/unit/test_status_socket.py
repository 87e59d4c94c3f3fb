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


def _serve(
    path: str, handler: object, *calls: tuple[str, dict[str, object] | None]
) -> list[object]:
    from ldirectord_py.observe.status_socket import send_command

    async def scenario() -> list[object]:
        server = StatusServer(path, lambda: {"status": "running"}, handler)  # type: ignore[arg-type]
        await server.start()
        loop = asyncio.get_running_loop()
        out = []
        for command, args in calls:
            out.append(await loop.run_in_executor(None, send_command, path, command, args, 5.0))
        out.append(await loop.run_in_executor(None, read_status, path))
        await server.stop()
        return out

    return asyncio.run(scenario())


def test_commands_reach_the_handler_and_status_still_answers(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, object]]] = []

    async def handler(command: str, args: dict[str, object]) -> dict[str, object]:
        seen.append((command, args))
        return {"ok": True, "echo": command}

    replies = _serve(str(tmp_path / "s.sock"), handler, ("drain", {"real": "192.0.2.5:80"}))
    assert replies == [{"ok": True, "echo": "drain"}, {"status": "running"}]
    assert seen == [("drain", {"real": "192.0.2.5:80"})]


def test_failing_or_unknown_commands_get_an_error_reply_not_a_dead_daemon(tmp_path: Path) -> None:
    async def handler(command: str, args: dict[str, object]) -> dict[str, object]:
        raise RuntimeError("boom")

    replies = _serve(str(tmp_path / "s.sock"), handler, ("check-now", None))
    assert replies[0] == {"ok": False, "error": "check-now failed: boom"}
    assert replies[1] == {"status": "running"}  # still serving
    replies = _serve(str(tmp_path / "t.sock"), None, ("drain", None))
    assert replies[0] == {"ok": False, "error": "unknown command 'drain'"}


def test_a_garbage_request_line_gets_a_clear_error(tmp_path: Path) -> None:
    import socket as so

    path = str(tmp_path / "g.sock")

    async def scenario() -> bytes:
        server = StatusServer(path, lambda: {"status": "running"})
        await server.start()

        def client() -> bytes:
            with so.socket(so.AF_UNIX, so.SOCK_STREAM) as sock:
                sock.connect(path)
                sock.sendall(b"\x00\xffnot json\n")
                return sock.recv(65536)

        data = await asyncio.get_running_loop().run_in_executor(None, client)
        await server.stop()
        return data

    assert b'"ok": false' in asyncio.run(scenario()) and b"bad request" in asyncio.run(scenario())
