"""Health-check throughput: ours against the Perl ldirectord, same machine, same run.

    .venv/bin/python bench/checks_throughput.py --kind connect --ours 2500,5000,10000,15000 \
        --perl 25,50,100,200
    .venv/bin/python bench/checks_throughput.py --kind http ...

For each N: one virtual with N reals on loopback addresses 127.10.x.y, all served by
one nginx (worker_processes 1) listening on 0.0.0.0:PORT, checkinterval=1,
failurecount=1, a monitorfile, supervised=yes (foreground, no debug output), a
logfile. After a warm-up the monitorfile is read over a window of W seconds: the
lines per real in the window (the original writes the same lines), and the
daemon's CPU (utime+stime from /proc/PID/stat) over the same window.

"Every real checked once per interval" means: every real has at least W-1
results in the window, and the total is at least 97% of N*W (the Perl original
sleeps a full checkinterval after each serial round, so its period is
1 s + round time; it passes while the round takes at most ~30 ms).

Both daemons run inside `unshare -m` with a private /run (pid files) and the
compat harness's recording ipvsadm shim bind-mounted over /usr/sbin/ipvsadm (the
Perl needs one; this host has no ip_vs, ours logs that once and goes on).
Traffic goes only to 127.0.0.0/8. Every run is bounded in time; nginx and the
daemons are stopped (by pid) and the temporary directory removed at the end.
Needs root (unshare, mount). Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = [str(ROOT / ".venv/bin/ldirectord")]
PERL = ["/usr/sbin/ldirectord"]
SHIM = Path("/work/shared/reference/compat-harness/harness/ipvsadm-shim")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PORT = 18080
# --nice: the daemons' nice value (both daemons alike). On a machine shared with
# other work a negative value measures what the daemon can do with the CPU it
# asks for rather than how much the neighbours leave it; 0 (the default) is as before.
# With autogroup scheduling (kernel.sched_autogroup_enabled=1) a nice value only
# ranks processes within their session, so with --nice each daemon (and nginx)
# runs in a session of its own whose autogroup gets that nice value.
NICE = 0


def _own_autogroup(pid: int) -> None:
    """Give the autogroup of `pid` (a session leader started here) the NICE value."""
    if NICE:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(f"{NICE}\n")


# --pin CPU: the daemons run on that CPU only and nginx on the others, so that the
# stand-in backends (other machines in real life) do not take the daemon's core
# and "one core" is literally one core. None (the default) is as before.
PIN: int | None = None


def _pin_daemon() -> list[str]:
    return ["taskset", "-c", str(PIN)] if PIN is not None else []


def _pin_backends() -> list[str]:
    if PIN is None:
        return []
    others = [str(c) for c in sorted(os.sched_getaffinity(0)) if c != PIN]
    return ["taskset", "-c", ",".join(others)] if others else []


def real_address(i: int) -> str:
    return f"127.{10 + i // 62500}.{(i // 250) % 250 + 1}.{i % 250 + 1}"


def uptime() -> str:
    return Path("/proc/loadavg").read_text().strip()


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def run_delay(pid: int) -> float:
    """Seconds the process's main thread (the event loop) has waited runnable on a
    run queue (/proc/PID/schedstat): time it wanted the CPU and did not get it."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ config


def write_config(
    path: Path,
    addresses: list[str],
    *,
    kind: str,
    port: int,
    monitorfile: Path,
    logfile: Path,
    interval: int = 1,
    timeout: int = 1,
) -> None:
    lines = [
        f"checkinterval={interval}",
        f"checktimeout={timeout}",
        f"negotiatetimeout={timeout}",
        "failurecount=1",
        "quiescent=no",
        "supervised=yes",
        f'logfile="{logfile}"',
        "",
        "virtual=127.0.0.100:80",
    ]
    lines += [f"\treal={a}:{port} masq" for a in addresses]
    lines += ["\tprotocol=tcp", "\tscheduler=wlc", f"\tmonitorfile={monitorfile}"]
    if kind == "http":
        lines += ["\tchecktype=negotiate", "\tservice=http", '\trequest="/"', '\treceive="OK"']
    else:
        lines += ["\tchecktype=connect"]
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------ processes


