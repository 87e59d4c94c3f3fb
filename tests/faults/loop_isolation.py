"""Drive the daemon through one load fault and measure what its healthy reals saw.

Used by tests/faults/test_isolation_loop_*.py (small sizes, loose bounds) and by
bench/loop_isolation.py (10,000 virtuals / 20,000 reals, the precise figures).

Everything runs in a network namespace of its own (`run_scenario` creates it and
re-executes this file inside, in a private mount namespace with its own /run):
a listener process accepts every connect check on 127.0.0.0/8 and records when
each real's check arrived; the daemon is the installed `ldirectord` console
script, started in the foreground (`supervised=yes`) as a supervisor starts it.
The fault is applied after every real has been checked and a baseline window has
passed. A check's delay is how much later than `checkinterval` after the
previous one it arrived; "worst delay" is the largest over every real, in the
baseline window and in the fault window (the fault plus one interval, when the
checks it held up arrive). A healthy real going DOWN shows as a "Deleted real
server" (or "Quiescent real server") line in the daemon's log.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import dataclasses
import itertools
import json
import os
import pwd
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PORT = 18181
METRICS_PORT = 19191
SLOW_NAMESERVER = "127.0.0.53"
FAULTS = (
    "none",
    "reload",
    "reload-change",
    "reload-then-change",
    "status",
    "idle-clients",
    "slow-resolver",
    "metrics-flood",
    "bad-requests",
)


@dataclass
class Scenario:
    fault: str
    virtuals: int = 1000
    reals_per_virtual: int = 2
    interval: int = 5
    baseline: float = 6.0
    fault_seconds: float = 10.0
    reloads: int = 1
    status_requests: int = 5
    idle_clients: int = 1000
    flood_connections: int = 2000
    binary: str = ""
    nice: int = 0
    """Autogroup nice of the daemon and the listener (each a session of its own):
    -10 keeps other users of a shared machine from starving them."""
    probe: bool = False
    """Opt-in, for investigations (bench/loop_isolation.py --probe): each daemon
    thread's CPU time and context switches per 100 ms around the fault, read from
    /proc (`Outcome.threads`), and the late checks per 100 ms (`Outcome.late_at_tenths`)."""
    profiler: str = ""
    """Opt-in: a py-spy binary; `py-spy record PROFILE_ARGS` attached to the
    daemon from half a second before the fault, for profile_seconds after its
    start, written to `profile_out`."""
    profile_args: str = "--gil --threads --nonblocking --rate 1000 --format raw"
    profile_seconds: float = 2.0
    profile_out: str = ""


@dataclass
class Outcome:
    scenario: dict[str, Any]
    baseline_worst_delay: float = 0.0
    baseline_p99_delay: float = 0.0
    fault_worst_delay: float = 0.0
    fault_p99_delay: float = 0.0
    fault_window: tuple[float, float] = (0.0, 0.0)
    checks_in_fault_window: int = 0
    reals_seen: int = 0
    downs: list[str] = field(default_factory=list)
    rss_start_kib: int = 0
    rss_peak_kib: int = 0
    threads_peak: int = 0
    fds_peak: int = 0
    replies: dict[str, str] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    late_at: dict[str, int] = field(default_factory=dict)
    """Checks more than 100 ms late, by the second (from the fault's start) they
    arrived in: where in time the delays were."""
    log_tail: list[str] = field(default_factory=list)
    late_at_tenths: dict[str, int] = field(default_factory=dict)
    """With `probe`: checks more than 100 ms late by the tenth of a second they
    arrived in, from one second before the fault (key "-10") on."""
    threads: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """With `probe`: per daemon thread ("main" is the loop's), per tenth of a
    second from one second before the fault: "cpu_ms" on a CPU, "voluntary"
    context switches (a thread waiting for the interpreter lock sleeps on a
    futex: one voluntary switch per wait); and "process": its peak "rss_mb"."""


# ------------------------------------------------------------------ outside


def run_scenario(scenario: Scenario, workdir: Path, timeout: float = 600.0) -> Outcome:
    """Run one scenario in a fresh network namespace; return what it measured."""
    if os.geteuid() != 0:
        raise RuntimeError("needs root (network and mount namespaces)")
    for tool in ("ip", "unshare", "mount"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"`{tool}` is missing: install iproute2 / util-linux")
    netns = f"w11b-iso-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        spec = workdir / "scenario.json"
        spec.write_text(json.dumps(dataclasses.asdict(scenario)))
        result = workdir / "outcome.json"
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                netns,
                "unshare",
                "-m",
                "--propagation",
                "private",
                sys.executable,
                __file__,
                "--inside",
                str(spec),
                str(workdir),
                str(result),
            ],
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        if not result.exists():
            raise RuntimeError(f"the scenario did not finish: rc={proc.returncode}\n{proc.stderr}")
        data = json.loads(result.read_text())
        data["fault_window"] = tuple(data["fault_window"])
        outcome = Outcome(**data)
        if proc.returncode != 0:
            outcome.notes.append(
                f"the scenario failed (rc={proc.returncode}): {proc.stderr[-3000:]}"
            )
        return outcome
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


# ------------------------------------------------------------------ inside: set-up


def real_address(i: int) -> str:
    return f"127.{20 + i // 62500}.{(i // 250) % 250 + 1}.{i % 250 + 1}"


def write_config(scenario: Scenario, path: Path, log: Path, extra: str = "") -> None:
    lines = [
        f"checkinterval={scenario.interval}",
        "checktimeout=2",
        "failurecount=1",
        "quiescent=no",
        "supervised=yes",
        f'logfile="{log}"',
    ]
    if scenario.fault == "metrics-flood":
        lines.append(f"metricsaddress=127.0.0.1:{METRICS_PORT}")
    n = 0
    for v in range(scenario.virtuals):
        lines.append(f"virtual=10.{v // 65536}.{(v // 256) % 256}.{v % 256}:80")
        for _ in range(scenario.reals_per_virtual):
            lines.append(f"\treal={real_address(n)}:{PORT} masq")
            n += 1
        lines.append("\tchecktype=connect")
    path.write_text("\n".join(lines) + "\n" + extra)


def listener(out: Path) -> None:
    """Accept every connect check; record (monotonic ns, address) of each."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", PORT))
    sock.listen(65535)
    sock.setblocking(False)
    poll = select.epoll()
    poll.register(sock.fileno(), select.EPOLLIN)
    times = array.array("q")
    addrs = array.array("I")
    flushed = time.monotonic()
    with open(out, "ab") as fh:
        while True:
            for _ in poll.poll(0.1):
                while True:
                    try:
                        conn, _peer = sock.accept()
                    except BlockingIOError:
                        break
                    now = time.monotonic_ns()
                    local = conn.getsockname()[0]
                    conn.close()
                    times.append(now)
                    addrs.append(int.from_bytes(socket.inet_aton(local), "big"))
            if time.monotonic() - flushed > 0.2 and times:
                record = array.array("q", [len(times)])
                fh.write(record.tobytes() + times.tobytes() + addrs.tobytes())
                fh.flush()
                times = array.array("q")
                addrs = array.array("I")
                flushed = time.monotonic()


