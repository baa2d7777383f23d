"""One writer per output folder: an advisory lock (``fcntl.flock``) on ``<folder>/.vidssl.lock``.

A second process that would write the same folder (two ``vidssl pretrain --out X``, or an
``eval --out X`` while X trains) is refused with a message naming the holder. The kernel
drops a flock when its holder exits, however it exits, so a lock left by a killed process
never blocks the next run. Within one process the lock is re-entrant (``demo`` pretrains
and evaluates in the folder it holds).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from vidssl.errors import VidsslError
from vidssl.io import ensure_writable_dir

LOCK_NAME = ".vidssl.lock"
_held: dict[str, list] = {}  # resolved folder -> [open lock file, depth]


@contextlib.contextmanager
def out_dir_lock(folder: str | Path, command: str, *, create: bool = True) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; :class:`VidsslError` if another process holds it.

    ``create``: make the folder if it is missing (else a missing folder is left to the
    command, which says what it expected there, and nothing is locked).
    """
    folder = Path(folder)
    if not folder.is_dir():
        if not create:
            yield
            return
        ensure_writable_dir(folder)
    key = str(folder.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    path = folder / LOCK_NAME
    f = _open_lock_file(path)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise VidsslError(f"{folder} is in use by {holder} (lock {path}); wait for it to finish, or choose "
                          "another output folder") from None
    f.seek(0)
    f.truncate()
    f.write(f"vidssl {command} (pid {os.getpid()})\n")
    f.flush()
    _held[key] = [f, 1]
    try:
        yield
    finally:
        _held.pop(key)
        f.close()  # releases the flock


def _open_lock_file(path: Path):
    """Open (or create) the lock file without following a link: in a shared runs folder, a link planted
    as ``.vidssl.lock`` would otherwise make vidssl truncate whatever file it points to."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise VidsslError(f"{path} is a symbolic link, not vidssl's lock file; remove it and run again") from None
        raise VidsslError(f"cannot create the lock file {path} ({e.strerror or e}); check the folder's permissions") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise VidsslError(f"{path} is not a regular file, so it is not vidssl's lock file; remove it and run again")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "r+")


def holds_out_dir(command: str, where: Callable[..., str | Path | None], *, create: bool = True) -> Callable:
    """Decorator: call the function holding the lock of the folder ``where(*args, **kw)`` (None: no lock)."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def locked(*args, **kw):
            folder = where(*args, **kw)
            if folder is None:
                return fn(*args, **kw)
            with out_dir_lock(folder, command, create=create):
                return fn(*args, **kw)

        return locked

    return wrap
