"""bench/bench_thesis.py's own logic (no training): the budget curve's figures and the validation groups' guard."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from vidssl.errors import VidsslError

_SPEC = importlib.util.spec_from_file_location("bench_thesis", Path(__file__).resolve().parents[1] / "bench/bench_thesis.py")
bench_thesis = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_thesis)


def _entry(linear: float, r1: float) -> dict:
    return {"labels": {"action": {"linear_probe": {"accuracy": linear}, "retrieval": {"R@1": r1}}}}


def _run(out: Path, row: str, seed: int, steps: int, ssl: tuple[float, float] | None,
         inits: dict[str, tuple[float, float]], holdout: str = "test") -> None:
    results = {b: _entry(*v) for b, v in inits.items()}
    if ssl is not None:
        results["ssl"] = _entry(*ssl)
    d = out / f"{row}-seed{seed}"
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({
        "results": results, "variant": {"name": row}, "compare_eval_config": {"holdout": holdout},
        "protocol": {"pretrain_seed": seed, "pretrain_steps": steps, "pretrain_seconds": 60.0 * steps / 100}}))


def test_budget_curve_reads_every_seed_and_the_strongest_baselines(tmp_path):
    for seed, (a, b) in enumerate([(0.50, 0.60), (0.54, 0.62)]):
        _run(tmp_path, "recipe", seed, 500, (a, 0.40), {"random_init": (0.30, 0.20), "random_init_rgb": (0.34, 0.25)})
        _run(tmp_path, "steps6000", seed, 6000, (b, 0.45), {"random_init": (0.30, 0.20)})
        _run(tmp_path, "r2d18_random", seed, 0, None, {"random_init": (0.47, 0.28), "random_init_no_bn_recal": (0.44, 0.31)})
    _run(tmp_path, "steps1000", 0, 1000, (0.99, 0.99), {}, holdout="val")  # scored on validation: not a test figure
    png = bench_thesis.budget_curve(str(tmp_path))
    assert png == tmp_path / "budget_curve.png" and png.stat().st_size > 0
    curve = json.loads((tmp_path / "budget_curve.json").read_text())
    pts = {p["row"]: p for p in curve["points"]}
    assert list(pts) == ["recipe", "steps6000"]
    assert pts["recipe"]["steps"] == 500 and pts["recipe"]["seeds"] == 2 and pts["recipe"]["minutes"] == 5.0
    assert pts["recipe"]["linear"]["mean"] == pytest.approx(52.0)
    assert pts["recipe"]["linear"]["std"] == pytest.approx(2 * 2 ** 0.5)  # ddof=1 over 50 and 54
    assert pts["steps6000"]["linear"]["values"] == [60.0, 62.0]
    assert curve["strongest_random_init"]["linear"] == [pytest.approx(34.0), "random_init_rgb"]
    assert curve["strongest_other_network"]["linear"] == [pytest.approx(47.0), "r2d18_random, random_init"]
    assert curve["strongest_other_network"]["R@1"] == [pytest.approx(31.0), "r2d18_random, random_init_no_bn_recal"]


def test_budget_curve_refuses_a_row_whose_seeds_had_other_budgets(tmp_path):
    _run(tmp_path, "recipe", 0, 500, (0.5, 0.4), {"random_init": (0.3, 0.2)})
    _run(tmp_path, "recipe", 1, 400, (0.5, 0.4), {"random_init": (0.3, 0.2)})
    with pytest.raises(VidsslError, match=r"recipe were pretrained for different numbers of steps \[400, 500\]"):
        bench_thesis.budget_curve(str(tmp_path))
    assert bench_thesis.budget_curve(str(tmp_path / "empty")) is None


def test_a_validation_group_scores_on_validation_and_refuses_a_folder_of_test_runs(tmp_path, monkeypatch):
    seen = {}

    def fake_compare(cfg):  # what run_group asks for, without training
        seen[cfg.variants[0].name] = cfg
        for ext in ("json", "md", "html"):
            (Path(cfg.out_dir) / f"compare.{ext}").write_text("{}")
        return {}

    monkeypatch.setattr(bench_thesis, "compare", fake_compare)
    args = argparse.Namespace(out=str(tmp_path), rows=None, seeds=[0], steps=500, threads=1, cache_dir=None)
    bench_thesis.run_group("width_val", args)
    assert seen["recipe"].eval.holdout == "val" and (tmp_path / "width_val.md").is_file()
    assert {v.name for v in seen["recipe"].variants} == {"recipe", "width05", "r2d18_random"}
    bench_thesis.run_group("shift", args)
    assert seen["recipe"].eval.holdout == "test"
    _run(tmp_path, "recipe", 0, 500, (0.5, 0.4), {}, holdout="test")  # a test run: width_val would re-score it
    with pytest.raises(VidsslError, match=r"group width_val scores on validation folds of train but .*recipe-seed0"):
        bench_thesis.run_group("width_val", args)
    bench_thesis.run_group("shift", args)  # test groups may share the folder with it