def read_arrivals(path: Path) -> dict[int, list[float]]:
    data = path.read_bytes() if path.exists() else b""
    out: dict[int, list[float]] = {}
    pos = 0
    while pos + 8 <= len(data):
        n = array.array("q", data[pos : pos + 8])[0]
        if pos + 8 + 12 * n > len(data):
            break  # the listener is writing this record right now
        times = array.array("q", data[pos + 8 : pos + 8 + 8 * n])
        addrs = array.array("I", data[pos + 8 + 8 * n : pos + 8 + 12 * n])
        pos += 8 + 12 * n
        for t, a in zip(times, addrs, strict=True):
            out.setdefault(a, []).append(t / 1e9)
    return out


def delays(
    arrivals: dict[int, list[float]], interval: float, start: float, end: float
) -> list[float]:
    """The lateness of every check arriving in [start, end], and of every check
    still overdue at `end` (a real not checked at all meanwhile counts too), sorted."""
    out = []
    for times in arrivals.values():
        times.sort()
        last = None
        for before, after in itertools.pairwise(times):
            if start <= after <= end:
                out.append(after - before - interval)
        for t in times:
            if t <= end:
                last = t
        if last is not None and end - last - interval > 0:
            out.append(end - last - interval)
    return sorted(out)


def late_seconds(
    arrivals: dict[int, list[float]], interval: float, start: float, end: float, zero: float
) -> dict[str, int]:
    """Checks over 100 ms late by the second they arrived in (from zero)."""
    return _late_by(arrivals, interval, start, end, zero, per_second=1)


