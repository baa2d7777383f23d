"""Index a video collection: probe every file once, record what is usable and why not.

The manifest is JSON Lines, one :class:`IndexRecord` per file, in the order the files
were given. While scanning, each result is appended (and flushed) to
``<manifest>.partial``, so an index killed half-way resumes from there; at the end the
manifest is written atomically and the partial file removed. A record is reused while
the file's size and modification time are unchanged. Files that cannot be used are
listed, with the reason, in ``<manifest>.problems.tsv``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from vidssl.data.decode import VideoError, file_key, is_video_file, probe
from vidssl.errors import VidsslError
from vidssl.io import append_line, atomic_write

USABLE = ("ok", "too_short")  # too_short clips are looped by clip sampling


@dataclass
class IndexRecord:
    """One file of the index. status: ok | too_short | missing | empty | unreadable | no_video."""

    path: str
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    duration_s: float = 0.0
    has_audio: bool = False
    codec: str = ""
    status: str = "ok"
    reason: str = ""
    size: int = 0
    mtime_ns: int = 0

    @property
    def usable(self) -> bool:
        return self.status in USABLE


@dataclass
class IndexReport:
    """The records of an index, with where its manifest and problem list were written."""

    manifest: Path
    problems: Path
    records: list[IndexRecord] = field(default_factory=list)
    probed: int = 0  # files probed in this run (the rest came from a previous run)

    @property
    def bad(self) -> list[IndexRecord]:
        return [r for r in self.records if r.status != "ok"]

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.records))

    def summary(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        return f"{len(self.records)} files ({counts}); manifest {self.manifest}, problems {self.problems}"


def default_index_path(root: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Where the index of the videos under ``root`` is kept: ``<cache>/index/<name>-<hash>.jsonl``."""
    from vidssl.data.synthetic import default_cache_dir

    root = Path(root).resolve()
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    return Path(cache_dir or default_cache_dir()) / "index" / f"{root.name}-{digest}.jsonl"


def find_videos(root: str | Path) -> list[Path]:
    """Every video file under ``root`` (recursive, sorted, hidden files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise VidsslError(f"{root} is not a directory; give a folder of videos")
    return sorted(p for p in root.rglob("*") if is_video_file(p) and p.is_file())


def _check(fields: dict) -> str:
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def record_line(rec: IndexRecord) -> str:
    """One manifest line: the record's fields and a checksum of them (``check``)."""
    fields = asdict(rec)
    return json.dumps({**fields, "check": _check(fields)}) + "\n"


def read_manifest(path: str | Path) -> list[IndexRecord]:
    """Records of a manifest or partial file. A torn last line (killed writer) and damaged lines
    (not JSON, or not matching their checksum) are skipped, so those files are probed again;
    damaged lines in a manifest (written atomically, so never torn) are reported in one warning."""
    out, damaged = [], 0
    with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                fields = json.loads(line)
                check = fields.pop("check", None)  # manifests written before checksums have none
                if check is not None and check != _check(fields):
                    raise ValueError("checksum mismatch")
                out.append(IndexRecord(**fields))
            except (ValueError, TypeError, AttributeError):
                damaged += 1
    if damaged and not str(path).endswith(".partial"):  # a partial file's torn last line marks a kill, not damage
        warnings.warn(f"{path}: {damaged} damaged line(s) skipped; those files are probed again", stacklevel=2)
    return out


def probe_record(path: str | Path, min_frames: int = 1) -> IndexRecord:
    """Probe one file into a record; never raises for a bad video."""
    path = str(Path(path).resolve())
    try:
        _, size, mtime = file_key(path)
    except OSError as e:
        return IndexRecord(path, status="missing", reason=f"cannot read the file ({e.strerror or e})")
    try:
        info = probe(path)
    except VideoError as e:
        return IndexRecord(path, status=e.status, reason=e.reason, size=size, mtime_ns=mtime)
    rec = IndexRecord(path, info.frames, info.fps, info.width, info.height, info.duration_s, info.has_audio,
                      info.codec, size=size, mtime_ns=mtime)
    return _with_length_check(rec, min_frames)


def _with_length_check(rec: IndexRecord, min_frames: int) -> IndexRecord:
    if rec.status in USABLE:
        short = rec.frames < min_frames
        rec.status = "too_short" if short else "ok"
        rec.reason = f"{rec.frames} frames, fewer than the clip length {min_frames}" if short else ""
    return rec


def index_dataset(
    source: str | Path | Sequence[str | Path],
    out_path: str | Path,
    *,
    min_frames: int = 1,
    progress: bool = True,
    resume: bool = True,
) -> IndexReport:
    """Probe every video of a folder (or of a list of files) and write the manifest.

    min_frames: clips shorter than this are reported as ``too_short`` (still usable).
    resume: reuse records of ``out_path`` and of its ``.partial`` file for unchanged files.
    """
    files = find_videos(source) if isinstance(source, (str, Path)) else list(source)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    known: dict[str, IndexRecord] = {}
    if resume:
        for rec in read_manifest(out_path) + read_manifest(partial):
            known[rec.path] = rec
    else:
        partial.unlink(missing_ok=True)

    records, probed = [], 0
    with open(partial, "ab", buffering=0) as log, tqdm(total=len(files), desc="index", unit="video", disable=not progress,
                                          mininterval=1.0) as bar:
        for f in files:
            path = str(Path(f).resolve())
            rec = known.get(path)
            if rec is None or not _unchanged(rec):
                rec = probe_record(path, min_frames)
                append_line(log, record_line(rec), partial)  # a killed index keeps every record written so far
                probed += 1
            records.append(_with_length_check(rec, min_frames))
            bar.update()

    with atomic_write(out_path, "w") as f:
        f.writelines(record_line(r) for r in records)
    report = IndexReport(out_path, out_path.with_name(out_path.name + ".problems.tsv"), records, probed)
    with atomic_write(report.problems, "w") as f:
        f.write("path\tstatus\treason\n")
        f.writelines(f"{r.path}\t{r.status}\t{r.reason}\n" for r in report.bad)
    partial.unlink(missing_ok=True)
    return report


def _unchanged(rec: IndexRecord) -> bool:
    try:
        st = os.stat(rec.path)
    except OSError:
        return rec.status == "missing"
    return rec.status != "missing" and (st.st_size, st.st_mtime_ns) == (rec.size, rec.mtime_ns)
