#!/usr/bin/env python3
"""Record the Perl ldirectord's verdict on every case of tests/compat/parse_corpus/cases.py.

    sudo python3 tests/compat/record_perl_verdicts.py            # all cases -> verdicts.json
    sudo python3 tests/compat/record_perl_verdicts.py --only NAME [--only NAME] --out FILE

For each case the text is written to a private directory and
`/usr/sbin/ldirectord <abs path> status` is run; its exit code, stdout and stderr are
stored with the PID (`[1234]` -> `[PID]`), the config path (-> CONFIG), the case
directory (-> TMPDIR) and supervised-mode timestamps (-> `[TIME]`) replaced.

Everything runs in a private mount namespace (`unshare -m --propagation private`), in
which: /run and /var/log are empty tmpfs (pid files, the default log file), /etc/hosts
names only the test hosts of cases.HOSTS_FILE, /etc/services only the services of
cases.SERVICES_FILE, /etc/resolv.conf points at 127.0.0.1 and
nsswitch uses files then dns for hosts (so no DNS query leaves the machine; names that
must not resolve end in .invalid), and /dev/log is absent (syslog-facility logfiles
behave the same on every machine). Needs root, util-linux and the Debian package
ldirectord. Stdlib only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "parse_corpus"
VERDICTS = CORPUS / "verdicts.json"
IN_NS_ENV = "LDPY_VERDICTS_IN_NS"
LDIRECTORD = "/usr/sbin/ldirectord"
# Both the recorded bytes and the stored strings are latin-1, so any byte round-trips.
ENCODING = "latin-1"


def load_cases_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ldpy_parse_corpus_cases", CORPUS / "cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _bind_file(source: Path, target: str) -> None:
    """Bind `source` over `target`, following a symlink to wherever it points now."""
    real = Path(os.path.realpath(target))
    if not real.exists():  # e.g. resolv.conf -> /run/..., and /run is a fresh tmpfs
        real.parent.mkdir(parents=True, exist_ok=True)
        real.touch()
    _mount("--bind", str(source), str(real))


def setup_namespace(cases: ModuleType, scratch: Path) -> None:
    """Make this (already unshared) mount namespace private and hermetic."""
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", "/var/log")
    files = {
        "hosts": cases.hosts_file_text(),
        "services": cases.services_file_text(),
        "resolv.conf": "nameserver 127.0.0.1\n",
        "nsswitch.conf": (
            "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
            "networks: files\nprotocols: files\nservices: files\n"
        ),
        "empty": "",
    }
    for name, text in files.items():
        (scratch / name).write_text(text)
    for name in ("hosts", "services", "resolv.conf", "nsswitch.conf"):
        _bind_file(scratch / name, f"/etc/{name}")
    # /dev/log: usually a symlink into /run (now dangling); if it is still a socket,
    # hide it so that Sys::Syslog sees the same "path not available" everywhere.
    if os.path.exists("/dev/log"):
        _mount("--bind", str(scratch / "empty"), os.path.realpath("/dev/log"))


_TIME = re.compile(
    r"^\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ", re.M
)
_PID = re.compile(r"^(Error|Warning) \[\d+\]", re.M)


def normalise(text: str, config_path: str, case_dir: str) -> str:
    text = text.replace(config_path, "CONFIG").replace(case_dir, "TMPDIR")
    text = _PID.sub(r"\1 [PID]", text)
    return _TIME.sub("[TIME] ", text)


def hosts_used(cases: ModuleType, text: str) -> dict[str, list[str | None]]:
    used = {}
    for name, (v4, v6) in cases.hosts_table().items():
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text, re.I):
            used[name] = [v4, v6]
    return used


def record_one(
    cases: ModuleType, ldirectord: str, base: Path, index: int, case: tuple[str, str, str]
) -> dict[str, object]:
    name, description, template = case
    case_dir = base / f"{index:03d}"
    case_dir.mkdir(mode=0o755)
    config_path = case_dir / cases.CONFIG_NAME
    text = template.replace(cases.TMPDIR, str(case_dir))
    config_path.write_bytes(text.encode(ENCODING))
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": cases.HOSTNAME,
        "LANG": "C",
        "LC_ALL": "C",
    }
    proc = subprocess.run(
        [ldirectord, str(config_path), "status"],
        cwd=case_dir,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    norm = [
        normalise(out.decode(ENCODING), str(config_path), str(case_dir))
        for out in (proc.stdout, proc.stderr)
    ]
    return {
        "name": name,
        "description": description,
        "config": template,
        "hosts": hosts_used(cases, template),
        "rc": proc.returncode,
        "stdout": norm[0],
        "stderr": norm[1],
    }


def record(
    cases: ModuleType, selected: list[tuple[str, str, str]], ldirectord: str, jobs: int
) -> list[dict[str, object]]:
    base = Path(tempfile.mkdtemp(prefix="ldpy-verdicts."))
    base.chmod(0o755)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(record_one, cases, ldirectord, base, i, case)
                for i, case in enumerate(selected)
            ]
            return [f.result() for f in futures]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", action="append", metavar="NAME", help="record only these cases")
    ap.add_argument("--out", type=Path, default=VERDICTS, help=f"output (default {VERDICTS})")
    ap.add_argument("--ldirectord", default=LDIRECTORD, help="the Perl original")
    ap.add_argument("-j", "--jobs", type=int, default=min(8, os.cpu_count() or 1))
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("record_perl_verdicts: needs root (mount namespace)", file=sys.stderr)
        return 2
    if not os.access(args.ldirectord, os.X_OK):
        print(
            f"record_perl_verdicts: {args.ldirectord} missing: "
            "install the Debian package ldirectord (make deps)",
            file=sys.stderr,
        )
        return 2
    if os.environ.get(IN_NS_ENV) != "1":
        if shutil.which("unshare") is None:
            print("record_perl_verdicts: util-linux unshare missing", file=sys.stderr)
            return 2
        env = dict(os.environ, **{IN_NS_ENV: "1"})
        argv = ["unshare", "-m", "--propagation", "private", "--", sys.executable, *sys.argv]
        os.execvpe("unshare", argv, env)

    cases = load_cases_module()
    names = [c[0] for c in cases.CASES]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        print(f"record_perl_verdicts: duplicate case names: {dups}", file=sys.stderr)
        return 2
    selected = list(cases.CASES)
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"record_perl_verdicts: unknown cases: {unknown}", file=sys.stderr)
            return 2
        selected = [c for c in selected if c[0] in args.only]

    with tempfile.TemporaryDirectory(prefix="ldpy-verdicts-ns.") as scratch:
        setup_namespace(cases, Path(scratch))
        verdicts = record(cases, selected, args.ldirectord, args.jobs)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(verdicts, f, indent=1, ensure_ascii=True)
        f.write("\n")
    by_rc: dict[int, int] = {}
    for verdict in verdicts:
        rc = int(verdict["rc"])  # type: ignore[call-overload]
        by_rc[rc] = by_rc.get(rc, 0) + 1
    summary = ", ".join(f"rc {rc}: {n}" for rc, n in sorted(by_rc.items()))
    print(f"recorded {len(verdicts)} cases into {args.out} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