@contextlib.contextmanager
def nginx(tmp: Path, port: int) -> Iterator[int]:
    """One nginx worker on 0.0.0.0:port answering every request with 200 "OK"."""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""worker_processes 2;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log crit;
worker_rlimit_nofile 262144;
events {{ worker_connections 65536; use epoll; multi_accept on; }}
http {{
    access_log off;
    keepalive_timeout 0;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 0.0.0.0:{port} backlog=65535 reuseport;
        location / {{ return 200 "OK\\n"; }}
    }}
}}
"""
    )
    # the backends stand in for other machines: keep them from being starved here
    proc = subprocess.Popen(
        [*_pin_backends(), "nice", "-n", "-10", "nginx", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        start_new_session=bool(NICE),
    )
    _own_autogroup(proc.pid)
    try:
        deadline = time.monotonic() + 5
        import socket

        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.05)
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


FAKE_IPVSADM = """#!/bin/sh
# a stateless stand-in: an empty table for listings, success for everything else
case " $* " in
*" -L "*|*" -l "*|*" --list "*)
    echo "IP Virtual Server version 1.2.1 (size=4096)"
    echo "Prot LocalAddress:Port Scheduler Flags"
    echo "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn";;
esac
exit 0
"""


def fake_ipvsadm(tmp: Path) -> Path:
    path = tmp / "fake-ipvsadm"
    if not path.exists():
        path.write_text(FAKE_IPVSADM)
        path.chmod(0o755)
    return path


def start_daemon(
    which: str, config: Path, tmp: Path, *, recording_shim: bool = False
) -> subprocess.Popen[bytes]:
    """The daemon in the foreground (supervised=yes) inside a private mount
    namespace: /run private, the ipvsadm shim over /usr/sbin/ipvsadm."""
    cmd = OURS if which == "ours" else PERL
    shimdir = tmp / "shim"
    shimdir.mkdir(exist_ok=True)
    shim = SHIM if recording_shim else fake_ipvsadm(tmp)
    script = (
        f"mount --bind {shim} /usr/sbin/ipvsadm && "
        "mount -t tmpfs -o mode=755 tmpfs /run && "
        f'exec {" ".join(cmd)} "$0" start'
    )
    env = dict(os.environ, IPVSADM_SHIM_DIR=str(shimdir), IPVSADM_SHIM_LOCALNODE="0")
    err = open(tmp / f"{which}.stderr", "ab")  # noqa: SIM115
    prefix = [*_pin_daemon(), *(["nice", "-n", str(NICE)] if NICE else [])]
    unshare = ["unshare", "-m", "--propagation", "private"]
    proc = subprocess.Popen(
        [*prefix, *unshare, "sh", "-c", script, str(config)],
        stdin=subprocess.DEVNULL,
        stdout=err,
        stderr=err,
        env=env,
        start_new_session=bool(NICE),
    )
    _own_autogroup(proc.pid)
    return proc


def perl_needs_ok(tmp: Path) -> None:  # pragma: no cover - environment check
    if not SHIM.exists():
        sys.exit(f"missing {SHIM}")


# ------------------------------------------------------------------ measurement


def monitor_counts(data: bytes) -> Counter[str]:
    """Results per real identity in monitorfile lines `[time] [pid] ident [up|down] why`."""
    counts: Counter[str] = Counter()
    for line in data.splitlines():
        try:
            rest = line.split(b"] ", 2)[2]
        except IndexError:
            continue
        for word in (b" [up] ", b" [down] "):
            i = rest.find(word)
            if i > 0:
                counts[rest[:i].decode() + (" up" if word == b" [up] " else " down")] += 1
                break
    return counts


@dataclass
class Run:
    daemon: str
    kind: str
    n: int
    window: float
    results: int
    up: int
    down: int
    reals_seen: int
    min_per_real: int
    rate_per_real: float
    checks_per_s: float
    cpu_percent: float
    cpu_us_per_check: float
    cpu_sys_percent: float
    rss_mib: float
    ok: bool
    note: str = ""
    load: str = ""  # /proc/loadavg at the end of the window
    waiting_percent: float = 0.0  # of the window spent runnable but not running


def measure(
    which: str, kind: str, n: int, *, window: float, warmup: float, max_start: float, tmp: Path
) -> Run:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{which}-{kind}-{n}-", dir=tmp))
    config = run_dir / f"bench-{which}-{kind}-{n}.cf"
    monitor = run_dir / "monitor.log"
    logfile = run_dir / "daemon.log"
    addresses = [real_address(i) for i in range(n)]
    write_config(config, addresses, kind=kind, port=PORT, monitorfile=monitor, logfile=logfile)
    proc = start_daemon(which, config, run_dir)
    try:
        # wait until every real has had a first result (start-up: the Perl programs
        # every real through ipvsadm during its first round), then warm up
        t0 = time.monotonic()
        while True:
            time.sleep(0.5)
            if proc.poll() is not None:
                return Run(
                    which, kind, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, False, "daemon exited"
                )
            data = monitor.read_bytes() if monitor.exists() else b""
            seen = {k.rsplit(" ", 1)[0] for k in monitor_counts(data)}
            if len(seen) >= n:
                break
            if time.monotonic() - t0 > max_start:
                return Run(
                    which,
                    kind,
                    n,
                    0,
                    0,
                    0,
                    0,
                    len(seen),
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    rss_kib(proc.pid) / 1024,
                    False,
                    f"only {len(seen)} reals checked after {max_start:.0f}s",
                )
        time.sleep(warmup)
        start_off = monitor.stat().st_size
        (u0, s0), d0, w0 = cpu_split(proc.pid), run_delay(proc.pid), time.monotonic()
        time.sleep(window)
        (u1, s1), d1, w1 = cpu_split(proc.pid), run_delay(proc.pid), time.monotonic()
        c0, c1 = u0 + s0, u1 + s1
        end_off = monitor.stat().st_size
        rss = rss_kib(proc.pid) / 1024
        with monitor.open("rb") as fh:
            fh.seek(start_off)
            data = fh.read(end_off - start_off)
        # whole lines only
        first_nl = data.find(b"\n")
        data = data[first_nl + 1 : data.rfind(b"\n") + 1] if start_off else data
        counts = monitor_counts(data)
        per_real: Counter[str] = Counter()
        up = down = 0
        for key, c in counts.items():
            ident, state = key.rsplit(" ", 1)
            per_real[ident] += c
            if state == "up":
                up += c
            else:
                down += c
        elapsed = w1 - w0
        total = up + down
        mins = min(per_real.values()) if len(per_real) >= n else 0
        ok = (
            len(per_real) >= n
            and mins >= round(elapsed) - 1
            and total >= 0.97 * n * elapsed
            and down == 0
        )
        return Run(
            which,
            kind,
            n,
            round(elapsed, 2),
            total,
            up,
            down,
            len(per_real),
            mins,
            round(total / n / elapsed, 3),
            round(total / elapsed, 1),
            round(100 * (c1 - c0) / elapsed, 1),
            round(1e6 * (c1 - c0) / total, 1) if total else 0.0,
            round(100 * (s1 - s0) / elapsed, 1),
            round(rss, 1),
            ok,
            load=uptime(),
            waiting_percent=round(100 * (d1 - d0) / elapsed, 1),
        )
    finally:
        stop(proc)
        shutil.rmtree(run_dir, ignore_errors=True)


def search(which: str, kind: str, ns: list[int], args: argparse.Namespace, tmp: Path) -> list[Run]:
    """Ascending N until the first failure; then one bisection step between the
    last pass and the first failure (bounded: at most len(ns) + bisect runs)."""
    runs: list[Run] = []
    last_ok = 0
    for n in ns:
        r = measure(
            which,
            kind,
            n,
            window=args.window,
            warmup=args.warmup,
            max_start=args.max_start,
            tmp=tmp,
        )
        print(json.dumps(asdict(r)), flush=True)
        runs.append(r)
        if not r.ok:
            lo, hi = last_ok, n
            for _ in range(args.bisect):
                mid = (lo + hi) // 2
                if mid <= lo or hi - mid < max(1, hi // 20):
                    break
                m = measure(
                    which,
                    kind,
                    mid,
                    window=args.window,
                    warmup=args.warmup,
                    max_start=args.max_start,
                    tmp=tmp,
                )
                print(json.dumps(asdict(m)), flush=True)
                runs.append(m)
                if m.ok:
                    lo = mid
                else:
                    hi = mid
            break
        last_ok = n
    return runs


def largest_ok(runs: list[Run]) -> Run | None:
    ok = [r for r in runs if r.ok]
    return max(ok, key=lambda r: r.n) if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kind", choices=("connect", "http"), default="connect")
    ap.add_argument("--ours", default="", help="comma-separated N to try, ascending")
    ap.add_argument("--perl", default="", help="comma-separated N to try, ascending")
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--max-start", type=float, default=60.0)
    ap.add_argument("--bisect", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--nice", type=int, default=0, help="the daemons' nice value (both)")
    ap.add_argument("--pin", type=int, help="run the daemons on this CPU, nginx on the others")
    args = ap.parse_args()
    global NICE, PIN
    NICE = args.nice
    PIN = args.pin
    if os.geteuid() != 0:
        sys.exit("needs root (unshare -m, mount)")
    perl_needs_ok(Path())
    report: dict[str, object] = {
        "kind": args.kind,
        "nice": NICE,
        "pin": PIN,
        "load_before": uptime(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="ldbench-"))
    try:
        with nginx(tmp, PORT):
            all_runs: dict[str, list[Run]] = {}
            for which in ("ours", "perl"):
                ns = [int(x) for x in getattr(args, which).split(",") if x]
                if ns:
                    all_runs[which] = search(which, args.kind, ns, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_after"] = uptime()
    report["runs"] = {k: [asdict(r) for r in v] for k, v in all_runs.items()}
    best = {k: largest_ok(v) for k, v in all_runs.items()}
    report["largest_n"] = {k: (b.n if b else 0) for k, b in best.items()}
    print(f"\nload before: {report['load_before']}\nload after:  {report['load_after']}")
    print(
        f"{'daemon':6} {'N':>6} {'ok':>3} {'checks/s':>9} {'per real/s':>10} {'min':>4} "
        f"{'down':>5} {'CPU %':>6} {'sys %':>6} {'us/check':>8} {'RSS MiB':>8}"
    )
    for runs in all_runs.values():
        for r in runs:
            load1 = r.load.split()[0] if r.load else "-"
            print(
                f"{r.daemon:6} {r.n:6} {'yes' if r.ok else 'no':>3} {r.checks_per_s:9.1f} "
                f"{r.rate_per_real:10.3f} {r.min_per_real:4} {r.down:5} "
                f"{r.cpu_percent:6.1f} {r.cpu_sys_percent:6.1f} "
                f"{r.cpu_us_per_check:8.1f} {r.rss_mib:8.1f}  wait {r.waiting_percent:4.1f}% "
                f"load {load1} {r.note}"
            )
    for k, b in best.items():
        print(f"largest N checked once per interval, {k}: {b.n if b else 0}")
    if "ours" in best and "perl" in best and best["ours"] and best["perl"]:
        print(f"ratio ours/perl: {best['ours'].n / best['perl'].n:.0f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
