"""autoreload and callback: notice that the config file changed on disk.

Like the original's check_cfgfile: a cheap stat first, and only when that
changed, an MD5 of the content; a change is reported only if the content
differs from the last known digest. After each (re)load attempt the baseline is
the content just read, good or broken, so nothing fires on the first pass and a
fix to a broken file is noticed whenever it lands (the original forgets the
digest and can miss a fix written within one interval). We compare the stat in nanoseconds (and
size, inode and device), where the original compares whole-second mtimes, so
two edits within one second, or a file replaced by rename, are not missed.
"""

from __future__ import annotations

import hashlib
import os
import stat

_Signature = tuple[int, int, int, int]


def require_regular_file(path: str) -> None:
    """Raise OSError unless `path` is a regular file: opening a FIFO (or a device)
    put where the config was would block the daemon's loop until a writer came."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise OSError(f"{path} is not a regular file")


def file_digest(path: str) -> str:
    """MD5 hex of the file's bytes (raises OSError, also for a non-regular file)."""
    md5 = hashlib.md5(usedforsecurity=False)
    require_regular_file(path)
    with open(path, "rb", opener=_nonblocking) as fh:
        for chunk in iter(lambda: fh.read(65536), b""):
            md5.update(chunk)
    return md5.hexdigest()


class ConfigWatcher:
    def __init__(self, path: str) -> None:
        self.path = path
        self._signature: _Signature | None = None
        self._digest: str | None = None

    def rebase(self, digest: str | None) -> None:
        """Start over after a (re)load: `digest` is the content just loaded, if known."""
        self._signature = None
        self._digest = digest or None

    def poll(self) -> bool:
        """True if the content changed since the baseline; raises OSError if the file
        changed but cannot be read (the caller warns, as the original does)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        signature = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        if signature == self._signature:
            return False
        self._signature = signature  # a failure below is reported once, not every second
        digest = file_digest(self.path)
        changed = self._digest is not None and digest != self._digest
        self._digest = digest
        return changed


def _nonblocking(path: str, flags: int) -> int:
    """Open without blocking even if a FIFO replaced the file after the stat."""
    return os.open(path, flags | os.O_NONBLOCK)
