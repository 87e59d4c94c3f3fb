"""BFD session state from the BFD daemon beside gobgpd, for `ldirectordctl routes`
and `status`.

GoBGP has no BFD, so a site runs BIRD's `protocol bfd` or FRR's bfdd next to it
(examples/lb-bfd-*.conf, docs/anycast.md "BFD"). Only the command line reads
it, through the daemon's own client (`birdc`, `vtysh`), bounded in time: the
daemon never depends on BFD, and a BFD daemon that is absent or does not answer
only costs a line in the output.

Sources: `bird:PATH` (BIRD's control socket), `frr` or `frr:DIR` (vtysh, with
FRR's vty directory), `auto` (BIRD at /run/bird/bfd.ctl and /run/bird/bird.ctl,
FRR when bfdd's vty socket exists; silent when none has BFD) and `none`.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

READ_TIMEOUT = 2.0
"""A status command must answer even when the BFD daemon hangs."""

BIRD_SOCKETS = ("/run/bird/bfd.ctl", "/run/bird/bird.ctl")
FRR_VTY_DIR = "/var/run/frr"


class BfdDaemon(enum.Enum):
    BIRD = "bird"
    FRR = "frr"


class BfdState(enum.Enum):
    UP = "up"
    DOWN = "down"
    INIT = "init"
    ADMIN_DOWN = "admin-down"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, text: str) -> BfdState:
        key = text.strip().lower().replace("_", "-")
        key = {"admindown": "admin-down"}.get(key, key)
        return next((s for s in cls if s.value == key), cls.UNKNOWN)


class BfdSourceError(ValueError):
    """A --bfd value that names no BFD source."""


@dataclass(frozen=True)
class BfdSource:
    daemon: BfdDaemon
    path: str | None  # BIRD's control socket; FRR's vty directory (None: FRR's default)

    def __str__(self) -> str:
        return f"{self.daemon.value}:{self.path}" if self.path else self.daemon.value


@dataclass(frozen=True)
class BfdSession:
    peer: str
    local: str
    interface: str
    state: BfdState
    interval_ms: int | None  # how often we send
    detect_ms: int | None  # silence after which the session goes down

    def to_json(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "local": self.local,
            "interface": self.interface,
            "state": self.state.value,
            "interval_ms": self.interval_ms,
            "detect_ms": self.detect_ms,
        }


@dataclass(frozen=True)
class BfdReading:
    source: BfdSource
    sessions: tuple[BfdSession, ...]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "sessions": [s.to_json() for s in self.sessions],
            "error": self.error,
        }


def parse_source(text: str) -> list[BfdSource] | None:
    """A --bfd value: the sources it names, or None for `auto`."""
    value = text.strip()
    if value == "auto":
        return None
    if value == "none":
        return []
    kind, _, path = value.partition(":")
    if kind == "bird":
        if not path.startswith("/"):
            raise BfdSourceError(
                f"--bfd {value!r}: bird needs the absolute path of BIRD's control socket "
                "(bird:/run/bird/bfd.ctl)"
            )
        return [BfdSource(BfdDaemon.BIRD, path)]
    if kind == "frr":
        if path and not path.startswith("/"):
            raise BfdSourceError(
                f"--bfd {value!r}: frr takes the absolute path of FRR's vty directory "
                "(frr:/var/run/frr), or nothing"
            )
        return [BfdSource(BfdDaemon.FRR, path or None)]
    raise BfdSourceError(
        f"--bfd {value!r}: expected auto, none, bird:/path/to/bird.ctl, frr or frr:/vty/dir"
    )


def auto_sources() -> list[BfdSource]:
    """The BFD daemons installed the usual way on this machine."""
    found = [BfdSource(BfdDaemon.BIRD, p) for p in BIRD_SOCKETS if os.path.exists(p)]
    if os.path.exists(os.path.join(FRR_VTY_DIR, "bfdd.vty")):
        found.append(BfdSource(BfdDaemon.FRR, None))
    return found


def read_all(option: str) -> list[BfdReading]:
    """Every source the --bfd value names; with `auto`, those that have BFD sessions."""
    sources = parse_source(option)
    if sources is not None:
        return [read_sessions(s) for s in sources]
    readings = [read_sessions(s) for s in auto_sources()]
    return [r for r in readings if r.error is None]


def read_sessions(source: BfdSource) -> BfdReading:
    """The source's BFD sessions, or the reason they could not be read."""
    if source.daemon is BfdDaemon.BIRD:
        argv = ["birdc", "-s", source.path or BIRD_SOCKETS[0], "show", "bfd", "sessions"]
    else:
        argv = ["vtysh"] + (["--vty_socket", source.path] if source.path else [])
        argv += ["-c", "show bfd peers json"]
    if shutil.which(argv[0]) is None:
        return BfdReading(source, (), f"{argv[0]} not found")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=READ_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return BfdReading(source, (), f"no answer within {READ_TIMEOUT:g} s")
    except OSError as exc:
        return BfdReading(source, (), f"{argv[0]}: {exc.strerror or exc}")
    out = done.stdout
    if done.returncode != 0:
        return BfdReading(source, (), _first_line(done.stderr or out) or f"exit {done.returncode}")
    try:
        if source.daemon is BfdDaemon.BIRD:
            return BfdReading(source, parse_bird_sessions(out))
        return BfdReading(source, parse_frr_peers(out))
    except ValueError as exc:
        return BfdReading(source, (), str(exc))


