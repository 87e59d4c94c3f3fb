"""maintenancedir: every file-name form of spec 5.11, and no DNS unless needed.

Host names come from a fake reverse resolver that records its calls, so the
tests never query a name server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ldirectord_py.daemon.maintenance import MaintenanceDirectory, reverse_names

NAMES = {
    "192.0.2.11": ("web1.example.org", "web1"),
    "2001:db8::11": ("web6.example.org", "web6"),
}


class Resolver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, address: str) -> tuple[str, ...]:
        self.calls.append(address)
        return NAMES.get(address, ())


def holds(directory: MaintenanceDirectory, address: str, port: int, family: int = 4) -> bool:
    return asyncio.run(directory.holds(address, family, port))


def touch(path: Path, name: str) -> None:
    (path / name).write_text("")
    # Listings are re-read on an mtime change: make sure the clock moved.
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_address_forms_need_no_lookup(tmp_path: Path) -> None:
    resolver = Resolver()
    directory = MaintenanceDirectory(str(tmp_path), resolve=resolver)
    assert not holds(directory, "192.0.2.11", 80)
    touch(tmp_path, "192.0.2.11:80")
    assert holds(directory, "192.0.2.11", 80)
    assert not holds(directory, "192.0.2.11", 81)
    assert not holds(directory, "192.0.2.12", 80)
    touch(tmp_path, "192.0.2.12")
    assert holds(directory, "192.0.2.12", 8080)
    touch(tmp_path, "[2001:db8::11]:443")
    assert holds(directory, "2001:db8::11", 443, family=6)
    assert resolver.calls == []  # only address-named files: never a DNS lookup


def test_host_name_forms_use_the_reverse_name_once_a_minute(tmp_path: Path) -> None:
    resolver = Resolver()
    now = [0.0]
    directory = MaintenanceDirectory(str(tmp_path), resolve=resolver, clock=lambda: now[0])
    touch(tmp_path, "web1")
    assert holds(directory, "192.0.2.11", 80)
    assert holds(directory, "192.0.2.11", 81)
    assert not holds(directory, "192.0.2.99", 80)
    assert resolver.calls == ["192.0.2.11", "192.0.2.99"]  # cached
    (tmp_path / "web1").unlink()
    touch(tmp_path, "web1.example.org:80")
    assert holds(directory, "192.0.2.11", 80)
    assert not holds(directory, "192.0.2.11", 81)
    touch(tmp_path, "web6:443")
    assert holds(directory, "2001:db8::11", 443, family=6)
    now[0] = 61.0
    holds(directory, "192.0.2.11", 82)
    assert resolver.calls.count("192.0.2.11") == 2  # looked up again after a minute


def test_missing_or_emptied_directory_holds_nothing(tmp_path: Path) -> None:
    directory = MaintenanceDirectory(str(tmp_path / "nope"), resolve=Resolver())
    assert not holds(directory, "192.0.2.11", 80)


def test_reverse_names_of_loopback_come_from_etc_hosts() -> None:
    # 127.0.0.1 is named in /etc/hosts on every machine this runs on: no DNS query.
    names = reverse_names("127.0.0.1")
    assert names and names[0] == "localhost"
