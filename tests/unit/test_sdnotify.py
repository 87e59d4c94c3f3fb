"""sd_notify without systemd: a fake NOTIFY_SOCKET receives the datagrams."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ldirectord_py.config import Config, load
from ldirectord_py.daemon.mainloop import Daemon, Instance
from ldirectord_py.daemon.sdnotify import Notifier, monotonic_usec, socket_address, watchdog_usec
from ldirectord_py.daemon.stall import WatchdogRule
from ldirectord_py.observe.log import Log, Sink
from ldirectord_py.runpaths import RunPaths


class FakeSystemd:
    """A datagram socket standing in for systemd's notification socket; like systemd,
    it reads every datagram as it arrives (a thread collects them)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.messages: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append(dict(line.split("=", 1) for line in data.split("\n")))

    def receive(self, timeout: float = 5.0) -> dict[str, str]:
        """The oldest message not yet taken."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.messages:
                    return self.messages.pop(0)
            time.sleep(0.01)
        raise AssertionError("no notification arrived")

    def pending(self) -> list[dict[str, str]]:
        """Everything received and not yet taken."""
        time.sleep(0.02)
        with self.lock:
            out, self.messages = self.messages, []
        return out

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[str, FakeSystemd]]:
    path = str(tmp_path / "notify")
    fake = FakeSystemd(path)
    yield path, fake
    fake.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, FakeSystemd]]:
    name = f"ldirectord-test-{uuid.uuid4().hex}"
    fake = FakeSystemd("\0" + name)
    yield "@" + name, fake
    fake.close()


def test_addresses() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@foo") == "\0foo"
    assert socket_address("@") is None
    assert socket_address("vsock:2:1234") is None
    assert socket_address("relative") is None


def test_ready_to_a_path_socket(path_socket: tuple[str, FakeSystemd]) -> None:
    address, fake = path_socket
    env = {"NOTIFY_SOCKET": address}
    notifier = Notifier.from_environment(env, pid=1)
    assert notifier.enabled and notifier.watchdog_usec is None
    assert notifier.ready("Checking 1 virtual\nservices")
    assert fake.receive() == {"READY": "1", "STATUS": "Checking 1 virtual services"}


def test_every_message_to_an_abstract_socket(abstract_socket: tuple[str, FakeSystemd]) -> None:
    address, fake = abstract_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": address}, pid=1)
    before = monotonic_usec()
    assert notifier.reloading()
    got = fake.receive()
    assert got["RELOADING"] == "1"
    assert before <= int(got["MONOTONIC_USEC"]) <= monotonic_usec()
    # MONOTONIC_USEC is CLOCK_MONOTONIC, the clock time.monotonic() reads on Linux.
    assert abs(int(got["MONOTONIC_USEC"]) / 1e6 - time.monotonic()) < 5
    assert notifier.ready()
    assert fake.receive() == {"READY": "1"}
    assert notifier.stopping("bye")
    assert fake.receive() == {"STOPPING": "1", "STATUS": "bye"}
    assert notifier.status("hello")
    assert fake.receive() == {"STATUS": "hello"}
    assert notifier.watchdog()
    assert fake.receive() == {"WATCHDOG": "1"}
    assert notifier.sent == 5


def test_environment_is_consumed() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "42", "A": "b"}
    notifier = Notifier.from_environment(env, pid=42)
    assert notifier.watchdog_usec == 4_000_000 and notifier.watchdog_seconds == 4.0
    assert env == {"A": "b"}, "children (fallbackcommand, execute=) must not inherit them"


def test_watchdog_applies_to_the_named_pid_only() -> None:
    assert watchdog_usec({"WATCHDOG_USEC": "3000000"}, 7) == 3_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "7"}, 7) == 3_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "8"}, 7) is None
    assert watchdog_usec({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "x"}, 7) is None
    assert watchdog_usec({"WATCHDOG_USEC": "0"}, 7) is None
    assert watchdog_usec({"WATCHDOG_USEC": "soon"}, 7) is None
    assert watchdog_usec({}, 7) is None
    # No socket, no watchdog: nobody would hear the pings.
    assert Notifier.from_environment({"WATCHDOG_USEC": "3000000"}, pid=7).watchdog_usec is None


def test_without_systemd_everything_is_a_no_op() -> None:
    notifier = Notifier.from_environment({}, pid=1)
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()
    assert notifier.last_error is None


def test_unreachable_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone")}, pid=1)
    assert not notifier.ready()
    assert notifier.last_error is not None and "gone" in notifier.last_error
    assert not notifier.watchdog()
    unsupported = Notifier.from_environment({"NOTIFY_SOCKET": "vsock:1:2"}, pid=1)
    assert not unsupported.enabled and unsupported.last_error is not None


# ------------------------------------------------------------ the rule for the watchdog


def _config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "w.cf"
    path.write_text(text)
    return load(str(path), check_files=False)


def test_watchdog_rule_limits(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "checkinterval=2\nnegotiatetimeout=30\nvirtual=127.0.0.1:80\n\treal=127.0.0.2:80 gate\n\n",
    )
    rule = WatchdogRule.for_config(cfg, watchdog=4.0)
    assert (rule.interval, rule.timeout) == (2.0, 30.0)
    assert rule.limit == 32.0  # C + T: a hanging backend's check completes at its timeout
    quick = _config(
        tmp_path,
        "checkinterval=20\ncheckcount=2\ncheckinterval=20\nvirtual=127.0.0.1:80\n"
        "\treal=127.0.0.2:80 gate\n\tchecktype=ping\n\tchecktimeout=3\n\tnegotiatetimeout=3\n\n",
    )
    assert WatchdogRule.for_config(quick, watchdog=4.0).limit == 60.0  # 3 x C
    assert WatchdogRule.for_config(quick, watchdog=90.0).limit == 90.0  # W
    assert WatchdogRule(1.0, 0.0, 1.0).limit == 3.0


def test_watchdog_rule_stalled() -> None:
    rule = WatchdogRule(interval=1.0, timeout=1.0, watchdog=1.0)  # limit 3 s
    assert not rule.stalled(None, since=100.0, now=102.0)
    assert rule.stalled(None, since=100.0, now=103.5)  # nothing completed since the start
    assert not rule.stalled(103.0, since=100.0, now=105.0)
    assert rule.stalled(103.0, since=100.0, now=106.5)
    assert not rule.stalled(50.0, since=100.0, now=102.0)  # rearmed by a reload at 100


# ------------------------------------------------------- the daemon's loop, in-process


class ListSink(Sink):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)


class ProgressDirector:
    """Reports `last_result_at`; `stall()` freezes it, `resume()` moves it on."""

    def __init__(self) -> None:
        self.frozen = False
        self.stop_delay = 0.0
        self.ready_calls = 0
        self.last: float | None = None

    async def start(self, config: Config) -> None:
        pass

    async def wait_ready(self) -> None:
        await asyncio.sleep(0.2)
        self.ready_calls += 1

    async def reload(self, config: Config) -> None:
        pass

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_delay)

    def status(self) -> dict[str, Any]:
        if not self.frozen:
            self.last = time.monotonic()
        return {"status": "running", "virtuals": [], "last_result_at": self.last}


def test_daemon_loop_notifies_and_starves_the_watchdog_when_checks_stall(
    tmp_path: Path, abstract_socket: tuple[str, FakeSystemd], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, fake = abstract_socket
    cfg_path = tmp_path / "t.cf"
    logfile = tmp_path / "ld.log"  # where the log goes after the reload
    cfg_path.write_text(
        f'checkinterval=1\nlogfile="{logfile}"\nvirtual=127.0.0.1:80\n\treal=127.0.0.2:80 gate\n\n'
    )
    config = load(str(cfg_path), check_files=False)
    sink = ListSink()
    director = ProgressDirector()
    # 1 s watchdog: pings every 0.5 s; the rule's limit is max(3, 1 + 30, 1) = 31 s,
    # too long for a test, so the check timeout is taken out of it.
    monkeypatch.setattr(WatchdogRule, "for_config", classmethod(lambda cls, c, w: cls(0.3, 0.0, w)))
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}, pid=os.getpid()
    )
    instance = Instance(str(cfg_path), "t.cf", "/bin/false", False, lambda p: config)
    daemon = Daemon(instance, config, Log(sink), director, None, notifier=notifier)
    monkeypatch.setattr(daemon, "_run_paths", lambda: RunPaths("t.cf", str(tmp_path)))

    async def scenario() -> None:
        main = asyncio.create_task(daemon._main())
        await asyncio.sleep(0.05)
        assert fake.pending() == [{"WATCHDOG": "1"}], "pings start at once; READY waits"
        await asyncio.sleep(0.4)
        seen = fake.pending()
        assert {"READY": "1", "STATUS": "Checking 1 virtual services, 1 real servers"} in seen
        assert director.ready_calls == 1
        daemon._on_signal(1)  # HUP
        await asyncio.sleep(0.3)  # the file is read and parsed in a thread
        seen = [m for m in fake.pending() if m != {"WATCHDOG": "1"}]  # a ping may come first
        assert seen[0]["RELOADING"] == "1" and "MONOTONIC_USEC" in seen[0]
        assert seen[1]["READY"] == "1"
        director.frozen = True
        await asyncio.sleep(1.6)  # limit max(0.9, 0.3, 1.0) = 1 s, then one more period
        seen = fake.pending()
        stalled = [m for m in seen if "STATUS" in m and "stalled" in m["STATUS"]]
        assert len(stalled) == 1, seen
        after = seen[seen.index(stalled[0]) + 1 :]
        assert {"WATCHDOG": "1"} not in after, "no ping once the checks stalled"
        assert re.search(
            r"Not answering the systemd watchdog: no check has completed for \d+ seconds "
            r"\(limit 1\)",
            logfile.read_text(),
        )
        director.frozen = False
        await asyncio.sleep(0.6)
        assert {"WATCHDOG": "1"} in fake.pending()
        assert "Answering the systemd watchdog again" in logfile.read_text()
        director.stop_delay = 1.2  # a slow cleanup
        director.frozen = True  # checks end at stop
        daemon._on_signal(15)  # TERM
        assert await main == 0
        seen = fake.pending()
        assert seen[0] == {"STOPPING": "1", "STATUS": "Stopping on signal TERM"}
        # systemd keeps the watchdog armed while a unit stops: the pings go on.
        assert seen.count({"WATCHDOG": "1"}) >= 2, seen

    asyncio.run(scenario())


def test_director_without_progress_key_keeps_the_watchdog_fed(
    tmp_path: Path, abstract_socket: tuple[str, FakeSystemd]
) -> None:
    """No `last_result_at` (IdleDirector): READY right after start, pings go on."""
    from ldirectord_py.daemon.director import IdleDirector

    address, fake = abstract_socket
    cfg_path = tmp_path / "t.cf"
    cfg_path.write_text("checkinterval=1\n")
    config = load(str(cfg_path), check_files=False)
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}, pid=os.getpid()
    )
    instance = Instance(str(cfg_path), "t.cf", "/bin/false", False, lambda p: config)
    daemon = Daemon(instance, config, Log(ListSink()), IdleDirector(), None, notifier=notifier)
    daemon._run_paths = lambda: RunPaths("t.cf", str(tmp_path))  # type: ignore[method-assign]

    async def scenario() -> None:
        main = asyncio.create_task(daemon._main())
        await asyncio.sleep(1.0)
        daemon._on_signal(15)
        await main

    asyncio.run(scenario())
    seen = fake.pending()
    assert any(m.get("READY") == "1" for m in seen)
    assert sum(1 for m in seen if m == {"WATCHDOG": "1"}) >= 5  # every 0.1 s for 1 s
    assert any(m.get("STOPPING") == "1" for m in seen)


class NothingChecked(ProgressDirector):
    def status(self) -> dict[str, Any]:
        return {"status": "running", "virtuals": [], "last_result_at": None}


def test_configuration_without_virtuals_never_stalls(
    tmp_path: Path, abstract_socket: tuple[str, FakeSystemd], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, fake = abstract_socket
    cfg_path = tmp_path / "t.cf"
    cfg_path.write_text("checkinterval=1\n")
    config = load(str(cfg_path), check_files=False)
    monkeypatch.setattr(
        WatchdogRule, "for_config", classmethod(lambda cls, c, w: cls(0.05, 0.0, w))
    )
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}, pid=os.getpid()
    )
    instance = Instance(str(cfg_path), "t.cf", "/bin/false", False, lambda p: config)
    daemon = Daemon(instance, config, Log(ListSink()), NothingChecked(), None, notifier=notifier)
    monkeypatch.setattr(daemon, "_run_paths", lambda: RunPaths("t.cf", str(tmp_path)))

    async def scenario() -> None:
        main = asyncio.create_task(daemon._main())
        await asyncio.sleep(0.8)  # limit 0.2 s, long passed
        fake.pending()
        await asyncio.sleep(0.5)
        assert {"WATCHDOG": "1"} in fake.pending()
        daemon._on_signal(15)
        await main

    asyncio.run(scenario())


class StalledWriterDirector(ProgressDirector):
    """Checks complete, but the supervisor reports the ip_vs writer stalled."""

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["writers"] = {"ipvs": {"crashes": 0, "stalled": True}}
        return out


def test_a_stalled_writer_starves_the_watchdog(
    tmp_path: Path, abstract_socket: tuple[str, FakeSystemd]
) -> None:
    address, fake = abstract_socket
    cfg_path = tmp_path / "t.cf"
    logfile = tmp_path / "ld.log"
    cfg_path.write_text(
        f'checkinterval=1\nlogfile="{logfile}"\nvirtual=127.0.0.1:80\n\treal=127.0.0.2:80 gate\n\n'
    )
    config = load(str(cfg_path), check_files=False)
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}, pid=os.getpid()
    )
    instance = Instance(str(cfg_path), "t.cf", "/bin/false", False, lambda p: config)
    daemon = Daemon(instance, config, Log(ListSink()), StalledWriterDirector(), None, notifier)
    daemon._run_paths = lambda: RunPaths("t.cf", str(tmp_path))  # type: ignore[method-assign]

    async def scenario() -> None:
        main = asyncio.create_task(daemon._main())
        await asyncio.sleep(1.2)
        seen = fake.pending()
        assert {"WATCHDOG": "1"} not in seen, seen
        assert any("writer without progress: ipvs" in m.get("STATUS", "") for m in seen), seen
        daemon._on_signal(15)
        assert await main == 0

    asyncio.run(scenario())
