"""Writing the daemon's files in /run (pid file, drained reals) without trusting it.

/run is shared with every other service, and a full one is a normal bad day. A
file is replaced atomically through a temporary name beside it that is created
with O_EXCL|O_NOFOLLOW: a symlink (or anything else) planted at that name is
removed, never followed, so the write can never land on another file. A write
that fails (ENOSPC, EDQUOT, out of inodes) removes its temporary file and raises
OSError: nothing is left behind, and the target keeps its previous content.
"""

from __future__ import annotations

import contextlib
import json
import os

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def replace_file(path: str, data: bytes, tmp_name: str, mode: int = 0o644) -> None:
    """Make `path` hold exactly `data` (readers see the old or the new file, never
    a partial one); `tmp_name` is the temporary file's name in the same directory."""
    tmp = os.path.join(os.path.dirname(path), tmp_name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a leftover or a planted link: unlink never follows it
    fd = os.open(tmp, _CREATE, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def store_json(path: str, data: object) -> None:
    """Keep `data` as one line of JSON in `path` (as replace_file writes it), or
    remove the file when `data` is empty: the drained reals and the VIPs in
    maintenance are kept this way (raises OSError; then nothing changed)."""
    if not data:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    text = json.dumps(data, sort_keys=True) + "\n"
    replace_file(path, text.encode(), f"{os.path.basename(path)}.tmp")
