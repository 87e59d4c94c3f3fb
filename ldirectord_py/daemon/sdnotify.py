"""systemd's notification protocol (sd_notify(3)), without a dependency.

Under a `Type=notify` unit systemd passes `NOTIFY_SOCKET`: a datagram Unix
socket, a file path or an abstract name written with a leading `@`. Each
notification is one datagram of newline-separated `KEY=VALUE` assignments. We
send:

* `READY=1` once the first check round has programmed the table (see
  `mainloop`), with a `STATUS=` line;
* `RELOADING=1` plus `MONOTONIC_USEC=` (CLOCK_MONOTONIC, microseconds: systemd
  253+ requires it for `Type=notify-reload`, older versions ignore it) when a
  reload begins, and `READY=1` when it is over, whatever its outcome (a broken
  file leaves the old configuration running: the daemon is ready either way);
* `STOPPING=1` when a terminating signal arrives;
* `WATCHDOG=1` while the health checks make progress (the rule is in
  `stall.WatchdogRule`).

`WATCHDOG_USEC` is the watchdog timeout; it applies to us only if
`WATCHDOG_PID` is unset or names this process (a daemonized grandchild is not
the process systemd watches). `Notifier.from_environment` removes the three
variables from the environment, as sd_notify's `unset_environment` does, so
that fallback commands, callbacks and `execute=` instances never talk to our
supervisor in our name.

Without `NOTIFY_SOCKET` every call is a no-op returning False. A failing send
is never fatal: the first failure is remembered in `last_error` and later ones
are dropped quietly. A send waits at most SEND_TIMEOUT for room in systemd's
queue (it reads promptly; the bound only keeps a wedged supervisor from
stopping the loop).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping

ENV_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"
SEND_TIMEOUT = 0.5


def socket_address(value: str) -> str | None:
    """The address to send to: a path, or an abstract name (`@name` → `\\0name`).

    Other forms (systemd 254's `vsock:`) are not supported: None."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd's MONOTONIC_USEC uses."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def watchdog_usec(environ: MutableMapping[str, str], pid: int) -> int | None:
    """The watchdog timeout that applies to process `pid`, or None (sd_watchdog_enabled)."""
    text = environ.get(ENV_WATCHDOG_USEC, "")
    if not text.isdigit() or int(text) <= 0:
        return None
    owner = environ.get(ENV_WATCHDOG_PID, "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(text)


def _clean(value: str) -> str:
    """A value on one line: notifications are newline-separated assignments."""
    return " ".join(value.split("\n"))


class Notifier:
    """Sends notifications to one socket (or nowhere)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self.last_error: str | None = None
        self.sent = 0

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, pid: int | None = None
    ) -> Notifier:
        """Read, then unset, NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID."""
        env: MutableMapping[str, str] = os.environ if environ is None else environ
        raw = env.get(ENV_SOCKET, "")
        address = socket_address(raw) if raw else None
        usec = watchdog_usec(env, os.getpid() if pid is None else pid)
        for key in (ENV_SOCKET, ENV_WATCHDOG_USEC, ENV_WATCHDOG_PID):
            env.pop(key, None)
        notifier = cls(address, usec if address else None)
        if raw and address is None:
            notifier.last_error = f"unsupported {ENV_SOCKET} address: {raw!r}"
        return notifier

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_seconds(self) -> float | None:
        """The watchdog timeout in seconds, if systemd watches us."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 1e6

    def notify(self, *assignments: str) -> bool:
        """Send `KEY=VALUE` lines as one datagram; True if it was sent."""
        if self.address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "surrogateescape")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto(payload, self.address)
        except OSError as err:
            if self.last_error is None:
                self.last_error = f"sd_notify to {self.address.lstrip(chr(0))}: {err}"
            return False
        self.sent += 1
        return True

    # -- the notifications we use ------------------------------------------------------

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")


def _status(text: str | None) -> tuple[str, ...]:
    return () if text is None else (f"STATUS={_clean(text)}",)