def late_tenths(
    arrivals: dict[int, list[float]], interval: float, start: float, end: float, zero: float
) -> dict[str, int]:
    """Checks over 100 ms late by the tenth of a second they arrived in (from zero)."""
    return _late_by(arrivals, interval, start, end, zero, per_second=10)


def _late_by(
    arrivals: dict[int, list[float]],
    interval: float,
    start: float,
    end: float,
    zero: float,
    per_second: int,
) -> dict[str, int]:
    out: dict[str, int] = {}
    floor = 1000 * per_second  # int() rounds towards zero: shift, so that -0.5 s is -1
    for times in arrivals.values():
        for before, after in itertools.pairwise(times):
            if start <= after <= end and after - before - interval > 0.1:
                key = str(int((after - zero) * per_second + floor) - floor)
                out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def p99(values: list[float]) -> float:
    return values[int(len(values) * 0.99)] if values else 0.0


def own_autogroup(pid: int, nice: int) -> None:
    """The autogroup nice of a session leader (plain nice only ranks processes
    inside one session when the kernel groups by session)."""
    if nice:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
            os.setpriority(os.PRIO_PROCESS, pid, nice)


class Sampler:
    """RSS, threads and fds of the daemon, every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_peak = 0
        self.threads_peak = 0
        self.fds_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> tuple[int, int, int]:
        rss = threads = 0
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0, 0, 0
        return rss, threads, fds

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, threads, fds = self.sample()
            self.rss_peak = max(self.rss_peak, rss)
            self.threads_peak = max(self.threads_peak, threads)
            self.fds_peak = max(self.fds_peak, fds)
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class ThreadProbe:
    """Each thread's CPU time and context switches, every 20 ms, from
    /proc/PID/task/TID/sched (nanosecond CPU time; stat's ticks are 10 ms)."""

    PERIOD = 0.02

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int, float, int]] = []
        """(monotonic time, tid, CPU ms so far, voluntary switches so far)"""
        self.rss: list[tuple[float, int]] = []
        """(monotonic time, VmRSS KiB)"""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tasks = Path(f"/proc/{self.pid}/task")
        while not self._stop.is_set():
            now = time.monotonic()
            with contextlib.suppress(OSError, ValueError, IndexError):
                status = Path(f"/proc/{self.pid}/status").read_text()
                self.rss.append((now, int(status.split("VmRSS:")[1].split()[0])))
            with contextlib.suppress(OSError):
                for task in tasks.iterdir():
                    with contextlib.suppress(OSError, ValueError):
                        fields = dict(
                            (k.strip(), v.strip())
                            for k, _, v in (
                                line.partition(":")
                                for line in (task / "sched").read_text().splitlines()
                            )
                        )
                        self.samples.append(
                            (
                                now,
                                int(task.name),
                                float(fields["se.sum_exec_runtime"]),
                                int(fields["nr_voluntary_switches"]),
                            )
                        )
            time.sleep(self.PERIOD)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def per_tenth(self, zero: float, end: float) -> dict[str, dict[str, list[float]]]:
        """Per thread, CPU ms and voluntary switches in each 0.1 s from zero - 1 s."""
        first = zero - 1.0
        slots = int((end - first) * 10) + 1
        last: dict[int, tuple[float, int]] = {}
        out: dict[str, dict[str, list[float]]] = {}
        for t, tid, cpu, vol in self.samples:
            if tid in last and first <= t < end:
                name = "main" if tid == self.pid else f"thread {tid}"
                row = out.setdefault(name, {"cpu_ms": [0.0] * slots, "voluntary": [0.0] * slots})
                slot = int((t - first) * 10)
                row["cpu_ms"][slot] = round(row["cpu_ms"][slot] + cpu - last[tid][0], 1)
                row["voluntary"][slot] += vol - last[tid][1]
            last[tid] = (cpu, vol)
        rss = [0.0] * slots
        for t, kib in self.rss:
            if first <= t < end:
                slot = int((t - first) * 10)
                rss[slot] = max(rss[slot], round(kib / 1024, 1))
        out["process"] = {"rss_mb": rss}
        return out


