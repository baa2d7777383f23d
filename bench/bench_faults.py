"""Fault suite: kill it, stop it, fill the disk, damage its files, feed it garbage, run two at once.

Every fault is injected on purpose into a real ``vidssl`` command (tiny synthetic configs,
and real ucf101-9 clips copied into a temporary folder), and counted. A run "ended as it
should" when it resumed or redid the work to the expected result, was refused with a
one-line message, or skipped the bad file (reported once) and went on. "Lost" counts
files that a fault left half-written or changed where a good one was, or that the next
run could not rebuild.

Commands run in forked children of this process (vidssl imported once, then ``cli.main``
in the child: the same code as the ``vidssl`` console script, without its import time),
so that hundreds of runs take minutes. Prints one table; writes the details as JSON.

    .venv/bin/python bench/bench_faults.py [--kills 20 --kills-other 8] [--seed 0] [--out runs/bench_faults.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vidssl import checkpoint
from vidssl.data.index import read_manifest
from vidssl.errors import VidsslError
from vidssl.eval.embed import load_embeddings

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"
TINY = ["--synthetic-train-per-class", "3", "--synthetic-test-per-class", "2", "--synthetic-frames", "8",
        "--synthetic-size", "20", "--clip-frames", "4", "--crop-size", "16", "--width", "0.0625", "--head-hidden", "32",
        "--proj-dim", "16", "--batch-size", "8", "--temporal-shift", "2", "--warmup-steps", "2", "--threads", "1",
        "--no-progress", "--deterministic", "--log-every", "1"]
REAL = ["--dataset", "folder", "--cache-short-side", "20", "--crop-size", "16", "--clip-frames", "4", "--stride", "2",
        "--width", "0.0625", "--head-hidden", "32", "--proj-dim", "16", "--batch-size", "4", "--temporal-shift", "2",
        "--warmup-steps", "2", "--threads", "1", "--no-progress", "--log-every", "1"]
EVAL = ["--knn-k", "3", "--recall-ks", "1", "5", "--no-progress"]


# ---------------------------------------------------------------- running commands in forked children


def start(argv: list[str], log: Path, limit_bytes: int | None = None) -> int:
    """Fork a child that runs ``vidssl argv`` with stdout and stderr in ``log``; returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        if limit_bytes is not None:  # a full disk: writes past the limit fail with EFBIG
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))
        from vidssl.cli import main

        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 (a crash of the command: its traceback is the evidence)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait(pid: int, timeout: float = 300) -> int:
    end = time.time() + timeout
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def run(argv: list[str], log: Path, limit_bytes: int | None = None) -> tuple[int, str]:
    rc = wait(start(argv, log, limit_bytes))
    return rc, log.read_text(errors="replace")


def kill_after(argv: list[str], log: Path, delay: float, sig: int = signal.SIGKILL) -> bool:
    """Run ``argv`` and send ``sig`` after ``delay`` s; False if it had finished by then."""
    pid = start(argv, log)
    end = time.time() + delay
    while time.time() < end:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
        time.sleep(0.005)
    os.kill(pid, sig)
    os.waitpid(pid, 0)
    return True


def wait_for(pred: Callable[[], bool], pid: int, timeout: float = 120) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        if os.waitpid(pid, os.WNOHANG)[0]:
            raise RuntimeError("the child ended before the awaited moment")
        time.sleep(0.005)
    return False


def nonempty(path: Path) -> Callable[[], bool]:
    return lambda: path.is_file() and path.stat().st_size > 0


def one_line_error(out: str, *fragments: str) -> bool:
    """The output holds exactly one error line, it holds every fragment, and there is no traceback."""
    errors = [x for x in out.splitlines() if x.startswith("vidssl: error:")]
    return len(errors) == 1 and "Traceback" not in out and all(f in errors[0] for f in fragments)


# ---------------------------------------------------------------- checking files


def pt_ok(path: Path) -> bool:
    try:
        checkpoint.load(path)
        return True
    except VidsslError:
        return False


def json_ok(path: Path) -> bool:
    try:
        json.loads(path.read_text())
        return True
    except (OSError, ValueError):
        return False


def npz_ok(path: Path) -> bool:
    try:
        load_embeddings(path)
        return True
    except VidsslError:
        return False


def npy_ok(path: Path) -> bool:
    try:
        a = np.load(path, mmap_mode="r")
        return a.offset + a.nbytes == path.stat().st_size
    except (OSError, ValueError):
        return False


