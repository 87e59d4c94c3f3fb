"""Load golden parse verdicts of the Perl ldirectord and hold our parser to them.

Two sources of verdicts, one shape (`Case`):

* `load_corpus()`: this directory's verdicts.json, recorded from cases.py by
  tests/compat/record_perl_verdicts.py;
* `load_recorded_matrix(repo_root)`: the 53 verdicts recorded with the compat
  harness, copied into the repository (`tests/data/compat-harness/observed/
  parse-matrix/`; tests/data/README.md says where they come from and how to
  re-record them).

In both, the config text contains the token TMPDIR (a private writable directory)
and the outputs contain CONFIG (the config file's absolute path), TMPDIR and
`Error [PID]` / `Warning [PID]`.

`check(case, workdir)` runs our parser on the case and returns None when the
verdict matches: exit 2 <=> ConfigError, and then the warnings before it plus
`err.perl_text()` equal the recorded stderr; exit 3/0 <=> a Config, whose warnings'
perl_text equal the recorded stderr. Otherwise it returns a readable description of
the disagreement (expected vs got).

Only the configuration messages are compared: Perl's own diagnostics that the
original prints on stderr (`Use of uninitialized value ... at /usr/sbin/ldirectord
line N.`, `setlogsock(): ...`) are split off first; see `split_stderr`.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import re
import resource
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
VERDICTS = HERE / "verdicts.json"
REPO_ROOT = HERE.parents[2]
MATRIX_RELPATH = Path("tests/data/compat-harness/observed/parse-matrix")

# The pid our messages are rendered with before normalising to [PID].
PID = 4242

# A line of Perl's own diagnostics (perl -w warnings, die texts), not a config message.
_PERL_DIAG = re.compile(
    r"^.* at /usr/sbin/ldirectord line \d+(?:, <\w+> (?:line|chunk) \d+)?\.\n?$"
)
_MESSAGE_START = re.compile(r"^(?:Error|Warning) \[PID\]")
_PID = re.compile(r"^(Error|Warning) \[\d+\]", re.M)


def _load_module(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


cases = _load_module("ldpy_parse_corpus_cases", HERE / "cases.py")


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    config: str  # template: TMPDIR stands for the private directory
    rc: int
    stdout: str
    stderr: str
    config_name: str = cases.CONFIG_NAME  # file name inside TMPDIR
    source: str = "corpus"
    hosts: dict[str, list[str | None]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


# ------------------------------------------------------------------ loaders


def load_corpus(path: Path = VERDICTS) -> list[Case]:
    """The verdicts recorded from cases.py."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: record it with `sudo python3 tests/compat/record_perl_verdicts.py`"
        )
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    return [
        Case(
            name=item["name"],
            description=item["description"],
            config=item["config"],
            rc=item["rc"],
            stdout=item["stdout"],
            stderr=item["stderr"],
            hosts=item.get("hosts", {}),
        )
        for item in raw
    ]