def exchange(path: str, request: bytes, timeout: float = 60.0, shut: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        if request:
            sock.sendall(request)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(1 << 20):
                chunks.append(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------ inside: faults


def start_profiler(s: Scenario, pid: int) -> subprocess.Popen[bytes]:
    """py-spy (`s.profiler`) attached to the daemon with `s.profile_args`, from
    half a second before the fault for `s.profile_seconds` after its start."""
    return subprocess.Popen(
        [
            s.profiler,
            "record",
            *s.profile_args.split(),
            "--duration",
            str(max(1, round(0.5 + s.profile_seconds))),
            "--pid",
            str(pid),
            "--output",
            s.profile_out,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fault_reload(
    s: Scenario, cfg: Path, sock: str, out: Outcome, change: bool = False, first_same: bool = False
) -> None:
    """Reload `s.reloads` times: the same configuration (a comment appended), or
    with `change` one more virtual each time (new checks, a new desired table);
    with `first_same` too, the first reload is of the same configuration."""
    total = s.virtuals * s.reals_per_virtual
    for i in range(s.reloads):
        with open(cfg, "a") as fh:
            if change and not (first_same and i == 0):
                fh.write(f"virtual=10.254.0.{i + 1}:80\n")
                for r in range(s.reals_per_virtual):
                    address = real_address(total + i * s.reals_per_virtual + r)
                    fh.write(f"\treal={address}:{PORT} masq\n")
                fh.write("\tchecktype=connect\n")
            else:
                fh.write(f"# reload {i}\n")
        started = time.monotonic()
        reply = exchange(sock, b'{"command": "reload", "args": {}}\n')
        out.durations.append(round(time.monotonic() - started, 3))
        out.replies[f"reload {i}"] = reply.decode(errors="replace")[:300]


def fault_status(s: Scenario, sock: str, out: Outcome) -> None:
    for i in range(s.status_requests):
        started = time.monotonic()
        reply = exchange(sock, b"")
        out.durations.append(round(time.monotonic() - started, 3))
        doc = json.loads(reply)
        out.replies[f"status {i}"] = f"{len(reply)} bytes, {len(doc['virtuals'])} virtuals"


def fault_idle_clients(s: Scenario, sock: str, out: Outcome) -> None:
    """Hold `idle_clients` connections that send nothing, reconnecting any the
    daemon closes, for the fault window."""
    clients: list[socket.socket] = []
    deadline = time.monotonic() + s.fault_seconds
    connected = refused = 0
    while time.monotonic() < deadline:
        alive = []
        for c in clients:
            try:
                data = c.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                alive.append(c)
                continue
            except OSError:
                data = b""
            if data:
                out.replies.setdefault("idle client got", data[:200].decode(errors="replace"))
            c.close()
        clients = alive
        while len(clients) < s.idle_clients and time.monotonic() < deadline:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(sock)
            except OSError:  # the listen backlog is full
                c.close()
                refused += 1
                break
            clients.append(c)
            connected += 1
        time.sleep(0.05)
    out.notes.append(
        f"idle clients: {connected} connections made, {refused} refused (backlog full), "
        f"{len(clients)} held at the end"
    )
    for c in clients:
        c.close()


def fault_slow_resolver(s: Scenario, cfg: Path, sock: str, out: Outcome) -> None:
    """A reload naming hosts that only an unresponsive resolver could resolve."""
    good = cfg.read_text()
    names = "".join(
        f"virtual=10.255.0.{i + 1}:80\n\treal=unanswered-{i}.example.org:{PORT} masq\n"
        for i in range(3)
    )
    cfg.write_text(good + names)
    started = time.monotonic()
    reply = exchange(sock, b'{"command": "reload", "args": {}}\n', timeout=120)
    out.durations.append(round(time.monotonic() - started, 3))
    out.replies["reload"] = reply.decode(errors="replace")[:500]
    cfg.write_text(good)
    # the drop-in start with such a name: refused as the original refuses it
    bad = cfg.with_name("unresolved.cf")
    bad.write_text(
        f"checkinterval=1\nvirtual=10.255.1.1:80\n\treal=unanswered-9.example.org:{PORT} masq\n"
    )
    started = time.monotonic()
    proc = subprocess.run(
        [s.binary, str(bad), "start"], capture_output=True, text=True, timeout=120
    )
    out.durations.append(round(time.monotonic() - started, 3))
    out.replies["start"] = f"rc={proc.returncode} stderr={proc.stderr.strip()[-300:]}"


def fault_metrics_flood(s: Scenario, out: Outcome) -> None:
    """`nobody` opens flood_connections connections to the metrics port and holds them."""
    script = (
        "import os, resource, socket, time, sys\n"
        "n, port, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])\n"
        "conns = []\n"
        "for _ in range(n):\n"
        "    c = socket.socket(); c.setblocking(False)\n"
        "    try: c.connect(('127.0.0.1', port))\n"
        "    except BlockingIOError: pass\n"
        "    except OSError: c.close(); continue\n"
        "    conns.append(c)\n"
        "print(len(conns), flush=True)\n"
        "time.sleep(hold)\n"
    )
    nobody = pwd.getpwnam("nobody")

    def demote() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = min(hard, s.flood_connections + 64)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    # the system's interpreter: `nobody` may not be able to reach this one
    interpreter = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    proc = subprocess.run(
        [
            interpreter,
            "-c",
            script,
            str(s.flood_connections),
            str(METRICS_PORT),
            str(s.fault_seconds),
        ],
        preexec_fn=demote,
        capture_output=True,
        text=True,
        timeout=s.fault_seconds + 60,
    )
    out.notes.append(
        f"flood as nobody: {proc.stdout.strip()} connections opened {proc.stderr[-200:]}"
    )
    # and a scrape still answers afterwards
    with socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=30) as c:
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head = c.recv(200)
    out.replies["scrape after the flood"] = head.split(b"\r\n", 1)[0].decode(errors="replace")


BAD_REQUESTS: dict[str, bytes] = {
    "json nested 50k deep": b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "json nested 30k deep": b"[" * 30_000 + b"]" * 30_000 + b"\n",  # within 64 KiB
    "line over 64 KiB": b'{"command": "' + b"x" * 70_000 + b'"}\n',
    "not json": b"hello\n",
    "not utf-8": b"\xff\xfe\x00garbage\n",
    "a json list": b"[1, 2, 3]\n",
    "a json string": b'"status"\n',
    "command not a string": b'{"command": 5}\n',
    "args not an object": b'{"command": "drain", "args": [1]}\n',
    "unknown command": b'{"command": "launch-missiles"}\n',
    "drain of garbage": b'{"command": "drain", "args": {"real": "::::"}}\n',
}


def fault_bad_requests(s: Scenario, sock: str, out: Outcome) -> None:
    for name, request in BAD_REQUESTS.items():
        try:
            reply = exchange(sock, request, timeout=20)
        except OSError as exc:
            reply = f"no reply: {exc}".encode()
        out.replies[name] = reply.decode(errors="replace")[:300]
    # one that never finishes its line
    try:
        reply = exchange(sock, b'{"command": "sta', timeout=20, shut=False)
    except OSError as exc:
        reply = f"no reply: {exc}".encode()
    out.replies["unfinished line"] = reply.decode(errors="replace")[:300]


# ------------------------------------------------------------------ inside: main


def inside(spec: Path, workdir: Path, result: Path) -> None:
    s = Scenario(**json.loads(spec.read_text()))
    out = Outcome(scenario=dataclasses.asdict(s))
    # a TERM (the caller giving up) still stops the daemon and the listener
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    run = workdir / "run"
    run.mkdir(exist_ok=True)
    subprocess.run(["mount", "--bind", str(run), "/run"], check=True)
    resolver_socket = None
    if s.fault == "slow-resolver":
        resolv = workdir / "resolv.conf"
        resolv.write_text(f"nameserver {SLOW_NAMESERVER}\noptions timeout:5 attempts:2\n")
        subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
        # a resolver that reads every query and never answers
        resolver_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        resolver_socket.bind((SLOW_NAMESERVER, 53))
    arrivals_file = workdir / "arrivals.bin"
    arrivals_file.unlink(missing_ok=True)
    lst = subprocess.Popen(
        [sys.executable, __file__, "--listener", str(arrivals_file)], start_new_session=True
    )
    own_autogroup(lst.pid, s.nice)
    cfg = workdir / "iso.cf"
    log = workdir / "daemon.log"
    log.unlink(missing_ok=True)
    write_config(s, cfg, log)
    total = s.virtuals * s.reals_per_virtual
    with open(workdir / "daemon.out", "w") as daemon_out:
        daemon = subprocess.Popen(
            [s.binary, str(cfg), "start"],
            stdout=daemon_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    own_autogroup(daemon.pid, s.nice)
    sock = "/run/ldirectord.iso.cf.sock"
    sampler = Sampler(daemon.pid)
    profiler: subprocess.Popen[bytes] | None = None
    probe: ThreadProbe | None = None
    try:
        # every real checked twice: the checks have settled into their rhythm
        deadline = time.monotonic() + 120 + total / 200
        while True:
            arrivals = read_arrivals(arrivals_file)
            if sum(1 for t in arrivals.values() if len(t) >= 2) >= total:
                break
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError(
                    f"checks did not settle: {len(arrivals)} of {total} reals seen; "
                    f"{(workdir / 'daemon.out').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        out.rss_start_kib = sampler.sample()[0]
        base_start = time.monotonic()
        if s.probe:
            probe = ThreadProbe(daemon.pid)
        time.sleep(max(0.0, s.baseline - 0.5))
        if s.profiler:
            profiler = start_profiler(s, daemon.pid)
        time.sleep(min(0.5, s.baseline))
        fault_start = time.monotonic()
        if s.fault == "reload":
            fault_reload(s, cfg, sock, out)
        elif s.fault == "reload-change":
            fault_reload(s, cfg, sock, out, change=True)
        elif s.fault == "reload-then-change":
            fault_reload(s, cfg, sock, out, change=True, first_same=True)
        elif s.fault == "status":
            fault_status(s, sock, out)
        elif s.fault == "idle-clients":
            fault_idle_clients(s, sock, out)
        elif s.fault == "slow-resolver":
            fault_slow_resolver(s, cfg, sock, out)
        elif s.fault == "metrics-flood":
            fault_metrics_flood(s, out)
        elif s.fault == "bad-requests":
            fault_bad_requests(s, sock, out)
        elif s.fault == "none":
            time.sleep(s.fault_seconds)
        fault_end = time.monotonic()
        # the checks the fault held up arrive within one interval after it
        time.sleep(s.interval + 1.5)
        # after the fault: a status request still answers
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(exchange(sock, b"", timeout=60))
            states = [r["state"] for v in doc["virtuals"] for r in v["reals"]]
            out.notes.append(
                f"status after: {states.count('up')} up, {states.count('down')} down "
                f"of {len(states)}"
            )
        arrivals = read_arrivals(arrivals_file)
        out.reals_seen = len(arrivals)
        base = delays(arrivals, s.interval, base_start, fault_start)
        window_end = fault_end + s.interval + 1.0
        during = delays(arrivals, s.interval, fault_start, window_end)
        out.baseline_worst_delay = round(base[-1] if base else 0.0, 3)
        out.baseline_p99_delay = round(p99(base), 3)
        out.fault_worst_delay = round(during[-1] if during else 0.0, 3)
        out.fault_p99_delay = round(p99(during), 3)
        out.checks_in_fault_window = len(during)
        out.late_at = late_seconds(arrivals, s.interval, base_start, window_end, fault_start)
        out.fault_window = (0.0, round(fault_end - fault_start, 3))
        if probe is not None:
            probe.stop()
            out.threads = probe.per_tenth(fault_start, window_end)
            out.late_at_tenths = late_tenths(
                arrivals, s.interval, fault_start - 1.0, window_end, fault_start
            )
        if profiler is not None:
            try:
                profiler.wait(60)
            except subprocess.TimeoutExpired:
                profiler.kill()
            out.notes.append(f"profile: {s.profile_out} (rc {profiler.returncode})")
    finally:
        sampler.stop()
        if probe is not None:
            probe.stop()
        out.rss_peak_kib = sampler.rss_peak
        out.threads_peak = sampler.threads_peak
        out.fds_peak = sampler.fds_peak
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            out.notes.append("the daemon did not stop within 30 s of TERM")
        lst.kill()
        lst.wait()
        if resolver_socket is not None:
            resolver_socket.close()
        # under supervised=yes the log goes to standard output as well
        text = "".join(
            p.read_text(errors="replace") for p in (log, workdir / "daemon.out") if p.exists()
        )
        out.downs = [
            line
            for line in text.splitlines()
            if "Deleted real server" in line or "Quiescent real server" in line
        ]
        out.log_tail = text.splitlines()[-15:]
        result.write_text(json.dumps(dataclasses.asdict(out)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inside", nargs=3)
    parser.add_argument("--listener")
    args = parser.parse_args()
    if args.listener:
        listener(Path(args.listener))
    elif args.inside:
        inside(Path(args.inside[0]), Path(args.inside[1]), Path(args.inside[2]))


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def installed_binary() -> str:
    """The `ldirectord` console script next to the running interpreter."""
    path = Path(sys.executable).parent / "ldirectord"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(f"{path} is missing: run `make venv`")
    return str(path)


if __name__ == "__main__":
    main()
