"""Run the real `ldirectord` command the way users run it, but in a private sandbox.

Every CLI call goes through `unshare -m --propagation private` into a mount
namespace where the test's own directories are bind-mounted over `/run` (so
`/var/run/ldirectord.*.pid` is private), `/etc/ha.d` (config lookup) and
`/var/log` (the default log). Nothing here touches the machine's real pid files
or configs, and the binary under test is exactly the installed console script:
no test-only switch in the product. A daemon started this way keeps the
namespace alive, and later calls see the same directories because they bind the
same ones.

Every process started by a test carries a marker in its environment; the
sandbox kills whatever still carries it when the test ends.

Each sandbox also has a network namespace of its own (`ip netns add ldit-...`,
only `lo`, up), and every command runs in it: the daemon's checks of
127.0.0.11:8080, its metrics port and anything a test serves there see only
what the test put there, never another program on the machine (an
`http.server` on 127.0.0.11:8080, a real exporter on 9588). A test's own
sockets (a backend, a scrape) are made inside it with `Sandbox.in_netns`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import pytest

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "ldirectord_test_driver.py"

# Runs inside the new mount namespace: bind the sandbox dirs, cd, exec the command.
_NS_SCRIPT = """
set -e
mount --bind "$LDTEST_RUN" /run
if [ -n "$LDTEST_RUN_RO" ]; then mount -o remount,bind,ro /run; fi
mount --bind "$LDTEST_HA" /etc/ha.d
mount --bind "$LDTEST_VARLOG" /var/log
if [ -n "$LDTEST_DEVLOG" ]; then
    mount -t tmpfs -o mode=755 tmpfs /dev
    mknod -m 666 /dev/null c 1 3
    mknod -m 666 /dev/zero c 1 5
    mknod -m 666 /dev/urandom c 1 9
    : > /dev/log
    mount --bind "$LDTEST_DEVLOG" /dev/log