def load_recorded_matrix(repo_root: Path = REPO_ROOT) -> list[Case]:
    """The 53 verdicts of the compat harness's parse-matrix scenario.

    Each `note` event holds "case NAME: '<repr of the config text>'" and the next `cli`
    event the exit code and outputs. The harness wrote the files as
    <work>/ldcompat-parse-matrix.cf with `logfile="<work>/ldirectord.log"` and removed
    "<work>/" from what it stored; here <work> becomes TMPDIR again."""
    matrix = Path(repo_root) / MATRIX_RELPATH
    events = matrix / "events.jsonl"
    if not events.exists():
        raise FileNotFoundError(
            f"recorded parse verdicts not found: {events} (see tests/data/README.md)"
        )
    name_re = re.compile(r"^case ([\w.-]+): (.*)$", re.S)
    cfg = "ldcompat-parse-matrix.cf"
    out: list[Case] = []
    pending: tuple[str, str] | None = None
    with open(events, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            if event.get("kind") == "note":
                m = name_re.match(event.get("text", ""))
                if m:
                    pending = (m.group(1), ast.literal_eval(m.group(2)))
            elif event.get("kind") == "cli" and pending is not None:
                name, text = pending
                pending = None
                text = text.replace('logfile="ldirectord.log"', 'logfile="TMPDIR/ldirectord.log"')

                def norm(s: str) -> str:
                    return _PID.sub(r"\1 [PID]", s.replace(cfg, "CONFIG"))

                out.append(
                    Case(
                        name=name,
                        description="recorded by the compat harness (parse-matrix)",
                        config=text,
                        rc=event["rc"],
                        stdout=norm(event["stdout"]),
                        stderr=norm(event["stderr"]),
                        config_name=cfg,
                        source="matrix",
                    )
                )
    return out


# ------------------------------------------------------------------ comparison


def split_stderr(stderr: str) -> tuple[list[str], list[str]]:
    """(config messages, Perl diagnostics). A message starts with `Error [PID]` or
    `Warning [PID]` and runs up to the next one (the original's `Unknown command`
    texts span lines)."""
    messages: list[str] = []
    diagnostics: list[str] = []
    for line in stderr.splitlines(keepends=True):
        if _MESSAGE_START.match(line):
            messages.append(line)
        elif _PERL_DIAG.match(line):
            diagnostics.append(line)
        elif messages:
            messages[-1] += line
        else:
            diagnostics.append(line)
    return messages, diagnostics


def escape_controls(text: str) -> str:
    """Our parser's deliberate deviation: control characters other than tab and
    newline, and bytes >= 0x7f, are escaped in messages (\\r -> `\\r`, else `\\xNN`)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\t\n" or 0x20 <= code < 0x7F:
            out.append(ch)
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(f"\\x{code:02x}")
    return "".join(out)


def has_controls(text: str) -> bool:
    return escape_controls(text) != text


@dataclass(frozen=True)
class Outcome:
    rejected: bool
    messages: list[str]
    error: BaseException | None = None  # anything other than ConfigError


def materialise(case: Case, workdir: Path) -> tuple[bytes, str]:
    """The config bytes with TMPDIR filled in, and the path our parser is told."""
    text = case.config.replace(cases.TMPDIR, str(workdir))
    path = workdir / case.config_name
    data = text.encode("latin-1")
    path.write_bytes(data)
    return data, str(path)


def resolver() -> object:
    from ldirectord_py.config.resolve import StaticResolver

    return StaticResolver(cases.hosts_table(), cases.services_table())


@contextlib.contextmanager
def memory_guard(extra: int = 1 << 30) -> Iterator[None]:
    """Let the code inside allocate at most `extra` more bytes of address space, so a
    parser bug (e.g. a huge real range materialised) fails one case with MemoryError
    instead of exhausting the machine. The soft limit is restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/status") as f:
            vmsize = next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmSize:"))
    except (OSError, StopIteration):
        yield
        return
    limit = vmsize + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_ours(case: Case, workdir: Path) -> Outcome:
    from ldirectord_py.config import ConfigError, parse_text

    data, path = materialise(case, workdir)

    def norm(text: str) -> str:
        text = text.replace(path, "CONFIG").replace(str(workdir), cases.TMPDIR)
        return _PID.sub(r"\1 [PID]", text)

    try:
        with memory_guard():
            config = parse_text(
                data,
                path,
                hostname=cases.HOSTNAME,
                resolver=resolver(),  # type: ignore[arg-type]
            )
    except ConfigError as err:
        before = [norm(w.perl_text(PID)) for w in getattr(err, "warnings", ())]
        return Outcome(True, [*before, norm(err.perl_text(PID))])
    except Exception as exc:  # a crash is a disagreement too, reported as such
        return Outcome(False, [], error=exc)
    return Outcome(False, [norm(w.perl_text(PID)) for w in config.warnings])


def expected_messages(case: Case, escaped: bool) -> list[str]:
    messages, _ = split_stderr(case.stderr)
    if escaped:
        messages = [escape_controls(m) for m in messages]
    return messages


def check(
    case: Case,
    workdir: Path,
    *,
    escaped: bool = False,
    expect: Callable[[Case, list[str]], list[str]] | None = None,
) -> str | None:
    """None if our parser gives the recorded verdict; else what differs.

    `escaped`: compare with the control-character escaping of our messages applied to
    the recorded text. `expect`: a decided deviation, mapping the recorded messages to
    the ones we now expect instead."""
    if case.rc not in (0, 2, 3):
        return f"{case}: recorded exit code {case.rc} is not a parse verdict (0/3 or 2)"
    want_reject = case.rc == 2
    want = expected_messages(case, escaped)
    if expect is not None:
        want = expect(case, want)
        # A deviation may turn an acceptance into a rejection: an error line says so.
        want_reject = any(m.startswith("Error [") for m in want)
    got = run_ours(case, workdir)
    if got.error is not None:
        return f"{case}: our parser crashed: {type(got.error).__name__}: {got.error}"
    if got.rejected == want_reject and got.messages == want:
        return None
    verdict = {True: "rejected (rc 2)", False: "accepted (rc 3)"}
    lines = [
        f"{case}: {case.description}",
        f"  config:   {case.config[:300]!r}",
        f"  expected: {verdict[want_reject]} {''.join(want)[:500]!r}",
        f"  got:      {verdict[got.rejected]} {''.join(got.messages)[:500]!r}",
    ]
    return "\n".join(lines)
