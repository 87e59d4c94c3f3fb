"""A reload reads its file in a child interpreter (daemon/config_read.py): what
comes back is what a read in the daemon's own process gives, value for value
(where each line was written too), errors and unreadable files included; the
parent takes it back a slice at a time; a child that cannot run leaves the
reload to a thread, with the same result."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ldirectord_py.daemon import config_read
from ldirectord_py.daemon.config_read import (
    ChildFailed,
    ConfigRead,
    FileLoader,
    read_config,
    read_in_child,
)
from ldirectord_py.daemon.mainloop import Daemon, Instance
from ldirectord_py.observe.log import Log, Sink

REPO = Path(__file__).resolve().parents[2]

RICH = """\
checktimeout=3
checkinterval=5
autoreload=no
quiescent=yes
emailalert="ops@example.org"
fallback=127.0.0.1:80 masq
logfile="{log}"

virtual=192.0.2.10:80
	real=198.51.100.1:80 masq 3
	real=198.51.100.2:8080 gate 1 ".healthz", "ok"
	real=198.51.100.3->198.51.100.5:80 ipip
	service=http
	request="/index.html"
	receive="Test Page"
	checktype=negotiate
	scheduler=wlc
	persistent=300
	netmask=255.255.255.255
	protocol=tcp
	virtualhost=www.example.org

virtual6=[2001:db8::10]:443
	real6=[2001:db8::1]:443 masq
	checktype=connect
	quiescent=no

virtual=42
	real=198.51.100.9:0 gate
	checktype=ping
"""


def _plain(value: object) -> object:
    """Every field, those left out of `==` too (lines, where each value was set)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, *((f.name, _plain(getattr(value, f.name))) for f in fields))
    if isinstance(value, Mapping):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, frozenset | set):
        return tuple(sorted(map(repr, value)))
    return (type(value).__name__, value)


def _same(a: ConfigRead, b: ConfigRead) -> None:
    assert a.digest == b.digest
    assert a.unreadable == b.unreadable
    assert _plain(a.config) == _plain(b.config)
    assert (a.error is None) == (b.error is None)
    if a.error is not None and b.error is not None:
        assert (a.error.path, a.error.line, a.error.message, a.error.logfile) == (
            b.error.path,
            b.error.line,
            b.error.message,
            b.error.logfile,
        )
        assert a.error.warnings == b.error.warnings
        assert a.error.perl_text(1) == b.error.perl_text(1)


def _in_child(path: Path, loader: FileLoader | None = None) -> ConfigRead:
    return asyncio.run(read_in_child(str(path), loader or FileLoader()))


def test_a_rich_file_comes_back_whole(tmp_path: Path) -> None:
    cfg = tmp_path / "rich.cf"
    cfg.write_text(RICH.format(log=tmp_path / "ld.log"))
    read = _in_child(cfg)
    assert read.config is not None and len(read.config.virtuals) == 3
    assert len(read.config.virtuals[0].reals) == 5
    assert read.config.virtuals[0].sources, "where each directive was written"
    _same(read, read_config(str(cfg), FileLoader()))


@pytest.mark.parametrize("name", ["ldirectord.cf", "anycast-gobgp.cf", "demo-site-a.cf"])
def test_the_examples_come_back_whole(name: str) -> None:
    path = REPO / "examples" / name
    loader = FileLoader(debug=True)  # the examples' logfiles need not exist here
    _same(_in_child(path, loader), read_config(str(path), loader))


def test_many_virtuals_arrive_in_chunks_with_yields_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["checkinterval=10", f'logfile="{tmp_path / "ld.log"}"']
    for v in range(config_read.CHUNK * 4 + 7):
        lines += [f"virtual=10.0.{v // 256}.{v % 256}:80", f"\treal=127.0.1.{v % 250 + 1}:80 masq"]
    cfg = tmp_path / "many.cf"
    cfg.write_text("\n".join(lines) + "\n")
    read = _in_child(cfg)
    assert read.config is not None and len(read.config.virtuals) == config_read.CHUNK * 4 + 7
    _same(read, read_config(str(cfg), FileLoader()))

    monkeypatch.setattr(config_read, "UNPICKLE_SLICE", 0.0)  # a yield after every chunk
    # the assembling alone: one yield per chunk when the slice is 0
    frames = config_read._frames(read_config(str(cfg), FileLoader()))
    assert len(frames) == 1 + 5
    data = b"".join(config_read._FRAME.pack(len(f)) + f for f in frames)

    async def assemble_counting() -> int:
        turns = 0
        done = False

        async def tick() -> None:
            nonlocal turns
            while not done:
                turns += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        start = turns
        await config_read._assemble(memoryview(data))
        done = True
        counted = turns - start
        await ticker
        return counted

    assert asyncio.run(assemble_counting()) >= 5