def parse_bird_sessions(text: str) -> tuple[BfdSession, ...]:
    """`birdc show bfd sessions`: a table per BFD protocol.

    Raises ValueError when BIRD answers without a BFD table (no `protocol bfd`).
    """
    sessions: list[BfdSession] = []
    tables = 0
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("IP address"):
            tables += 1
            continue
        if tables == 0 or len(parts) < 5 or line.startswith(("BIRD ", "Access ")):
            continue
        if parts[-1].endswith(":"):
            continue  # the next protocol's name
        sessions.append(
            BfdSession(
                peer=parts[0],
                local="",
                interface=parts[1],
                state=BfdState.parse(parts[2]),
                interval_ms=_seconds_to_ms(parts[-2]),
                detect_ms=_seconds_to_ms(parts[-1]),
            )
        )
    if tables == 0:
        raise ValueError(_first_line(text) or "BIRD has no BFD protocol")
    return tuple(sessions)


def parse_frr_peers(text: str) -> tuple[BfdSession, ...]:
    """vtysh `show bfd peers json`."""
    try:
        peers = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"vtysh answered something that is not JSON: {exc}") from None
    if not isinstance(peers, list):
        raise ValueError("vtysh answered JSON that is not a list of BFD peers")
    sessions = []
    for peer in peers:
        if not isinstance(peer, dict):
            continue
        rx = max(_int(peer.get("receive-interval")), _int(peer.get("remote-transmit-interval")))
        multiplier = _int(peer.get("detect-multiplier"))
        sessions.append(
            BfdSession(
                peer=str(peer.get("peer", "")),
                local=str(peer.get("local", "")),
                interface=str(peer.get("interface", "")),
                state=BfdState.parse(str(peer.get("status", ""))),
                interval_ms=_int(peer.get("transmit-interval")) or None,
                detect_ms=rx * multiplier or None,
            )
        )
    return tuple(sessions)


def render_lines(readings: list[BfdReading]) -> list[str]:
    """Lines for the text output: one per session, or one saying why none were read."""
    lines: list[str] = []
    for reading in readings:
        if reading.error is not None:
            lines.append(f"  bfd ({reading.source}): not readable: {reading.error}")
            continue
        if not reading.sessions:
            lines.append(f"  bfd ({reading.source}): no session")
        for s in reading.sessions:
            where = f" on {s.interface}" if s.interface else ""
            timing = ""
            if s.interval_ms is not None and s.detect_ms is not None:
                timing = f", every {s.interval_ms} ms, down after {s.detect_ms} ms of silence"
            lines.append(f"  bfd peer {s.peer}{where} ({reading.source}): {s.state.value}{timing}")
    return lines


def _seconds_to_ms(text: str) -> int | None:
    try:
        return round(float(text) * 1000)
    except ValueError:
        return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("BIRD ")]
    return lines[0] if lines else ""
