"""Mutation testing: how much broken code in the modules that decide the numbers the test suite catches.

mutmut (``pip install mutmut==3.8.1``; its settings are ``[tool.mutmut]`` in pyproject.toml) makes
one small change at a time (a mutant: ``<`` for ``<=``, a dropped argument, another constant) in
``vidssl/losses``, ``vidssl/eval/protocols.py``, ``vidssl/checkpoint.py``, ``vidssl/compare.py`` and
the resume checks of ``vidssl/engine.py``, and runs the tests that reach the changed function. A
mutant is *killed* when a test fails (or hangs past mutmut's timeout); one that *survives* is
broken code the suite lets through. Each survivor is either killed by a new test or listed in
``EQUIVALENT`` below with the reason it cannot change behaviour (an equivalent mutant), and the
kill rate is killed / (mutants - equivalent ones).

    .venv/bin/python bench/mutation.py [--run] [--jobs 2] [--out bench/mutation.md]

``--run`` runs mutmut first (it resumes: mutants already decided are kept; delete ``mutants/`` to
start over); without it the summary is made from the results in ``mutants/``. Test processes run
one torch thread each (``VIDSSL_TEST_THREADS=1``): mutmut forks them from one warmed-up process,
and a forked child of a process whose OpenMP pool has started can hang. Not part of CI: the
whole run takes hours on two cores.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

# module -> the functions in scope (None: all of them)
SCOPE: dict[str, set[str] | None] = {
    "vidssl.losses.*": None,
    "vidssl.eval.protocols": None,
    "vidssl.checkpoint": None,
    "vidssl.compare": None,
    "vidssl.engine": {"_trim_log", "_flat", "check_same_run", "check_resume"},  # the resume checks
}

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code)
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "crashed", -9: "crashed"}

# Survivors that cannot change what the code does, with the reason (reviewed one by one).
_CPU = ("CPU-equivalent: names the device of a tensor that is already on it; differs only with tensors on a "
        "GPU, which the test suite (CPU only) cannot have")
EQUIVALENT: dict[str, str] = {
    "vidssl.losses.infonce.x_info_nce__mutmut_28": "F.normalize's default dim is 1, the dim given",
    "vidssl.losses.infonce.x_info_nce__mutmut_33": _CPU,
    "vidssl.losses.ntxent.x_nt_xent__mutmut_35": 'float("-INF") is float("-inf")',
    "vidssl.losses.ntxent.x_nt_xent__mutmut_37": _CPU,
    "vidssl.losses.ntxent.x_nt_xent__mutmut_26": "F.normalize's default dim is 1, the dim given",
    "vidssl.losses.infonce.x_info_nce__mutmut_47": _CPU,
    "vidssl.losses.infonce.x_info_nce__mutmut_49": 'float("-INF") is float("-inf")',
    "vidssl.losses.infonce.x_info_nce__mutmut_57": _CPU,
    "vidssl.losses.infonce.x_info_nce__mutmut_68": _CPU,
    "vidssl.losses.infonce.x_info_nce__mutmut_71": _CPU,
    "vidssl.losses.byol.x_byol_loss__mutmut_11": ("torch autocasts cosine_similarity to float32 by itself, so the "
                                                  "autocast-off block changes nothing (tested: the loss under bf16 "
                                                  "autocast matches float64)"),
    "vidssl.losses.byol.x_byol_loss__mutmut_12": "as mutmut_11",
    "vidssl.losses.byol.x_byol_loss__mutmut_23": "F.cosine_similarity's default dim is 1, the dim given",
    "vidssl.compare.x__pretrain_asked__mutmut_9": ("pop(name) without a default raises only for a key the config "
                                                   "lacks, and every key of _HOW_IT_RUNS is a config field"),
    "vidssl.compare.x_format_header__mutmut_3": ("runs is never empty (compare has at least one row and seed), and "
                                                 "with none both versions fail at min() of no seconds"),
    "vidssl.compare.x__pretrain_supervised__mutmut_9": ("progress=None is falsy like False: no progress bar either "
                                                        "way (tested: no data is opened with a bar)"),
    "vidssl.compare.x__random_inits__mutmut_57": "as x__pretrain_supervised__mutmut_9",
    "vidssl.compare.x__eval_want__mutmut_4": ('renamed the "data" key of a redundant override (to_dict already nests '
                                              "the data config under data); the override was removed after the run"),
    "vidssl.compare.x__eval_want__mutmut_5": "as x__eval_want__mutmut_4",
    "vidssl.compare.x_paired_differences__mutmut_89": 'float("NAN") is float("nan")',
    "vidssl.compare.x_paired_differences__mutmut_99": 'float("NAN") is float("nan")',
    "vidssl.compare.x_paired_differences__mutmut_92": "with one seed std is already nan, and nan / sqrt(1) is nan",
    "vidssl.compare.x_paired_differences__mutmut_95": "as mutmut_92",
    "vidssl.compare.x_paired_differences__mutmut_126": ("with one seed se is nan, and |mean| > 2 nan is False: "
                                                        "never clear either way"),
    "vidssl.engine.x_check_same_run__mutmut_23": ('"steps" is in diff only when the two step counts differ, so '
                                                  "new >= old is new > old there"),
    "vidssl.engine.x_check_same_run__mutmut_46": 'as mutmut_23: diff == ["steps"] means the step counts differ',
    "vidssl.eval.protocols.x_knn_classify__mutmut_19": "np.argsort's default axis is the last, 1 for these 2-d arrays",
    "vidssl.eval.protocols.x_knn_classify__mutmut_30": ("np.take_along_axis's default axis is the last, 1 for these "
                                                        "2-d arrays"),
    "vidssl.eval.protocols.x_knn_classify__mutmut_40": ("one more column of votes that no neighbour fills: every "
                                                        "weight is exp(.) > 0, so it is never the argmax"),
    "vidssl.eval.protocols.x_retrieval_recall__mutmut_16": "np.argsort's default axis is the last, 1 for these 2-d arrays",
}


# Survivors of the last mutmut run that a test added after it kills, each checked by applying the mutant
# by hand and running that test (mutmut picks a mutant's tests from its last full stats run, which
# predates these tests). The next full run (delete mutants/) counts them as killed.
KILLED_BY_NEWER_TESTS: dict[str, str] = {
    "vidssl.compare.x_format_paired__mutmut_26": "tests/test_compare_tables.py::test_paired_differences_include_fine_tuning_when_both_rows_have_it",
    "vidssl.compare.x_format_paired__mutmut_34": "tests/test_compare_tables.py::test_paired_differences_include_fine_tuning_when_both_rows_have_it",
    "vidssl.engine.x_check_resume__mutmut_15": "tests/test_engine.py::test_resume_refusals_name_the_run_and_its_checkpoint",
    "vidssl.engine.x_check_resume__mutmut_16": "tests/test_engine.py::test_resume_refusals_name_the_run_and_its_checkpoint",
    "vidssl.losses.infonce.x_info_nce__mutmut_1": "tests/losses/test_infonce.py::test_default_temperature_is_mocos_0_07",
}


def split_name(key: str) -> tuple[str, str]:
    """``vidssl.compare.x_summarise__mutmut_3`` -> (``vidssl.compare``, ``summarise``)."""
    func_part = key.split("__mutmut_")[0]
    module, _, mangled = func_part.rpartition(".")
    if mangled.startswith("xǁ"):  # a method: xǁClassǁname
        _, cls, name = mangled.split("ǁ")
        return module, f"{cls}.{name}"
    return module, mangled[2:]  # x_name


def in_scope(module: str, func: str) -> bool:
    for pattern, funcs in SCOPE.items():
        if fnmatch.fnmatch(module, pattern):
            return funcs is None or func in funcs
    return False


def results() -> dict[str, int | None]:
    """Every in-scope mutant and its exit code (None: not checked yet)."""
    out = {}
    for meta in sorted((ROOT / "mutants").rglob("*.meta")):
        for key, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            if in_scope(*split_name(key)):
                out[key] = code
    return out


def status(key: str, code: int | None) -> str:
    if key in EQUIVALENT:
        return "equivalent"
    if code == 0 and key in KILLED_BY_NEWER_TESTS:
        return "killed"
    if code is None:
        return "not checked"
    return KILLED.get(code, "survived" if code == 0 else f"exit {code}")


def diff(key: str) -> str:
    r = subprocess.run([str(MUTMUT), "show", key], cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))]
    return "\n".join(lines) or r.stdout.strip()


def summary(res: dict[str, int | None], seconds: float | None) -> str:
    by_module: dict[str, Counter] = {}
    for key, code in res.items():
        module = split_name(key)[0]
        by_module.setdefault(module, Counter())[status(key, code)] += 1
    total = Counter()
    for c in by_module.values():
        total.update(c)

    def rate(c: Counter) -> str:
        caught = c["killed"] + c["timeout"] + c["crashed"]
        judged = sum(c.values()) - c["equivalent"] - c["not checked"]
        return f"{100 * caught / judged:.1f} %" if judged else "-"

    cols = ["killed", "timeout", "survived", "equivalent", "not checked"]
    lines = [
        "# Mutation testing",
        "",
        f"Made by `bench/mutation.py` on {time.strftime('%Y-%m-%d')} ({platform.node() or 'this machine'}, "
        f"{os.cpu_count()} cores; mutmut {_mutmut_version()}, `--max-children` as run, one torch thread per test "
        "process)" + (f"; the mutmut run took {seconds / 60:.0f} min." if seconds else "."),
        "",
        ("A mutant is one small change to the code; it is *killed* when a test that reaches the changed function "
        "fails (or hangs: *timeout*). The kill rate is (killed + timeout) / (mutants - equivalent - not checked). "
        "In scope: `vidssl/losses`, `vidssl/eval/protocols.py`, `vidssl/checkpoint.py`, `vidssl/compare.py`, and "
        "the resume checks of `vidssl/engine.py` (`check_resume`, `check_same_run`, `_flat`, `_trim_log`)."),
        "",
        "| module | mutants | " + " | ".join(cols) + " | kill rate |",
        "|---|---|" + "---|" * len(cols) + "---|",
    ]
    for module, c in sorted(by_module.items()):
        lines.append(f"| `{module}` | {sum(c.values())} | " + " | ".join(str(c[k]) for k in cols) + f" | {rate(c)} |")
    lines.append(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[k]) for k in cols)
                 + f" | **{rate(total)}** |")
    survivors = [k for k, v in res.items() if status(k, v) == "survived"]
    equivalent = [k for k in res if k in EQUIVALENT]
    lines += ["", f"## Surviving mutants ({len(survivors)})", ""]
    if not survivors:
        lines.append("None.")
    for key in survivors:
        lines += [f"- `{key}`", "", "  ```diff", *("  " + ln for ln in diff(key).splitlines()), "  ```"]
    later = [k for k, v in res.items() if v == 0 and k in KILLED_BY_NEWER_TESTS]
    lines += ["", f"## Killed by tests added after the last mutmut run ({len(later)}), checked by hand", ""]
    for key in later:
        lines += [f"- `{key}`: `{KILLED_BY_NEWER_TESTS[key]}`"]
    lines += ["", f"## Equivalent mutants ({len(equivalent)}): survivors that cannot change behaviour", ""]
    for key in equivalent:
        lines += [f"- `{key}`: {EQUIVALENT[key]}", "", "  ```diff", *("  " + ln for ln in diff(key).splitlines()),
                  "  ```"]
    return "\n".join(lines) + "\n"


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="store_true", help="run mutmut first (resumes what is in mutants/)")
    p.add_argument("--jobs", type=int, default=2, help="mutmut --max-children (default: 2)")
    p.add_argument("--out", default=str(ROOT / "bench" / "mutation.md"))
    args = p.parse_args(argv)
    if not MUTMUT.exists():
        print(f"skipped: {MUTMUT} not found (pip install mutmut==3.8.1)")
        return 0
    seconds = None
    if args.run:
        env = {**os.environ, "VIDSSL_TEST_THREADS": "1", "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        subprocess.run([str(MUTMUT), "run", "--max-children", str(args.jobs)], cwd=ROOT, env=env, check=False)
        seconds = time.perf_counter() - t0
    res = results()
    if not res:
        print("no mutmut results in mutants/: run with --run first")
        return 1
    text = summary(res, seconds)
    Path(args.out).write_text(text)
    print(text.split("## Surviving")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