def png_ok(path: Path) -> bool:
    return path.read_bytes().endswith(b"IEND\xaeB`\x82")


def manifest_ok(path: Path) -> bool:
    lines = path.read_text().splitlines()
    return len(read_manifest(path)) == len(lines)


CHECKS = {".pt": pt_ok, ".json": json_ok, ".npz": npz_ok, ".npy": npy_ok, ".png": png_ok, ".jsonl": manifest_ok,
          ".html": lambda p: p.read_text().rstrip().endswith("</html>")}


def damaged_files(root: Path) -> list[str]:
    """Files under ``root`` at their final names (not hidden temporaries) that do not read back whole."""
    bad = []
    for p in root.rglob("*"):
        final = p.is_file() and not p.name.startswith(".") and p.suffix in CHECKS and p.name != "train_log.jsonl"
        if final and not CHECKS[p.suffix](p):
            bad.append(str(p))
    return bad


def weights(path: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(path)["model"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def damage(path: Path, rng: random.Random, how: str | None = None) -> str:
    """Flip 1-16 random bits, truncate at a random byte, or overwrite 8 bytes with 0xFF (``how``)."""
    data = bytearray(path.read_bytes())
    how = how or rng.choice(["flip", "truncate"])
    if how == "flip":
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == "truncate":
        data = data[: rng.randrange(len(data) - 1)]
    else:
        i = rng.randrange(len(data) - 8)
        data[i : i + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return how


# ---------------------------------------------------------------- the suite


class Suite:
    def __init__(self, work: Path, seed: int, kills: int, kills_other: int) -> None:
        self.work, self.rng, self.kills, self.kills_other = work, random.Random(seed), kills, kills_other
        self.rows: dict[str, dict] = {}
        self.n = 0

    def tmp(self, name: str) -> Path:
        self.n += 1
        return self.work / f"t{self.n:04d}-{name}"

    def log(self) -> Path:
        self.n += 1
        return self.work / "logs" / f"{self.n:04d}.log"

    def record(self, fault: str, ok: bool, lost: int = 0, note: str = "") -> None:
        row = self.rows.setdefault(fault, {"tried": 0, "ok": 0, "lost": 0, "failures": []})
        row["tried"] += 1
        row["ok"] += bool(ok)
        row["lost"] += lost
        if not ok and len(row["failures"]) < 5:
            row["failures"].append(note[-800:])
        print(f"  {fault}: {'ok' if ok else 'FAILED'}{'' if ok else ' ' + note[-300:]}", flush=True)

    def timed(self, argv: list[str]) -> tuple[float, str]:
        t0 = time.perf_counter()
        rc, out = run(argv, self.log())
        if rc != 0:
            raise RuntimeError(f"reference run {argv} failed:\n{out}")
        return time.perf_counter() - t0, out

    # ------------------------------------------------------------ references

    def setup(self) -> None:
        (self.work / "logs").mkdir(parents=True)
        self.cache = self.work / "cache"
        self.tiny = [*TINY, "--cache-dir", str(self.cache)]
        self.pre = lambda out, steps=12: ["pretrain", "--out", str(out), *self.tiny, "--steps", str(steps),
                                          "--checkpoint-every", "2"]
        self.base = self.work / "base"
        self.t_pre, _ = self.timed(self.pre(self.base))
        self.t_pre, _ = self.timed(self.pre(self.work / "base-again"))  # data generated: the time of a run
        self.ref30 = self.work / "ref30"
        self.timed(self.pre(self.ref30, 30))
        self.ckpt = self.base / "checkpoints/last.pt"
        self.t_eval, _ = self.timed(["eval", str(self.ckpt), "--out", str(self.base), *EVAL])
        self.ft_ref = self.work / "ft-ref"
        shutil.copytree(self.base, self.ft_ref)
        self.ft = lambda run: ["finetune", str(run), "--steps", "8", "--batch-size", "8", "--checkpoint-every", "2",
                               "--clips-per-video", "1", "--no-progress"]
        self.t_ft, _ = self.timed(self.ft(self.ft_ref))
        self.emb_ref = self.work / "ref.npz"
        self.emb = lambda out: ["embed", str(self.ckpt), "--out", str(out), "--split", "all", "--no-progress"]
        self.t_emb, _ = self.timed(self.emb(self.emb_ref))
        rep = self.work / "rep-ref"
        shutil.copytree(self.base, rep)
        self.t_rep, _ = self.timed(["report", str(rep), "--no-progress"])
        # real video: 3 classes x 4 recordings, and a larger folder for the index
        self.real = self.work / "real"
        picks = {}
        for cls in ("ApplyEyeMakeup", "Archery", "BabyCrawling"):
            for g in range(1, 5):
                src = UCF9 / "videos" / cls / f"v_{cls}_g{g:02d}_c01.avi"
                (self.real / cls).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, self.real / cls / src.name)
                picks[src] = cls
        self.real_pre = lambda out, cache, steps=3: ["pretrain", "--out", str(out), *REAL, "--root", str(self.real),
                                                     "--cache-dir", str(cache), "--steps", str(steps)]
        self.cache_ref = self.work / "cache-ref"
        self.t_cache, _ = self.timed(self.real_pre(self.work / "real-run", self.cache_ref))
        self.real_ckpt = self.work / "real-run/checkpoints/last.pt"
        self.timed(["eval", str(self.real_ckpt), "--out", str(self.work / "real-run"), *EVAL])  # fills every entry
        self.entries = {p.name: p.read_bytes() for p in (self.cache_ref / "frames").glob("*.npy")}
        self.big = self.work / "big"
        for src in sorted((UCF9 / "videos").glob("*/*_c02.avi"))[:60]:
            (self.big / src.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(src, self.big / src.parent.name / src.name)
        self.idx_ref = self.work / "big-index.jsonl"
        self.t_idx, _ = self.timed(["index", str(self.big), "--out", str(self.idx_ref), "--no-progress"])
        print(f"reference times (s): pretrain {self.t_pre:.1f}, eval {self.t_eval:.1f}, finetune {self.t_ft:.1f}, "
              f"embed {self.t_emb:.1f}, report {self.t_rep:.1f}, cache build {self.t_cache:.1f}, "
              f"index {self.t_idx:.1f}", flush=True)

    # ------------------------------------------------------------ kill -9 at random moments

    def kill_trials(self, fault: str, n: int, t_ref: float, prepare: Callable[[Path], list[str]],
                    after_kill: Callable[[Path], list[str]], finished: Callable[[Path, str], str]) -> None:
        """``n`` kills of the command ``prepare(dir)`` returns, at uniform random moments of its reference
        duration; then its files are checked (``after_kill``: damaged ones) and it is run again
        (``finished``: "" when the rerun's result is the uninterrupted run's, else why not)."""
        done, attempts = 0, 0
        while done < n and attempts < 3 * n:
            attempts += 1
            d = self.tmp(fault.split()[2])
            argv = prepare(d)
            if not kill_after(argv, self.log(), self.rng.uniform(0.02, 0.95) * t_ref):
                continue
            done += 1
            bad = after_kill(d)
            rc, out = run(argv, self.log())
            why = f"rerun exit {rc}: {out}" if rc else finished(d, out)
            self.record(fault, not bad and not why, len(bad), f"{bad} {why}")

    def kills_all(self) -> None:
        k = self.kills
        self.kill_trials(
            "kill -9: pretrain", k, self.t_pre, lambda d: [*self.pre(d), "--resume"], damaged_files,
            lambda d, out: "" if same_weights(d / "checkpoints/last.pt", self.ckpt) else "weights differ from an "
            "uninterrupted run")

        def cache_argv(d: Path) -> list[str]:
            return ["eval", str(self.real_ckpt), "--out", str(d / "eval"), *EVAL, "--cache-dir", str(d / "cache")]

        def cache_same(d: Path, out: str) -> str:
            got = {p.name: p.read_bytes() for p in (d / "cache/frames").glob("*.npy")}
            return "" if got == self.entries else f"cache entries differ ({len(got)} vs {len(self.entries)})"

        t_build, _ = self.timed(cache_argv(self.work / "cache-build-ref"))  # eval with an empty cache
        self.kill_trials("kill -9: frame-cache building (eval)", self.kills_other, t_build, cache_argv,
                         damaged_files, cache_same)

        ref_records = read_manifest(self.idx_ref)
        self.kill_trials(
            "kill -9: index", self.kills_other, self.t_idx,
            lambda d: ["index", str(self.big), "--out", str(d / "m.jsonl"), "--no-progress"],
            lambda d: damaged_files(d) if d.exists() else [],
            lambda d, out: "" if read_manifest(d / "m.jsonl") == ref_records else "manifest differs")

        ref_results = json.loads((self.base / "results.json").read_text())["results"]
        self.kill_trials(
            "kill -9: eval", self.kills_other, self.t_eval,
            lambda d: ["eval", str(self.ckpt), "--out", str(d), *EVAL],
            lambda d: damaged_files(d) if d.exists() else [],
            lambda d, out: "" if json.loads((d / "results.json").read_text())["results"] == ref_results
            else "results differ from an uninterrupted run")

        ref_ft = json.loads((self.ft_ref / "results.json").read_text())["finetune"]["results"]

        def ft_prepare(d: Path) -> list[str]:
            if not d.exists():
                shutil.copytree(self.base, d)
            return self.ft(d)

        def ft_same(d: Path, out: str) -> str:
            got = json.loads((d / "results.json").read_text())["finetune"]["results"]
            strip = {n: {k: v for k, v in r.items() if k != "seconds"} for n, r in got.items()}
            want = {n: {k: v for k, v in r.items() if k != "seconds"} for n, r in ref_ft.items()}
            left = list((d / "checkpoints").glob("finetune-*.pt"))
            return "" if strip == want and not left else f"fine-tuning differs: {strip} vs {want}, left {left}"

        self.kill_trials("kill -9: finetune", self.kills_other, self.t_ft, ft_prepare, damaged_files, ft_same)

        ref_emb = load_embeddings(self.emb_ref).features
        self.kill_trials(
            "kill -9: embed", self.kills_other, self.t_emb, lambda d: (d.mkdir(exist_ok=True), self.emb(d / "e.npz"))[1],
            damaged_files, lambda d, out: "" if np.array_equal(load_embeddings(d / "e.npz").features, ref_emb)
            else "embeddings differ")

        def rep_prepare(d: Path) -> list[str]:
            if not d.exists():
                shutil.copytree(self.base, d)
            return ["report", str(d), "--no-progress"]

        self.kill_trials("kill -9: report", self.kills_other, self.t_rep, rep_prepare, damaged_files,
                         lambda d, out: "" if CHECKS[".html"](d / "report.html") else "no whole report.html")

    # ------------------------------------------------------------ SIGTERM

    def sigterm(self, n: int) -> None:
        for _ in range(n):
            d = self.tmp("sigterm")
            argv = [*self.pre(d, 30), "--checkpoint-every", "10"]
            log = self.log()
            pid = start(argv, log)
            wait_for(nonempty(d / "train_log.jsonl"), pid)
            time.sleep(self.rng.uniform(0, 0.5))
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGTERM)
            rc = wait(pid)
            took = time.perf_counter() - t0
            out = log.read_text()
            if rc == 0:  # finished before the signal arrived
                continue
            step = checkpoint.load(d / "checkpoints/last.pt")["step"] if pt_ok(d / "checkpoints/last.pt") else None
            ok = rc == 143 and took < 5 and one_line_error(out, "SIGTERM", f"step {step} ", "--resume", "vidssl pretrain")
            why = f"exit {rc} after {took:.1f} s, checkpoint step {step}: {out}"
            if ok:
                rc2, out2 = run([*argv, "--resume"], self.log())
                ok = rc2 == 0 and same_weights(d / "checkpoints/last.pt", self.ref30 / "checkpoints/last.pt")
                why = f"resume exit {rc2}, same weights: {ok} {out2}"
            self.record("SIGTERM: pretrain (checkpoint, resume command, exit 143 within 5 s)", ok,
                        len(damaged_files(d)), why)

    # ------------------------------------------------------------ failed writes (RLIMIT_FSIZE)

    def full_disk(self, n: int) -> None:
        def trial(kind: str, d: Path, argv: list[str], keep: list[Path], low: int, high: int) -> None:
            before = {p: p.read_bytes() for p in keep}
            limit = self.rng.randint(low, high)
            rc, out = run(argv, self.log(), limit_bytes=limit)
            lost = sum(p.read_bytes() != b for p, b in before.items()) + len(damaged_files(d))
            names = [x for x in out.splitlines() if x.startswith("vidssl: error:") and str(d) in x]
            ok = rc == 2 and one_line_error(out, "could not write") and bool(names) and not lost
            self.record(f"full disk: {kind}", ok, lost, f"limit {limit} exit {rc}: {out}")

        for _ in range(n):
            d = self.tmp("fsize-ckpt")
            shutil.copytree(self.base, d)
            last = d / "checkpoints/last.pt"
            trial("checkpoint (pretrain --resume)", d, [*self.pre(d, 14), "--resume", "--extend-steps"],
                  [last], 4096, last.stat().st_size - 1)
            d = self.tmp("fsize-cache")
            shutil.copytree(self.cache_ref, d)
            entries = sorted((d / "frames").glob("*.npy"))
            smallest = min(p.stat().st_size for p in entries[: len(entries) // 2])
            for p in entries[: len(entries) // 2]:
                p.unlink()  # half the entries must be written again
            trial("frame-cache entry", d, ["eval", str(self.real_ckpt), "--out", str(self.tmp("o")), *EVAL,
                                           "--cache-dir", str(d)], entries[len(entries) // 2:], 20000, smallest - 1)
            d = self.tmp("fsize-index")
            d.mkdir()
            shutil.copy(self.idx_ref, d / "m.jsonl")
            with open(d / "m.jsonl", "r+") as f:  # forget the last 10 records: they are probed again
                lines = f.readlines()
                f.seek(0)
                f.truncate()
                f.writelines(lines[:-10])
            trial("manifest (index)", d, ["index", str(self.big), "--out", str(d / "m.jsonl"), "--no-progress"],
                  [d / "m.jsonl"], 500, (d / "m.jsonl").stat().st_size - 1)
            d = self.tmp("fsize-results")
            shutil.copytree(self.base, d)
            trial("results.json (eval)", d, ["eval", str(self.ckpt), "--out", str(d), *EVAL], [d / "results.json"],
                  200, (d / "results.json").stat().st_size - 1)
            d = self.tmp("fsize-embed")
            d.mkdir()
            shutil.copy(self.emb_ref, d / "e.npz")
            trial("embeddings file", d, self.emb(d / "e.npz"), [d / "e.npz"], 200, (d / "e.npz").stat().st_size - 1)

    # ------------------------------------------------------------ damaged files

    def damaged(self, n: int) -> None:
        for _ in range(n):
            d = self.tmp("bad-ckpt")
            shutil.copytree(self.base, d)
            how = damage(d / "checkpoints/last.pt", self.rng)
            rc, out = run([*self.pre(d), "--resume"], self.log())
            intact = rc == 0 and same_weights(d / "checkpoints/last.pt", self.ckpt)  # a flip outside the content
            self.record("damaged checkpoint (pretrain --resume)",
                        intact or (rc == 2 and one_line_error(out, str(d / "checkpoints/last.pt"))), 0, f"{how}: {out}")

            d = self.tmp("bad-manifest")
            d.mkdir()
            shutil.copy(self.idx_ref, d / "m.jsonl")
            how = damage(d / "m.jsonl", self.rng)
            rc, out = run(["index", str(self.big), "--out", str(d / "m.jsonl"), "--no-progress"], self.log())
            rebuilt = rc == 0 and read_manifest(d / "m.jsonl") == read_manifest(self.idx_ref)
            said = "damaged line" in out or how == "truncate"  # a cut at a line end leaves no damaged line
            self.record("damaged manifest (index: rebuilt)", rebuilt and said, 0 if rebuilt else 1, f"{how}: {out}")

            d = self.tmp("bad-entry")
            shutil.copytree(self.cache_ref, d)
            entry = self.rng.choice(sorted((d / "frames").glob("*.npy")))
            how = self.rng.choice(["truncate", "header"])
            if how == "header":  # the .npy header (its first 128 bytes): dtype, shape, order
                data = bytearray(entry.read_bytes())
                data[self.rng.randrange(10, 118)] ^= 1 << self.rng.randrange(7)
                entry.write_bytes(bytes(data))
            else:
                damage(entry, self.rng, "truncate")
            rc, out = run(["eval", str(self.real_ckpt), "--out", str(self.tmp("o")), *EVAL, "--cache-dir", str(d)],
                          self.log())
            rebuilt = rc == 0 and entry.read_bytes() == self.entries[entry.name]
            self.record("damaged frame-cache entry (eval: rebuilt)", rebuilt and "damaged frame-cache entry" in out,
                        0 if rebuilt else 1, f"{how}: {out}")

            d = self.tmp("bad-results")
            shutil.copytree(self.base, d)
            how = damage(d / "results.json", self.rng, self.rng.choice(["truncate", "garbage"]))
            rc, out = run(["report", str(d), "--no-progress"], self.log())
            self.record("damaged results.json (report: refused)", rc == 2 and one_line_error(out, "results.json"), 0,
                        f"{how}: {out}")

            d = self.tmp("bad-emb")
            d.mkdir()
            shutil.copy(self.emb_ref, d / "e.npz")
            how = damage(d / "e.npz", self.rng)
            source = load_embeddings(self.emb_ref).sources[0]
            rc, out = run(["retrieve", source, "--embeddings", str(d / "e.npz"), "-k", "3"], self.log())
            _, want = run(["retrieve", source, "--embeddings", str(self.emb_ref), "-k", "3"], self.log())
            self.record("damaged embeddings file (retrieve: refused)",
                        (rc == 2 and one_line_error(out, "e.npz")) or (rc == 0 and out == want), 0, f"{how}: {out}")

    # ------------------------------------------------------------ fuzzed real clips

    def fuzz(self, per_source: int, sources: int) -> None:
        root = self.tmp("fuzz")
        srcs = sorted((UCF9 / "videos").glob("*/*_c03.avi"))
        srcs = [srcs[i] for i in np.linspace(0, len(srcs) - 1, sources).astype(int)]
        fuzzed = []
        for src in srcs:  # train/: the damaged copies; test/: the intact clip (so that every class can be scored)
            for part in ("train", "test"):
                (root / part / src.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / "test" / src.parent.name / src.name)
            for k in range(per_source):
                p = root / "train" / src.parent.name / f"{src.stem}_f{k}.avi"
                data = bytearray(src.read_bytes())
                how = ("flips", "truncated", "header flips", "garbage block")[k % 4]
                if how == "truncated":
                    data = data[: self.rng.randrange(len(data))]
                elif how == "garbage block":
                    i = self.rng.randrange(len(data) - 4096)
                    data[i : i + 4096] = self.rng.randbytes(4096)
                else:
                    span = 2048 if how == "header flips" else len(data)
                    for _ in range(self.rng.randint(1, 64)):
                        data[self.rng.randrange(span)] ^= 1 << self.rng.randrange(8)
                p.write_bytes(bytes(data))
                fuzzed.append(p)
        rc, out = run(["index", str(root), "--out", str(root / "m.jsonl"), "--no-progress"], self.log())
        records = {r.path: r for r in read_manifest(root / "m.jsonl")} if rc == 0 else {}
        problems = (root / "m.jsonl.problems.tsv").read_text().splitlines()[1:] if rc == 0 else []
        listed = [x.split("\t")[0] for x in problems]
        cache = self.tmp("fuzz-cache")
        rc2, out2 = run(["pretrain", "--out", str(self.tmp("fuzz-run")), *REAL, "--root", str(root), "--cache-dir",
                         str(cache), "--steps", "8", "--batch-size", "16"], self.log())
        ckpt = next(iter(self.work.glob("*fuzz-run/checkpoints/last.pt")), None)
        rc3, out3 = (run(["eval", str(ckpt), "--out", str(self.tmp("fuzz-eval")), *EVAL, "--cache-dir", str(cache)],
                         self.log()) if ckpt else (None, "no checkpoint"))
        skipped = [x for x in (out2 + out3).splitlines() if "skipped an unreadable video" in x]
        for p in fuzzed:
            key = str(p.resolve())
            rec = records.get(key)
            n_listed, n_skipped = listed.count(key), sum(key in x for x in skipped)
            unusable = rec is not None and not rec.usable
            ok = (rc == 0 and rc2 == 0 and rc3 in (0, 2) and rec is not None and "Traceback" not in out + out2 + out3
                  and n_listed == (rec.status != "ok") and n_skipped <= 1 and (rec.reason if unusable else True)
                  and (rc3 == 0 or one_line_error(out3)))
            self.record("fuzzed real clip (byte flips / truncation)", ok, 0,
                        f"{p.name}: index {rc}, record {rec}, listed {n_listed}, skipped {n_skipped}, pretrain {rc2}, "
                        f"eval {rc3}: {(out + out2 + out3)[-600:]}")
        self.fuzz_summary = {"files": len(fuzzed), "reported_by_index": sum(1 for p in fuzzed if str(p.resolve()) in listed),
                             "skipped_while_training": len(skipped), "eval_exit": rc3}
        print(f"  fuzz: {self.fuzz_summary}", flush=True)

    # ------------------------------------------------------------ videos that change under a running job

    def changing(self, n: int) -> None:
        for k in range(n):
            how = ("deleted", "truncated", "replaced")[k % 3]
            d = self.tmp("changing")
            root = d / "videos"
            shutil.copytree(self.real, root / "train")
            for cls in self.real.iterdir():  # a test split of its own, so that every damaged video is a train video
                shutil.copytree(cls, root / "test" / cls.name)
            argv = ["pretrain", "--out", str(d / "run"), *REAL, "--root", str(root), "--cache-dir", str(d / "cache"),
                    "--steps", "40", "--no-frame-cache"]
            log = self.log()
            pid = start(argv, log)
            wait_for(nonempty(d / "run/train_log.jsonl"), pid)
            victim = self.rng.choice(sorted((root / "train").rglob("*.avi")))
            if how == "deleted":
                victim.unlink()
            elif how == "truncated":
                victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
            else:
                other = next(p for p in sorted((root / "train").rglob("*.avi")) if p != victim)
                victim.write_bytes(other.read_bytes()[:4000] + b"\0" * 100)
            rc = wait(pid)
            out = log.read_text()
            reports = sum(str(victim) in x for x in out.splitlines() if "skipped" in x)
            ok = rc == 0 and reports == 1 and "Traceback" not in out and pt_ok(d / "run/checkpoints/last.pt")
            self.record(f"video {how} while pretraining reads it", ok, 0, f"exit {rc}, reported {reports}: {out}")

    # ------------------------------------------------------------ two processes

    def two_processes(self, n: int) -> None:
        for k in range(n):
            d = self.tmp("two")
            argv = [*self.pre(d, 30)]
            log = self.log()
            pid = start(argv, log)
            wait_for(nonempty(d / "train_log.jsonl"), pid)
            second = [*argv, "--resume"] if k % 2 == 0 else ["eval", str(self.ckpt), "--out", str(d), *EVAL]
            rc2, out2 = run(second, self.log())
            rc = wait(pid)
            ok = (rc2 == 2 and one_line_error(out2, "in use by vidssl pretrain (pid", str(d)) and rc == 0
                  and same_weights(d / "checkpoints/last.pt", self.ref30 / "checkpoints/last.pt"))
            self.record(f"second writer on one --out ({second[0]}): refused", ok, len(damaged_files(d)),
                        f"second {rc2}: {out2}; first {rc}: {log.read_text()}")
        for _ in range(max(3, n // 2)):
            d = self.tmp("stale")
            argv = self.pre(d, 30)
            log = self.log()
            pid = start(argv, log)
            wait_for(nonempty(d / ".vidssl.lock"), pid)
            time.sleep(self.rng.uniform(0, 1))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            rc, out = run([*argv, "--resume"], self.log())
            ok = rc == 0 and same_weights(d / "checkpoints/last.pt", self.ref30 / "checkpoints/last.pt")
            self.record("stale lock of a killed run: next run goes on", ok, 0, out)
        for _ in range(max(3, n // 3)):
            d = self.tmp("shared-cache")
            pids = [(start(self.real_pre(d / f"run{i}", d / "cache", 6), log := self.log()), log) for i in range(2)]
            rcs = [wait(p) for p, _ in pids]
            got = {p.name: p.read_bytes() for p in (d / "cache/frames").glob("*.npy")}
            same = all(self.entries.get(name) == b for name, b in got.items())
            ok = rcs == [0, 0] and same and not damaged_files(d)
            self.record("two runs on one frame cache: both finish", ok, 0 if same else 1,
                        f"{rcs}: {[log.read_text() for _, log in pids]}")

    # ------------------------------------------------------------ awkward paths and split files

    def paths(self) -> None:
        base = self.tmp("paths") / "dossier données ü"
        root = base / "vidéos à moi"
        for p in sorted(self.real.rglob("*.avi")):
            dest = root / f"{p.parent.name} été" / p.name.replace(".avi", " ñ.avi")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dest)
        cache, run_dir = base / "cache dir ß", base / "run dir ö"
        ckpt = run_dir / "checkpoints/last.pt"
        steps = [
            ("index", ["index", str(root), "--out", str(base / "index ä.jsonl"), "--no-progress"]),
            ("pretrain", ["pretrain", "--out", str(run_dir), *REAL, "--root", str(root), "--cache-dir", str(cache),
                          "--steps", "3"]),
            ("eval", ["eval", str(ckpt), "--out", str(run_dir), *EVAL]),
            ("finetune", ["finetune", str(run_dir), "--steps", "2", "--batch-size", "4", "--clips-per-video", "1",
                          "--no-progress"]),
            ("embed", ["embed", str(ckpt), "--out", str(base / "emb é.npz"), "--no-progress"]),
            ("report", ["report", str(run_dir), "--no-progress"]),
        ]
        for name, argv in steps:
            rc, out = run(argv, self.log())
            self.record("paths with spaces and non-ASCII characters", rc == 0 and not damaged_files(base), 0,
                        f"{name}: exit {rc}: {out}")

    def split_files(self) -> None:
        for subset in ("train", "test"):
            root = self.tmp("split")
            (root / "videos").mkdir(parents=True)
            classes = sorted(p.name for p in self.real.iterdir())
            (root / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
            lines = {"train": [], "test": []}
            for i, c in enumerate(classes):
                shutil.copytree(self.real / c, root / "videos" / c)
                for p in sorted((root / "videos" / c).glob("*.avi")):
                    g = int(p.stem.split("_g")[1][:2])
                    lines["test" if g == 1 else "train"].append(f"{c}/{p.name}" + (f" {i + 1}" if g != 1 else ""))
            missing = f"{classes[0]}/v_{classes[0]}_g09_c09.avi"
            lines[subset].append(missing + (" 1" if subset == "train" else ""))
            (root / "trainlist01.txt").write_text("\n".join(lines["train"]) + "\n")
            (root / "testlist01.txt").write_text("\n".join(lines["test"]) + "\n")
            argv = ["pretrain", "--out", str(self.tmp("o")), *REAL, "--dataset", "ucf101", "--root", str(root),
                    "--cache-dir", str(self.tmp("c")), "--steps", "2"]
            rc, out = run(argv, self.log())
            self.record("split file naming a missing video: refused", rc == 2 and one_line_error(out, missing), 0, out)


def table(rows: dict[str, dict]) -> str:
    lines = ["| fault | tried | ended as they should | files lost or corrupted |", "|---|---|---|---|"]
    for fault, r in rows.items():
        lines.append(f"| {fault} | {r['tried']} | {r['ok']} | {r['lost']} |")
    total = {k: sum(r[k] for r in rows.values()) for k in ("tried", "ok", "lost")}
    lines.append(f"| **total** | **{total['tried']}** | **{total['ok']}** | **{total['lost']}** |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20, help="kill -9 trials for pretrain")
    ap.add_argument("--kills-other", type=int, default=8, help="kill -9 trials for each other command")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fuzz", type=int, default=10, help="fuzzed copies per real clip (11 clips)")
    ap.add_argument("--out", default="runs/bench_faults.json")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    ap.add_argument("--quick", action="store_true", help="one or two trials of each fault (a smoke test)")
    ap.add_argument("--only", default="", help="comma-separated parts: kills, sigterm, full_disk, damaged, fuzz, "
                    "changing, two, paths, split (default: all)")
    a = ap.parse_args()
    if not UCF9.is_dir():
        print(f"skipped: ../shared/data/ucf101-9 not found (looked at {UCF9})")
        return
    torch.set_num_threads(1)
    os.environ.setdefault("PYTHONWARNINGS", "default")
    work = Path(tempfile.mkdtemp(prefix="vidssl-faults-"))
    t0 = time.perf_counter()
    suite = Suite(work, a.seed, a.kills, a.kills_other)
    try:
        suite.setup()
        q = a.quick
        parts = {"kills": suite.kills_all, "sigterm": lambda: suite.sigterm(2 if q else 8),
                 "full_disk": lambda: suite.full_disk(1 if q else 3), "damaged": lambda: suite.damaged(2 if q else 10),
                 "fuzz": lambda: suite.fuzz(a.fuzz, 3 if q else 11), "changing": lambda: suite.changing(3 if q else 6),
                 "two": lambda: suite.two_processes(2 if q else 6), "paths": suite.paths, "split": suite.split_files}
        for name, part in parts.items():
            if not a.only or name in a.only.split(","):
                part()
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder: {work}")
    seconds = time.perf_counter() - t0
    print(f"\n{table(suite.rows)}\n\n{sum(r['tried'] for r in suite.rows.values())} faults in {seconds:.0f} s")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"rows": suite.rows, "fuzz": getattr(suite, "fuzz_summary", None),
                                       "seconds": round(seconds, 1), "seed": a.seed, "kills": a.kills, "kills_other": a.kills_other,
                                       "command": " ".join(sys.argv), "only": a.only or "all"}, indent=2) + "\n")


if __name__ == "__main__":
    main()
