"""A reload's reading of the config file: its digest and its parse, done in a
child interpreter and handed back a few virtuals per turn of the loop.

Why not a thread: parsing 10,000 virtuals is over half a second of Python, and
a thread that busy shares the interpreter lock with the loop. The loop gives
the lock up at each of its system calls (several per health check, thousands a
second) and must then wait for the busy thread to hand it back: checks came
hundreds of milliseconds late in the reload's first second, while the loop ran
no long callback (bench/README.md, "The reload, fourth pass"). A child
interpreter has a lock of its own and runs at a lower CPU priority; the parent
only reads its pipe and unpickles what it sent, CHUNK virtuals at a time with a
yield to the loop between slices.

Only the daemon's own way to parse (`FileLoader`) can run in a child; any other
loader (tests pass their own) runs in a thread as before, and so does this one
when the child cannot run at all (no interpreter to start, a crash): the same
result, with the lock shared again.

The child writes frames to its standard output, each an 8-byte length and a
pickle: the head (the `shape` of the package the child imported, the digest,
then the configuration without its virtuals, the parse error's fields, or why
the file is unreadable, and how many chunks follow), then the virtuals in
chunks. The parent unpickles only this package's config classes and builtin
values from it (`_Unpickler`), and only from a child of its own `shape`.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import enum
import functools
import gc
import importlib
import io
import os
import pickle
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ldirectord_py.config import Config, ConfigError, ConfigWarning, load
from ldirectord_py.config.model import Virtual
from ldirectord_py.daemon.watch import file_digest, require_regular_file
from ldirectord_py.offloop import collector_paused

CHUNK = 50
"""Virtuals per pickle: unpickling 50 takes well under a millisecond."""
UNPICKLE_SLICE = 0.002
"""Seconds of unpickling between two yields to the loop."""
CHILD_NICENESS = 10
"""Added to the child's nice value: on a busy machine the loop comes first."""
_FRAME = struct.Struct("!Q")


@dataclass(frozen=True)
class FileLoader:
    """The daemon's way to parse its file: `load(path, debug=...)` (under -d the
    logfile is not test-opened, as in the original). A value, not a closure, so
    that a child interpreter can run the same parse."""

    debug: bool = False

    def __call__(self, path: str) -> Config:
        return load(path, debug=self.debug)


@dataclass(frozen=True)
class ConfigRead:
    """What a reload read: the file's digest, and its config or why there is none."""

    digest: str | None
    config: Config | None
    error: ConfigError | None
    unreadable: str | None = None
    """Why the file could not be read at all (not a regular file, too slow)."""


def read_config(path: str, loader: Any) -> ConfigRead:
    """The file's digest and its parse (blocking: in a child or a thread)."""
    try:
        seen: str | None = file_digest(path)
    except OSError:
        seen = None
    try:
        require_regular_file(path)
    except OSError as err:
        return ConfigRead(seen, None, None, str(err))
    try:
        return ConfigRead(seen, loader(path), None)
    except ConfigError as err:
        return ConfigRead(seen, None, err)


# -- the child ---------------------------------------------------------------------