fi
cd "$LDTEST_CWD"
exec "$@"
"""

ENV_MARKER = "LDTEST_SANDBOX"


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is missing: install the Debian package `{package}` (make deps)")
    return path


def ldirectord_binary() -> Path:
    """The console script of the venv running the tests (make venv builds it)."""
    for candidate in (Path(sys.executable).parent / "ldirectord", REPO / ".venv/bin/ldirectord"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("the `ldirectord` console script is missing: run `make venv`")


@dataclass
class Result:
    rc: int
    out: str
    err: str


CONFIG_BODY = """\
virtual=127.0.0.100:8080
\treal=127.0.0.11:8080 gate
\tservice=http
\trequest="index.html"
\treceive="OK"
"""


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Poll quickly; fail with `what` if it does not become true in time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.marker = uuid.uuid4().hex
        self.run = root / "run"
        self.ha = root / "ha.d"
        self.varlog = root / "varlog"
        self.cwd = root / "work"
        for d in (self.run, self.ha, self.ha / "conf", self.varlog, self.cwd):
            d.mkdir(parents=True, exist_ok=True)
        self.binary = ldirectord_binary()
        self.log = root / "ld.log"
        self.devlog: Path | None = None
        self.extra_env: dict[str, str] = {}
        self._extra_pids: list[int] = []
        self.netns = f"ldit-{self.marker[:12]}"
        ip = _require("ip", "iproute2")
        subprocess.run([ip, "netns", "add", self.netns], check=True)
        subprocess.run([ip, "-n", self.netns, "link", "set", "lo", "up"], check=True)

    def in_netns(self, fn: Callable[[], T]) -> T:
        """Run `fn` in a short-lived thread that has joined this sandbox's network
        namespace (setns is per thread): sockets it creates live there for good."""
        result: list[T] = []
        errors: list[BaseException] = []

        def body() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(f"/run/netns/{self.netns}") as ns:
                    if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {self.netns}")
                result.append(fn())
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)

        thread = threading.Thread(target=body)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    # -- configs -------------------------------------------------------------------

    def config(
        self,
        name: str = "t.cf",
        *,
        globals_: str = "",
        log: Path | None = None,
        directory: Path | None = None,
    ) -> Path:
        """Write a valid config (checkinterval, logfile, extra globals, one virtual)."""
        path = (directory or self.root) / name
        logfile = log or self.log
        path.write_text(f'checkinterval=1\nlogfile="{logfile}"\n{globals_}{CONFIG_BODY}')
        return path

    def pidfile(self, cfgname: str = "t.cf") -> Path:
        return self.run / f"ldirectord.{cfgname}.pid"

    def read_pid(self, cfgname: str = "t.cf") -> int:
        return int(self.pidfile(cfgname).read_text())

    def log_text(self, path: Path | None = None) -> str:
        target = path or self.log
        return target.read_text() if target.exists() else ""

    # -- running things in the namespace ------------------------------------------------

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                ENV_MARKER: self.marker,
                "LDTEST_RUN": str(self.run),
                "LDTEST_HA": str(self.ha),
                "LDTEST_VARLOG": str(self.varlog),
                "LDTEST_CWD": str(self.cwd),
                "LDTEST_DEVLOG": str(self.devlog or ""),
            }
        )
        env.update(self.extra_env)
        return env

    def ns_argv(self, *argv: str | Path) -> list[str]:
        unshare = _require("unshare", "util-linux")
        nsenter = _require("nsenter", "util-linux")
        return [
            nsenter,
            f"--net=/run/netns/{self.netns}",
            unshare,
            "-m",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            _NS_SCRIPT,
            "sh",
            *map(str, argv),
        ]

    def call(self, *argv: str | Path, timeout: float = 20.0) -> Result:
        """Run any command in the namespace and wait for it."""
        proc = subprocess.run(
            self.ns_argv(*argv),
            env=self.env(),
            capture_output=True,
            errors="surrogateescape",
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ld(self, *args: str | Path, timeout: float = 20.0) -> Result:
        """`ldirectord ARGS...` in the namespace."""
        return self.call(self.binary, *args, timeout=timeout)

    def driver(self, *args: str | Path, timeout: float = 20.0) -> Result:
        """`ldirectord ARGS...` with a scripted Director (see ldirectord_test_driver.py)."""
        return self.call(sys.executable, DRIVER, *args, timeout=timeout)

    def popen(self, *argv: str | Path) -> subprocess.Popen[str]:
        """Start a foreground command in the namespace (caller waits/kills it)."""
        proc = subprocess.Popen(
            self.ns_argv(*argv),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._extra_pids.append(proc.pid)
        return proc

    def start(self, config: Path) -> int:
        """`ldirectord CONFIG start`, which must succeed and leave a pid file."""
        res = self.ld(config, "start")
        assert (res.rc, res.out, res.err) == (0, "", ""), res
        pid = self.read_pid(config.name)
        assert alive(pid)
        return pid

    def foreign_process(self) -> int:
        """A live process that is not ldirectord (`sleep`)."""
        proc = subprocess.Popen(["sleep", "60"], env=self.env())
        self._extra_pids.append(proc.pid)
        return proc.pid

    # -- cleanup -------------------------------------------------------------------

    def marked_pids(self) -> list[int]:
        needle = f"{ENV_MARKER}={self.marker}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
        return found

    def cleanup(self) -> None:
        for pid in {*self.marked_pids(), *self._extra_pids}:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in self._extra_pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    if os.geteuid() != 0:
        pytest.fail("the integration tests need root (mount namespaces, signals to daemons)")
    if not Path("/etc/ha.d").is_dir():
        pytest.fail("/etc/ha.d is missing: install the Debian package `resource-agents`")
    box = Sandbox(tmp_path)
    try:
        yield box
    finally:
        box.cleanup()


def read_until(stream: IO[str], pattern: str, timeout: float = 5.0) -> tuple[re.Match[str], str]:
    """Read a child's pipe until `pattern` matches a line; returns the match and all text."""
    fd = stream.fileno()
    os.set_blocking(fd, False)
    text = ""
    regex = re.compile(pattern, re.M)
    deadline = time.monotonic() + timeout
    while True:
        match = regex.search(text)
        if match:
            return match, text
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"timed out waiting for {pattern!r}; got {text!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"stream closed before {pattern!r}; got {text!r}")
            text += chunk.decode()


def dead_pid() -> int:
    """The pid of a process that has exited (reuse within a test is vanishingly rare)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
