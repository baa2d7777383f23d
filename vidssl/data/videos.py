"""Datasets of video files: a folder of videos, UCF101 and HMDB51 with their official splits.

All implement :class:`vidssl.data.base.VideoDataset` with one label set, ``"class"``,
and decode on the fly with their ``decoder`` (PyAV by default; see
:mod:`vidssl.data.decoders`; wrap them in :class:`vidssl.data.cache.CachedVideoDataset`
to decode each video once).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidssl.data import decode
from vidssl.data.decoders import get_decoder
from vidssl.data.index import find_videos
from vidssl.errors import VidsslError


class VideoList:
    """Videos given as file paths, with one integer label each (-1: unlabelled).

    frames: known frame counts (e.g. from an index); unknown ones are probed on first use.
    short_side: frames are resized so that ``min(H, W) == short_side`` (None: as stored).
    decoder: the decoding backend, ``"pyav"`` | ``"decord"`` (:mod:`vidssl.data.decoders`).
    split_rule: how these videos were separated from the other split, in words (recorded
    in the evaluation protocol).
    """

    split_rule: str = "as given"

    def __init__(
        self,
        paths: Sequence[str | Path],
        labels: Sequence[int],
        class_names: list[str],
        name: str,
        frames: Sequence[int] | None = None,
        short_side: int | None = None,
        decoder: str = "pyav",
    ) -> None:
        get_decoder(decoder)  # unknown or not installed: say so now, not in a DataLoader worker
        if len(labels) != len(paths):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths = [str(p) for p in paths]
        self.labels = {"class": np.asarray(labels, dtype=np.int64).reshape(-1)}
        self.class_names = {"class": list(class_names)}
        self.name = name
        self.frames = list(frames) if frames is not None else [None] * len(self.paths)
        self.short_side = short_side
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.paths)

    def num_frames(self, i: int) -> int:
        if self.frames[i] is None:
            self.frames[i] = decode.probe(self.paths[i]).frames
        return self.frames[i]

    def read_frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        """``(len(indices), H, W, 3)`` uint8 RGB frames of video ``i``."""
        return get_decoder(self.decoder).read_frames(self.paths[i], indices, self.short_side)

    def source(self, i: int) -> str:
        return self.paths[i]

    def subset(self, keep: Sequence[int], name: str | None = None) -> VideoList:
        """The videos at positions ``keep``, labels and known frame counts carried over."""
        keep = list(keep)
        out = VideoList([self.paths[i] for i in keep], self.labels["class"][keep].tolist(),
                        self.class_names["class"], name or self.name, [self.frames[i] for i in keep], self.short_side,
                        self.decoder)
        out.split_rule = self.split_rule
        return out


class VideoFolder(VideoList):
    """Every video under ``root``: labelled by class subfolder, or unlabelled (-1) if flat.

    With class subfolders (``root/<class>/**/*.mp4``), classes are the sorted names of
    the subfolders holding videos; videos directly in ``root`` are then unlabelled.
    ``class_names`` fixes the class list (e.g. the union over train/ and test/).
    """

    def __init__(self, root: str | Path, short_side: int | None = None, class_names: list[str] | None = None,
                 name: str | None = None, decoder: str = "pyav") -> None:
        root = Path(root)
        files = find_videos(root)
        if not files:
            raise VidsslError(f"no videos found under {root} (looked for {', '.join(decode.VIDEO_EXTENSIONS)})")
        top = [f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1 else None for f in files]
        classes = class_names if class_names is not None else sorted({t for t in top if t is not None})
        lookup = {c: k for k, c in enumerate(classes)}
        labels = [lookup.get(t, -1) if t is not None else -1 for t in top]
        super().__init__(files, labels, classes, name or root.name, short_side=short_side, decoder=decoder)


def _video_dir(root: Path) -> Path:
    return root / "videos" if (root / "videos").is_dir() else root


def _read_lines(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise VidsslError(f"split file {path} not found; point --root at the dataset folder holding its split files")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip()]


def _resolve(video_dir: Path, rel: str, where: str) -> Path:
    p = video_dir / rel
    if p.is_file():
        return p
    # the official lists and archives disagree on case in a few names (HandStandPushups)
    matches = [q for q in p.parent.glob("*") if q.name.lower() == p.name.lower()] if p.parent.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    raise VidsslError(f"{where} names {rel}, but {p} does not exist; the download may be incomplete")


def ucf101(root: str | Path, split: int = 1, subset: str = "train", short_side: int | None = None,
           decoder: str = "pyav") -> VideoList:
    """UCF101 official split ``split`` (1-3), ``subset`` "train" or "test".

    Reads ``root/classInd.txt`` ("1 ApplyEyeMakeup"), ``trainlist0k.txt`` ("path label")
    and ``testlist0k.txt`` ("path"); paths are relative to ``root/videos`` if it exists,
    else to ``root``. The class of a video is its folder in the path.
    """
    root = Path(root)
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    classes: dict[str, int] = {}
    ind = root / "classInd.txt"
    for n, parts in _read_lines(ind):
        if len(parts) != 2 or not parts[0].isdigit():
            raise VidsslError(f"{ind}:{n}: expected '<index> <class>', got {' '.join(parts)!r}")
        classes[parts[1]] = int(parts[0]) - 1
    names = [c for c, _ in sorted(classes.items(), key=lambda kv: kv[1])]
    lst = root / f"{subset}list{split:02d}.txt"
    video_dir, paths, labels = _video_dir(root), [], []
    for n, parts in _read_lines(lst):
        where = f"{lst}:{n}"
        cls = parts[0].split("/")[0] if parts else ""
        if len(parts) != (2 if subset == "train" else 1) or "/" not in parts[0] or cls not in classes:
            want = "'<Class>/<file> <label>'" if subset == "train" else "'<Class>/<file>'"
            raise VidsslError(f"{where}: expected {want} with a class from {ind}, got {' '.join(parts)!r}")
        if subset == "train" and (not parts[1].isdigit() or int(parts[1]) - 1 != classes[cls]):
            raise VidsslError(f"{where}: label {parts[1]!r} does not match class {cls} ({classes[cls] + 1} in {ind})")
        paths.append(_resolve(video_dir, parts[0], where))
        labels.append(classes[cls])
    return VideoList(paths, labels, names, f"ucf101-s{split}-{subset}", short_side=short_side, decoder=decoder)


def hmdb51(root: str | Path, split: int = 1, subset: str = "train", short_side: int | None = None,
           decoder: str = "pyav") -> VideoList:
    """HMDB51 official split ``split`` (1-3), ``subset`` "train" or "test".

    Split files ``<class>_test_split<k>.txt`` (in ``root``, ``root/splits`` or
    ``root/testTrainMulti_7030_splits``) hold lines "name.avi 0|1|2": 1 train, 2 test,
    0 unused. Videos are ``<video dir>/<class>/<name>``, the video dir being
    ``root/videos`` if it exists, else ``root``.
    """
    root = Path(root)
    code = {"train": "1", "test": "2"}.get(subset)
    if code is None:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    suffix = f"_test_split{split}.txt"
    dirs = [root, root / "splits", root / "testTrainMulti_7030_splits"]
    files = next((sorted(d.glob(f"*{suffix}")) for d in dirs if d.is_dir() and any(d.glob(f"*{suffix}"))), [])
    if not files:
        raise VidsslError(f"no HMDB51 split files '*{suffix}' in {', '.join(map(str, dirs))}; "
                          "unpack test_train_splits.rar into the dataset root")
    names = [f.name[: -len(suffix)] for f in files]
    video_dir, paths, labels = _video_dir(root), [], []
    for k, (f, cls) in enumerate(zip(files, names)):
        for n, parts in _read_lines(f):
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise VidsslError(f"{f}:{n}: expected '<video> 0|1|2', got {' '.join(parts)!r}")
            if parts[1] == code:
                paths.append(_resolve(video_dir, f"{cls}/{parts[0]}", f"{f}:{n}"))
                labels.append(k)
    return VideoList(paths, labels, names, f"hmdb51-s{split}-{subset}", short_side=short_side, decoder=decoder)


UCF_GROUP_PATTERN = r"_g(\d+)_c\d+"  # v_Class_g08_c01.avi: clips c01, c02... cut from recording g08


def recording_groups(paths: Sequence[str], pattern: str | None = None) -> list[str] | None:
    """The recording group of each video, from its file name; None if they cannot be found.

    ``pattern`` is a regex whose first group names the group, searched in the file name;
    it must match every video. Without one, UCF101/HMDB-style ``_gNN_cNN`` names are used
    when every video has one.
    """
    regex = re.compile(pattern or UCF_GROUP_PATTERN)
    if regex.groups < 1:
        raise VidsslError(f"--group-pattern {pattern!r} has no (group): its first group must name the recording group")
    found = [regex.search(Path(p).name) for p in paths]
    missing = [p for p, m in zip(paths, found) if m is None]
    if missing and pattern:
        raise VidsslError(f"--group-pattern {pattern!r} does not match {len(missing)} of {len(paths)} file names, "
                          f"e.g. {Path(missing[0]).name}")
    if missing or not paths:
        return None
    return [m.group(1) for m in found]


def stratified_split(ds: VideoList, seed: int = 0, test_fraction: float = 0.3,
                     group_pattern: str | None = None) -> tuple[VideoList, VideoList]:
    """Deterministic per-class split: about ``test_fraction`` of each class go to test.

    Clips cut from one recording (UCF101 groups, or ``group_pattern``; see
    :func:`recording_groups`) are near-duplicates, so when groups are found whole groups
    go to one side: within a class, groups ordered by a hash of (seed, class, group) go to
    test while that brings the class's test count closer to ``round(test_fraction * n)``.
    Without groups, each video is its own group (with a warning). The split depends on
    nothing but the seed and names, and adding videos moves few others. Unlabelled
    videos (-1) form one class. The rule used is the returned datasets' ``split_rule``.
    """
    groups = recording_groups(ds.paths, group_pattern)
    how = f"by recording group ({group_pattern or UCF_GROUP_PATTERN} in file names)"
    if groups is None:
        warnings.warn(f"{ds.name}: no recording groups in the file names, so the {1 - test_fraction:.0%}/"
                      f"{test_fraction:.0%} split is per video and clips of one recording may land on both sides; "
                      "declare groups with --group-pattern REGEX", stacklevel=2)
        groups = [f"{Path(p).parent.name}/{Path(p).name}" for p in ds.paths]
        how = "per video (no recording groups found)"
    test = []
    y = ds.labels["class"]
    for c in np.unique(y):
        members: dict[str, list[int]] = {}
        for i in np.flatnonzero(y == c).tolist():
            members.setdefault(groups[i], []).append(i)
        target = round(test_fraction * sum(len(m) for m in members.values()))
        taken = 0
        for g in sorted(members, key=lambda g: _hash(seed, f"{c}/{g}")):
            if abs(taken + len(members[g]) - target) < abs(taken - target):
                test += members[g]
                taken += len(members[g])
    test_set = set(test)
    train = [i for i in range(len(ds)) if i not in test_set]
    out = ds.subset(train, f"{ds.name}-train"), ds.subset(sorted(test), f"{ds.name}-test")
    for part in out:
        part.split_rule = f"per class {1 - test_fraction:.0%}/{test_fraction:.0%} {how}, seed {seed}"
    return out


def _hash(seed: int, key: str) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def keep_classes(ds: VideoList, classes: str) -> VideoList:
    """The videos of ``ds`` whose class is one of ``classes`` (comma-separated names), labelled 0..k-1 in that order."""
    names = [c.strip() for c in classes.split(",") if c.strip()]
    have = ds.class_names["class"]
    unknown = [c for c in names if c not in have]
    if unknown or not names or len(set(names)) != len(names):
        raise VidsslError(f"--classes {classes!r}: {'unknown class ' + ', '.join(unknown) if unknown else 'give distinct names'}"
                          f"; {ds.name} has {', '.join(have)}")
    new = {have.index(c): i for i, c in enumerate(names)}
    keep = [i for i, y in enumerate(ds.labels["class"]) if int(y) in new]
    out = VideoList([ds.paths[i] for i in keep], [new[int(ds.labels["class"][i])] for i in keep], names,
                    f"{ds.name}[{len(names)} classes]", [ds.frames[i] for i in keep], ds.short_side, ds.decoder)
    out.split_rule = f"{ds.split_rule}, classes {', '.join(names)} only"
    return out


def open_video_dataset(data, *, split_seed: int = 0, progress: bool = True) -> tuple:
    """(train, test) video datasets for a :class:`vidssl.config.DataConfig`.

    dataset "folder": ``root/train`` and ``root/test`` if both exist, else
    :func:`stratified_split` of ``root`` (70/30 per class, by ``split_seed``);
    "ucf101" / "hmdb51": official split ``data.split``. The datasets' ``split_rule`` says which. Every video is indexed once
    (:func:`vidssl.data.index.index_dataset`, resumable, kept under ``data.cache_dir``);
    videos that cannot be decoded are dropped with one warning naming the problem list.
    Frames are decoded by ``data.decoder``, resized to ``data.cache_short_side`` and, with
    ``data.frame_cache``, read from the frame cache (filled as videos are first read; see :mod:`vidssl.data.cache`).
    """
    import warnings

    from vidssl.data.cache import CachedVideoDataset
    from vidssl.data.index import default_index_path, index_dataset
    from vidssl.data.synthetic import default_cache_dir

    if not data.root:
        raise VidsslError(f"--dataset {data.dataset} needs --root: the folder holding the videos")
    root, side = Path(data.root), data.cache_short_side
    if not root.is_dir():
        raise VidsslError(f"--root {root} is not a directory")
    get_decoder(data.decoder)  # unknown or not installed: one line saying what to install, before any indexing
    if data.crop_size > side:
        raise VidsslError(f"--crop-size {data.crop_size} is larger than the frames' short side {side}; "
                          f"use --crop-size <= {side} or --cache-short-side >= {data.crop_size}")
    if data.dataset == "folder":
        if (root / "train").is_dir() and (root / "test").is_dir():
            classes = sorted({p.name for d in ("train", "test") for p in (root / d).iterdir() if p.is_dir()})
            train = VideoFolder(root / "train", side, classes, f"{root.name}-train", data.decoder)
            test = VideoFolder(root / "test", side, classes, f"{root.name}-test", data.decoder)
            train.split_rule = test.split_rule = "the train/ and test/ folders as given"
        else:
            everything = VideoFolder(root, side, decoder=data.decoder)
            if (everything.labels["class"] < 0).all():  # nothing can be scored: pretrain on every video
                train, test = everything, everything.subset([], f"{root.name}-test")
                train.name = f"{root.name}-all"
                train.split_rule = test.split_rule = "no split: every video is unlabelled, so all of them pretrain"
            else:
                train, test = stratified_split(everything, split_seed, group_pattern=data.group_pattern)
                for part in (train, test):
                    if len(part) == 0:
                        raise VidsslError(
                            f"the 70/30 split of {root} by recording group left {part.name} empty: every video of a "
                            "class shares one recording group (names like _g01_c01 are read as groups); put the "
                            "videos in train/ and test/ folders, or name the groups with --group-pattern REGEX")
    elif data.dataset in ("ucf101", "hmdb51"):
        make = ucf101 if data.dataset == "ucf101" else hmdb51
        train, test = (make(root, data.split, part, side, data.decoder) for part in ("train", "test"))
        train.split_rule = test.split_rule = f"official {data.dataset} split {data.split}"
    else:
        raise VidsslError(f"unknown dataset {data.dataset!r}; choose one of: synthetic, folder, ucf101, hmdb51")

    if data.classes:
        train, test = (keep_classes(ds, data.classes) for ds in (train, test))
    report = index_dataset(train.paths + test.paths, default_index_path(root, data.cache_dir),
                           min_frames=data.clip_frames, progress=progress)
    by_path = {r.path: r for r in report.records}
    out, dropped, left_out = [], 0, []
    for ds in (train, test):
        recs = [by_path[str(Path(p).resolve())] for p in ds.paths]
        keep = [i for i, r in enumerate(recs) if r.usable]
        dropped += len(ds) - len(keep)
        gone: dict[str, int] = {}
        for r in recs:
            if not r.usable:
                gone[r.status] = gone.get(r.status, 0) + 1
        left_out.append((len(ds), gone))
        ds = ds.subset(keep)
        ds.frames = [recs[i].frames for i in keep]
        out.append(ds)
    if dropped:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts().items()) if s not in ("ok", "too_short"))
        warnings.warn(f"skipped {dropped} of {len(report.records)} videos that cannot be decoded ({counts}); "
                      f"files and reasons: {report.problems}", stacklevel=2)
    for ds, (listed, _) in zip(out, left_out):
        if len(ds) == 0 and listed > 0:
            raise VidsslError(f"no usable videos left in {ds.name}: all {listed} cannot be decoded; see {report.problems}")
    span = (data.clip_frames - 1) * data.stride + 1
    looped = [sum(f < span for f in ds.frames) for ds in out]
    for ds, n, (listed, gone) in zip(out, looped, left_out):  # recorded in results.json by evaluation
        ds.accounting = {"videos_listed": listed, "videos_used": len(ds), "videos_left_out": gone,
                         "videos_looped": n, "clip_span_frames": span}
    if sum(looped):
        total = sum(len(ds) for ds in out)
        shortest = min(min(ds.frames) for ds in out if len(ds))
        warnings.warn(f"{sum(looped)} of {total} videos are shorter than a clip's span ({data.clip_frames} frames at "
                      f"stride {data.stride} = {span} frames; the shortest has {shortest}): their clips loop back to "
                      "the start. Lower --clip-frames or --stride to avoid that", stacklevel=2)
    if data.frame_cache:
        cache = Path(data.cache_dir or default_cache_dir()) / "frames"
        out = [CachedVideoDataset(ds, cache, side) for ds in out]
    return out[0], out[1]