def _mapping_proxy(values: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(values)


def _reduce_mapping_proxy(
    proxy: MappingProxyType[Any, Any],
) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _mapping_proxy, (dict(proxy),)


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[MappingProxyType] = _reduce_mapping_proxy  # the directives' line numbers


def _dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return buffer.getvalue()


def _frames(read: ConfigRead) -> list[bytes]:
    config = read.config
    chunks: list[bytes] = []
    head_config = None
    if config is not None:
        virtuals = config.virtuals
        chunks = [_dumps(virtuals[i : i + CHUNK]) for i in range(0, len(virtuals), CHUNK)]
        head_config = dataclasses.replace(config, virtuals=())
    error = read.error
    error_fields = (
        None
        if error is None
        else (error.path, error.line, error.message, error.warnings, error.logfile)
    )
    head = _dumps((shape(), read.digest, head_config, error_fields, read.unreadable, len(chunks)))
    return [head, *chunks]


def child_main(argv: list[str]) -> int:
    """In the child: `PATH DEBUG` -> frames on standard output."""
    path, debug = argv[0], argv[1] == "1"
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    gc.disable()  # a short-lived process: the collector would only cost time
    out = sys.stdout.buffer
    for frame in _frames(read_config(path, FileLoader(debug))):
        out.write(_FRAME.pack(len(frame)))
        out.write(frame)
    out.flush()
    return 0


_BOOT = (
    "import sys; sys.path[:0] = [sys.argv[1]]; "
    "from ldirectord_py.daemon.config_read import child_main; "
    "sys.exit(child_main(sys.argv[2:]))"
)


def child_command(path: str, loader: FileLoader) -> list[str]:
    """This interpreter, isolated from the environment's Python settings (-I),
    importing this package from where the daemon imported it."""
    root = str(Path(__file__).resolve().parents[2])
    return [sys.executable, "-I", "-c", _BOOT, root, path, "1" if loader.debug else "0"]


# -- the parent --------------------------------------------------------------------


class ChildFailed(Exception):
    """The child could not run or did not answer in the protocol."""


_PIPE_MODULES = ("ldirectord_py.config.model", "ldirectord_py.config.errors")
"""Where the classes of the values on the pipe live."""


@functools.cache
def shape() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The fields of the dataclasses and the members of the enums of `_PIPE_MODULES`
    as this interpreter has them. A child started after a package upgrade imports
    the new ones: its values would miss fields the running daemon reads (or carry
    unknown ones), so the parent takes nothing from a child of another shape."""
    classes = []
    for module_name in _PIPE_MODULES:
        for name, value in sorted(vars(importlib.import_module(module_name)).items()):
            if not isinstance(value, type) or value.__module__ != module_name:
                continue
            if dataclasses.is_dataclass(value):
                parts = tuple((f.name, str(f.type)) for f in dataclasses.fields(value))
            elif issubclass(value, enum.Enum):
                parts = tuple((m.name, repr(m.value)) for m in value)
            else:
                continue
            classes.append((f"{module_name}.{name}", parts))
    return tuple(classes)


_BUILTIN_VALUES = frozenset({set, frozenset, complex, bytearray})
"""The builtin types a pickle may name (the others have opcodes of their own)."""


class _Unpickler(pickle.Unpickler):
    """Only the value classes of `_PIPE_MODULES` (dataclasses and enums, already
    imported here), `ipaddress` classes and a few builtin value types: nothing
    callable else (no `eval`, no function reached through a module's names), and
    no module imported for the pipe's sake."""

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed(module, name)
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not expected from a config reader")
        return found

    @staticmethod
    def _allowed(module: str, name: str) -> Any:
        loaded = sys.modules.get(module)
        if loaded is None or "." in name or name.startswith("__"):
            return None
        found = getattr(loaded, name, None)
        if module == "builtins":
            return found if found in _BUILTIN_VALUES else None
        if not isinstance(found, type):
            return found if found is _mapping_proxy else None
        if module == "ipaddress" and found.__module__ == "ipaddress":
            return found
        ours = module in _PIPE_MODULES and found.__module__ == module
        if ours and (dataclasses.is_dataclass(found) or issubclass(found, enum.Enum)):
            return found
        return None


def _loads(data: memoryview) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


async def read_in_child(path: str, loader: FileLoader) -> ConfigRead:
    """`read_config(path, loader)` in a child interpreter (the caller bounds the
    time: on cancellation the child is killed). Raises ChildFailed when the
    child cannot start or breaks the protocol."""
    import asyncio  # here, not at the top: the commands other than `start` never need it

    if not sys.executable:
        raise ChildFailed("no interpreter to start")
    try:
        proc = await asyncio.create_subprocess_exec(
            *child_command(path, loader),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise ChildFailed(f"cannot start {sys.executable}: {err}") from err
    try:
        output, errors = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
        raise
    if proc.returncode != 0:
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ChildFailed(f"the reader exited with status {proc.returncode}: {last[0]}")
    # no collection of the growing configuration meanwhile, and none of it later
    # (offloop.collector_paused); only while unpickling, which makes no cycles:
    # garbage cycles the loop makes while the collector is paused are kept for good
    with collector_paused():
        return await _assemble(memoryview(output))


async def _assemble(data: memoryview) -> ConfigRead:
    """The frames unpickled on the loop, a slice at a time."""
    import asyncio

    frames = []
    pos = 0
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            raise ChildFailed("the reader's output was cut short")
        (size,) = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        if pos + size > len(data):
            raise ChildFailed("the reader's output was cut short")
        frames.append(data[pos : pos + size])
        pos += size
    if not frames:
        raise ChildFailed("the reader sent nothing")
    try:
        child_shape, digest, head, error_fields, unreadable, count = _loads(frames[0])
        if child_shape != shape():
            raise ChildFailed("the reader's ldirectord_py differs from the running one (upgraded?)")
        if len(frames) != 1 + count:
            raise ChildFailed(f"the reader sent {len(frames) - 1} chunks of {count}")
        virtuals: list[Any] = []
        slice_end = time.perf_counter() + UNPICKLE_SLICE
        for frame in frames[1:]:
            virtuals.extend(_loads(frame))
            if time.perf_counter() > slice_end:
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + UNPICKLE_SLICE
        return _read_from(digest, head, error_fields, unreadable, virtuals)
    except ChildFailed:
        raise
    except Exception as err:  # whatever the pipe held: the thread reads the file instead
        raise ChildFailed(f"the reader's output is not readable: {err!r}") from err


def _read_from(
    digest: object, head: object, error_fields: object, unreadable: object, virtuals: list[Any]
) -> ConfigRead:
    """The ConfigRead the head and the chunks describe, each part of its type."""
    if digest is not None and not isinstance(digest, str):
        raise ChildFailed("the reader's digest is not text")
    if unreadable is not None and not isinstance(unreadable, str):
        raise ChildFailed("the reader's reason is not text")
    if head is not None and not isinstance(head, Config):
        raise ChildFailed("the reader's config is not a config")
    if not all(isinstance(v, Virtual) for v in virtuals):
        raise ChildFailed("the reader's virtuals are not virtuals")
    error = None
    if error_fields is not None:
        if not isinstance(error_fields, tuple) or len(error_fields) != 5:
            raise ChildFailed("the reader's error is not a config error")
        path, line, message, warnings, logfile = error_fields
        if not (
            isinstance(path, str)
            and (line is None or isinstance(line, int))
            and isinstance(message, str)
            and isinstance(warnings, tuple)
            and all(isinstance(w, ConfigWarning) for w in warnings)
            and (logfile is None or isinstance(logfile, str))
        ):
            raise ChildFailed("the reader's error is not a config error")
        error = ConfigError(path, line, message)
        error.warnings = warnings
        error.logfile = logfile
    config = None
    if head is not None:
        config = dataclasses.replace(head, virtuals=tuple(virtuals))
    return ConfigRead(digest, config, error, unreadable)
