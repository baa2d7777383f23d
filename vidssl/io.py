"""Atomic file writes: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from vidssl.errors import VidsslError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: reading it means setting it, which is not thread-safe


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a file handle; on success the file appears at ``path`` whole, else not at all."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise VidsslError(f"could not write {path}: {e.strerror or e}; check free disk space and permissions") from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def append_line(f: IO[bytes], line: str, path: str | Path) -> None:
    """Append ``line`` to the log ``f``, open on ``path`` unbuffered (``open(path, "ab", buffering=0)``): a kill
    keeps every line written so far, and a failed write leaves nothing buffered for ``close`` to fail on again."""
    data = line.encode()
    try:
        while data:
            data = data[f.write(data):]
    except OSError as e:
        raise VidsslError(f"could not write {path}: {e.strerror or e}; check free disk space and permissions") from e


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".vidssl-write-test-{os.getpid()}"  # per process: ranks check the same dir
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise VidsslError(
            f"output directory {path} is not writable ({e.strerror or e}); choose another with --out"
        ) from e
    return path