def test_an_error_comes_back_with_its_line_and_the_warnings_before_it(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.cf"
    cfg.write_text(
        "checkinterval=5\nfork=yes\nvirtual=192.0.2.1:80\n\treal=198.51.100.1:80 masq\n\tbogus=1\n"
    )
    read = _in_child(cfg, FileLoader(debug=True))
    assert read.config is None and read.error is not None
    assert read.error.line == 5
    _same(read, read_config(str(cfg), FileLoader(debug=True)))


def test_a_missing_file_and_a_fifo_read_as_in_process(tmp_path: Path) -> None:
    missing = tmp_path / "gone.cf"
    _same(_in_child(missing), read_config(str(missing), FileLoader()))
    fifo = tmp_path / "fifo.cf"
    os.mkfifo(fifo)
    read = _in_child(fifo)
    assert read.unreadable is not None and "not a regular file" in read.unreadable
    _same(read, read_config(str(fifo), FileLoader()))


def test_the_parent_takes_only_config_values_from_the_pipe() -> None:
    evil = pickle.dumps((None, os.system, None, None, 0))
    data = config_read._FRAME.pack(len(evil)) + evil
    with pytest.raises(ChildFailed, match="not expected"):
        asyncio.run(config_read._assemble(memoryview(data)))
    with pytest.raises(ChildFailed, match="cut short"):
        asyncio.run(config_read._assemble(memoryview(data[:-3])))


class _Eval:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return eval, ("__import__('os').environ.setdefault('LDIRECTORD_RV1_RAN', '1')",)


def _head_naming(module: str, name: str) -> bytes:
    """A head whose config is `module.name` called with no arguments."""
    return (
        b"\x80\x04(N"
        + b"\x8c"
        + bytes([len(module)])
        + module.encode()
        + b"\x8c"
        + bytes([len(name)])
        + name.encode()
        + b"\x93)RNNK\x00t."
    )


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps((None, _Eval(), None, None, 0)),
        _head_naming("ldirectord_py.daemon.config_read", "os.getpid"),
        _head_naming("ldirectord_py.daemon.config_read", "read_config"),
        _head_naming("ldirectord_py.no_such_module", "X"),
        _head_naming("builtins", "getattr"),
        _head_naming("enum", "EnumMeta"),
    ],
    ids=["eval", "dotted", "function", "unloaded", "getattr", "enum-meta"],
)
def test_nothing_but_config_values_is_called_from_the_pipe(
    payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LDIRECTORD_RV1_RAN", raising=False)
    data = config_read._FRAME.pack(len(payload)) + payload
    with pytest.raises(ChildFailed, match="not expected"):
        asyncio.run(config_read._assemble(memoryview(data)))
    assert "LDIRECTORD_RV1_RAN" not in os.environ


@pytest.mark.parametrize(
    "head",
    [
        ("digest", 5, None, None, 0),
        (None, None, ("cf", "line 3", "bad", (), None), None, 0),
        (None, None, ("cf", 3, "bad", ("not a warning",), None), None, 0),
        (None, None, None, b"unreadable", 0),
        (None, None, "error", None, 0),
        (None, None, None, None, "1"),
    ],
    ids=["config", "line", "warning", "reason", "error", "count"],
)
def test_values_of_the_wrong_type_are_refused_as_unreadable(head: tuple[object, ...]) -> None:
    payload = pickle.dumps((config_read.shape(), *head))
    data = config_read._FRAME.pack(len(payload)) + payload
    with pytest.raises(ChildFailed, match="not"):
        asyncio.run(config_read._assemble(memoryview(data)))


def test_a_chunk_that_is_no_list_of_virtuals_is_refused() -> None:
    data = b""
    for value in ((config_read.shape(), None, None, None, None, 1), ["not a virtual"]):
        payload = pickle.dumps(value)
        data += config_read._FRAME.pack(len(payload)) + payload
    with pytest.raises(ChildFailed, match="virtuals"):
        asyncio.run(config_read._assemble(memoryview(data)))


def test_a_child_of_an_upgraded_package_leaves_the_read_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a package upgrade the child imports the new model: its values would
    carry fields the running daemon's classes lack (or miss ones they read)."""
    upgraded = tmp_path / "site"
    shutil.copytree(REPO / "ldirectord_py", upgraded / "ldirectord_py")
    model = upgraded / "ldirectord_py" / "config" / "model.py"
    text = model.read_text()
    anchor = "    anonymous: bool\n\n    def for_virtual("
    assert anchor in text
    added = anchor.replace("\n\n", "\n    added_by_an_upgrade: int = 0\n\n")
    model.write_text(text.replace(anchor, added, 1))
    command = config_read.child_command
    monkeypatch.setattr(
        config_read,
        "child_command",
        lambda path, loader: [
            *command(path, loader)[:4],
            str(upgraded),
            *command(path, loader)[5:],
        ],
    )
    cfg = tmp_path / "t.cf"
    cfg.write_text(
        f'logfile="{tmp_path / "ld.log"}"\nfallback=127.0.0.1:80\n'
        "virtual=192.0.2.1:80\n\treal=127.0.0.2:80 gate\n"
    )
    with pytest.raises(ChildFailed, match="differs"):
        _in_child(cfg)

    loader = FileLoader()
    instance = Instance(str(cfg), "t.cf", "/bin/false", False, loader)
    daemon = Daemon(instance, loader(str(cfg)), Log(_Lines()), _NoDirector(), None)  # type: ignore[arg-type]
    read = daemon._read_off_loop()
    _same(asyncio.run(read), read_config(str(cfg), loader))


def test_a_child_that_cannot_run_leaves_the_read_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "t.cf"
    cfg.write_text(
        f'logfile="{tmp_path / "ld.log"}"\nvirtual=192.0.2.1:80\n\treal=127.0.0.2:80 gate\n'
    )
    monkeypatch.setattr(config_read, "child_command", lambda path, loader: ["/bin/false"])
    with pytest.raises(ChildFailed, match="status 1"):
        _in_child(cfg)

    loader = FileLoader()
    config = loader(str(cfg))
    instance = Instance(str(cfg), "t.cf", "/bin/false", False, loader)
    daemon = Daemon(instance, config, Log(_Lines()), _NoDirector(), None)  # type: ignore[arg-type]
    read = asyncio.run(daemon._read_off_loop())
    assert read.config == config


def test_the_child_runs_this_interpreter_isolated() -> None:
    command = config_read.child_command("/etc/x.cf", FileLoader(debug=True))
    assert command[:3] == [sys.executable, "-I", "-c"]
    assert command[-3:] == [str(REPO), "/etc/x.cf", "1"]


class _Lines(Sink):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)


class _NoDirector:
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)
