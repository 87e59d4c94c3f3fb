"""The lab's client: a steady stream of HTTP requests to the anycast VIP.

Every ``--interval`` seconds it opens a *new* TCP connection (so each request is
routed afresh), sends ``GET /``, and reads the answer, ``site=A backend=a1``. A
request that has no complete answer within ``--timeout`` seconds, or whose
connection is refused or reset, fails. The schedule does not wait for answers:
requests overlap, so a black hole shows as many failed requests, not as a pause.

One line per finished request goes to ``--out`` (tab-separated)::

    start  end  ok|fail  site  backend  error

with wall-clock times (time.time(), comparable with the daemon's and the router's
timestamps: all namespaces share one clock). Runs until SIGTERM or SIGINT, then
finishes the requests in flight. Standard library only: it runs in the emulated
guest, where every import costs.
"""

from __future__ import annotations

import argparse
import errno
import selectors
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import TextIO

MAX_IN_FLIGHT = 200
REQUEST = b"GET / HTTP/1.0\r\nHost: anycast-lab\r\nConnection: close\r\n\r\n"


@dataclass
class Request:
    sock: socket.socket
    start: float
    deadline: float
    sent: bool = False
    answer: bytearray = field(default_factory=bytearray)


def parse_answer(answer: bytes) -> tuple[str, str] | None:
    """(site, backend) from an HTTP answer whose body says ``site=A backend=a1``."""
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None
    words = dict(w.split("=", 1) for w in body.decode("ascii", "replace").split() if "=" in w)
    if "site" not in words or "backend" not in words:
        return None
    return words["site"], words["backend"]


class Client:
    def __init__(self, target: tuple[str, int], interval: float, timeout: float, out: TextIO):
        self.target = target
        self.interval = interval
        self.timeout = timeout
        self.out = out
        self.selector = selectors.DefaultSelector()
        self.in_flight: dict[int, Request] = {}
        self.stopping = False

    def record(
        self, req: Request, ok: bool, site: str = "-", backend: str = "-", error: str = ""
    ) -> None:
        result = "ok" if ok else "fail"
        self.out.write(
            f"{req.start:.6f}\t{time.time():.6f}\t{result}\t{site}\t{backend}\t{error}\n"
        )

    def finish(
        self, req: Request, ok: bool, site: str = "-", backend: str = "-", error: str = ""
    ) -> None:
        fd = req.sock.fileno()
        self.selector.unregister(req.sock)
        req.sock.close()
        del self.in_flight[fd]
        self.record(req, ok, site, backend, error)

    def open(self) -> None:
        now = time.time()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        req = Request(sock, now, now + self.timeout)
        code = sock.connect_ex(self.target)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.record(req, False, error=errno.errorcode.get(code, str(code)))
            return
        self.in_flight[sock.fileno()] = req
        self.selector.register(sock, selectors.EVENT_WRITE, req)

    def on_ready(self, req: Request, events: int) -> None:
        if not req.sent:
            code = req.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.finish(req, False, error=errno.errorcode.get(code, str(code)))
                return
            try:
                req.sock.send(REQUEST)
            except OSError as exc:
                self.finish(req, False, error=errno.errorcode.get(exc.errno or 0, "send"))
                return
            req.sent = True
            self.selector.modify(req.sock, selectors.EVENT_READ, req)
            return
        try:
            chunk = req.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self.finish(req, False, error=errno.errorcode.get(exc.errno or 0, "recv"))
            return
        if chunk:
            req.answer += chunk
            return
        served = parse_answer(bytes(req.answer))
        if served is None:
            self.finish(req, False, error="bad-answer")
        else:
            self.finish(req, True, *served)

    def expire(self, now: float) -> None:
        for req in [r for r in self.in_flight.values() if r.deadline <= now]:
            self.finish(req, False, error="timeout")

    def run(self) -> None:
        next_start = time.time()
        last_flush = next_start
        while not self.stopping or self.in_flight:
            now = time.time()
            if not self.stopping and now >= next_start:
                if len(self.in_flight) < MAX_IN_FLIGHT:
                    self.open()
                # Keep the schedule, but never try to catch up a burst after a stall.
                next_start = max(next_start + self.interval, now)
            wait = max(0.0, min(next_start - time.time(), 0.05)) if not self.stopping else 0.05
            for key, events in self.selector.select(wait):
                self.on_ready(key.data, events)
            self.expire(time.time())
            if time.time() - last_flush > 0.1:
                self.out.flush()
                last_flush = time.time()
        self.out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="ADDRESS:PORT")
    parser.add_argument("--interval", type=float, default=0.03)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--duration", type=float, default=0.0, help="seconds (0: until a signal)")
    parser.add_argument(
        "--start-on-sigusr1",
        action="store_true",
        help="create --out, then wait for SIGUSR1 before the first request (the lab starts"
        " the client early, as Python is slow to start, but lets it run only once ready)",
    )
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    if args.start_on_sigusr1:
        # Blocked before --out exists: the lab signals once it sees the file.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    with open(args.out, "a", encoding="ascii") as out:
        client = Client((host, int(port)), args.interval, args.timeout, out)

        def stop(signum: int, frame: object) -> None:
            client.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if args.start_on_sigusr1:
            while not client.stopping:
                if signal.sigtimedwait({signal.SIGUSR1}, 0.2) is not None:
                    break
        if args.duration > 0:
            signal.signal(signal.SIGALRM, stop)
            signal.setitimer(signal.ITIMER_REAL, args.duration)
        client.run()


if __name__ == "__main__":
    main()
