import dataclasses
import json

import pytest

from vidssl.compare import CompareConfig, compare, format_table
from vidssl.config import EvalConfig, FinetuneConfig
from vidssl.errors import VidsslError


def _cfg(tiny_pretrain, tmp_path, **kw):
    pre = dataclasses.replace(tiny_pretrain, steps=3, model=dataclasses.replace(tiny_pretrain.model, input="residual"))
    return CompareConfig(out_dir=str(tmp_path / "cmp"), methods=("simclr",), seeds=(0, 1), pretrain=pre,
                         eval=EvalConfig(knn_k=3, recall_ks=(1, 5), progress=False), **kw)


def test_compare_runs_every_seed_beside_both_baselines_and_resumes(tiny_pretrain, tmp_path):
    cfg = _cfg(tiny_pretrain, tmp_path)
    report = compare(cfg)
    rows = {r["backbone"]: r for r in report["summary"]}
    # residual input: the RGB random init too; random init with and without BN recalibration
    assert set(rows) == {"ssl", "random_init", "random_init_rgb", "random_init_no_bn_recal", "random_init_rgb_no_bn_recal"}
    assert rows["ssl"]["seeds"] == 2 and len(rows["ssl"]["linear"]["values"]) == 2
    per_run = json.loads((tmp_path / "cmp" / "simclr-seed1" / "results.json").read_text())
    assert per_run["pretrain_config"]["seed"] == 1 and per_run["protocol"]["input"] == "residual"
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert md.startswith("# vidssl compare: 1 row x 2 seeds\n") and format_table(report["summary"]) + "\n" in md
    assert "- Data: synthetic, 24 train / 16 test videos" in md and "6 pretraining steps" not in md
    assert "3 pretraining steps of 8 clips per run" in md and "± is the standard deviation over seeds" in md
    assert "| simclr | random init, RGB, initial BN statistics | 2 |" in md
    # a second call finds every run done: nothing is trained or evaluated again
    ck = tmp_path / "cmp" / "simclr-seed0" / "checkpoints" / "last.pt"
    res = tmp_path / "cmp" / "simclr-seed0" / "results.json"
    before = (ck.stat().st_mtime_ns, res.stat().st_mtime_ns)
    again = compare(cfg)
    assert (ck.stat().st_mtime_ns, res.stat().st_mtime_ns) == before
    assert again["summary"] == report["summary"]
    # where the evaluation runs does not redo it; what it measures does (without retraining)
    compare(dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, threads=1, device="cpu")))
    assert (ck.stat().st_mtime_ns, res.stat().st_mtime_ns) == before
    for changed in ({"knn_k": 2}, {"data": dataclasses.replace(tiny_pretrain.data, stride=2)}):
        compare(dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, **changed)))
        assert ck.stat().st_mtime_ns == before[0] and res.stat().st_mtime_ns != before[1], changed
        recorded = json.loads(res.read_text())["compare_eval_config"]
        assert recorded["knn_k"] == changed.get("knn_k", 3) and (recorded["data"] is None) == ("data" not in changed)
        before = (ck.stat().st_mtime_ns, res.stat().st_mtime_ns)
    compare(cfg)  # back to the first settings (evaluated again), for what follows
    # a compare folder moved elsewhere is still done: its runs are found, not trained again
    moved = tmp_path / "moved"
    (tmp_path / "cmp").rename(moved)
    files = [moved / "simclr-seed0" / "checkpoints" / "last.pt", moved / "simclr-seed0" / "results.json"]
    before = [f.stat().st_mtime_ns for f in files]
    assert compare(dataclasses.replace(cfg, out_dir=str(moved)))["summary"] == report["summary"]
    assert [f.stat().st_mtime_ns for f in files] == before  # neither trained nor evaluated again
    moved.rename(tmp_path / "cmp")
    # the gain is read against the strongest random-init row, metric by metric
    for name, g in report["gains"]["simclr"].items():
        base = {b: r[name]["mean"] for b, r in rows.items() if b.startswith("random_init") and name in r}
        assert g["against"] == max(base, key=base.get)
        assert g["gain"] == pytest.approx(rows["ssl"][name]["mean"] - max(base.values()))
    assert "SSL minus the strongest random init: linear" in md
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert f"{rows['ssl']['linear']['mean']:.1f} ± {rows['ssl']['linear']['std']:.1f}" in page
    assert "random init, RGB, initial BN statistics" in page and "simclr-seed1" in page


def test_compare_fine_tunes_again_only_when_the_fine_tuning_config_changes(tiny_pretrain, tmp_path):
    ft = FinetuneConfig(steps=2, batch_size=8, clips_per_video=1, progress=False)
    cfg = dataclasses.replace(_cfg(tiny_pretrain, tmp_path), seeds=(0,), finetune=ft)
    first = compare(cfg)
    res = tmp_path / "cmp" / "simclr-seed0" / "results.json"
    stamp = res.stat().st_mtime_ns
    assert compare(cfg)["summary"] == first["summary"] and res.stat().st_mtime_ns == stamp  # same config: kept
    compare(dataclasses.replace(cfg, finetune=dataclasses.replace(ft, lr=3e-3)))  # another lr: fine-tuned again
    assert json.loads(res.read_text())["finetune"]["config"]["lr"] == 3e-3
    stamp = res.stat().st_mtime_ns  # the first lr again: its fine-tuning was kept beside the second, not redone
    again = compare(cfg)
    assert res.stat().st_mtime_ns == stamp and again["summary"] == first["summary"]
    assert [e["config"]["lr"] for e in json.loads(res.read_text())["finetunes"]] == [1e-3, 3e-3]
    # a comparison that asks for no fine-tuning shows none (whose settings it could not name), and loses none
    assert all("fine-tuned" not in row for row in compare(dataclasses.replace(cfg, finetune=None))["summary"])
    assert "fine-tuned" in next(r for r in first["summary"] if r["backbone"] == "ssl")
    assert len(json.loads(res.read_text())["finetunes"]) == 2


def test_compare_refuses_bad_settings(tiny_pretrain, tmp_path):
    with pytest.raises(VidsslError, match="unknown method"):
        compare(dataclasses.replace(_cfg(tiny_pretrain, tmp_path), methods=("simclr", "nope")))
    with pytest.raises(VidsslError, match="holdout val"):  # fine-tuning scores on test: never while choosing
        compare(CompareConfig(
            out_dir=str(tmp_path / "c2"), pretrain=tiny_pretrain, eval=EvalConfig(holdout="val"),
            finetune=FinetuneConfig(steps=2)))
    with pytest.raises(VidsslError, match="seeds must differ"):
        compare(dataclasses.replace(_cfg(tiny_pretrain, tmp_path), seeds=(1, 1)))


def test_random_inits_are_evaluated_once_per_network_seed_and_evaluation(tiny_pretrain, tmp_path, monkeypatch):
    import hashlib

    from vidssl import api
    from vidssl.compare import _random_inits

    calls, real = [], api.evaluate_backbones

    def count(backbones, *args, **kw):
        calls.append(sorted(backbones))
        return real(backbones, *args, **kw)

    monkeypatch.setattr(api, "evaluate_backbones", count)
    ecfg = EvalConfig(knn_k=3, recall_ks=(1,), progress=False)
    first = _random_inits(tmp_path, tiny_pretrain, ecfg, rgb=True)
    assert calls == [["random_init"], ["random_init_rgb"], ["random_init_no_bn_recal"], ["random_init_rgb_no_bn_recal"]]
    assert [first[k]["bn_recalibration_clips"] > 0 for k in first] == [True, True, False, False]
    (cached,) = (tmp_path / "baselines").glob("*.json")
    key = json.loads(cached.read_text())["key"]
    # the key: what the scores depend on, nothing of where they ran; the file is named by its hash
    assert set(key) == {"model", "seed", "rgb", "data", "eval"} and key["rgb"] is True and key["seed"] == 0
    assert not {"num_workers", "cache_dir", "frame_cache"} & set(key["data"]) and "clip_frames" in key["data"]
    assert not {"out_dir", "data", "progress", "threads", "device"} & set(key["eval"]) and key["eval"]["knn_k"] == 3
    assert cached.name == hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16] + ".json"
    # asked again (elsewhere, with progress): read back, not evaluated again
    calls.clear()
    again = _random_inits(tmp_path, dataclasses.replace(tiny_pretrain, out_dir=str(tmp_path / "x")),
                          dataclasses.replace(ecfg, progress=True, threads=1), rgb=True)
    assert again == json.loads(json.dumps(first)) and calls == []
    # on validation folds (choosing a setting), every metric is a mean over folds
    more = dataclasses.replace(tiny_pretrain, data=dataclasses.replace(tiny_pretrain.data, synthetic_train_per_class=5))
    val = _random_inits(tmp_path, more, dataclasses.replace(ecfg, holdout="val"), rgb=False)
    assert set(val) == {"random_init", "random_init_no_bn_recal"} and val["random_init"]["labels"]["motion"]["folds"] > 1
    assert "folds" not in first["random_init"]["labels"]["motion"]
    # an evaluation without BN re-estimation: its random init keeps the initial statistics, the other is re-estimated
    off = _random_inits(tmp_path, tiny_pretrain, dataclasses.replace(ecfg, bn_recalibrate=False), rgb=False)
    assert {k: v["bn_recalibration_clips"] > 0 for k, v in off.items()} == {"random_init": False,
                                                                             "random_init_bn_recal": True}


def test_every_bad_compare_setting_is_one_line_that_says_what_to_do(tiny_pretrain, tmp_path):
    from vidssl.backbones import BACKBONES
    from vidssl.methods import METHODS
    from vidssl.variants import parse_variants

    methods, backbones = ", ".join(sorted(METHODS)), ", ".join(sorted(BACKBONES))
    base = _cfg(tiny_pretrain, tmp_path)
    assert [(v.name, v.flags) for v in dataclasses.replace(base, methods=("simclr", "byol")).rows()] == [
        ("simclr", {"method": "simclr"}), ("byol", {"method": "byol"})]

    def refused(**kw):
        with pytest.raises(VidsslError) as e:
            dataclasses.replace(base, **kw).validate()
        return str(e.value)

    need = "compare needs at least one method and one seed"
    assert refused(methods=()) == need and refused(seeds=()) == need
    assert refused(methods=("nope", "simclr", "nah")) == f"unknown method(s) nope, nah; choose from {methods}"
    assert refused(methods=("simclr", "simclr")) == "row names must differ, got ['simclr', 'simclr']"
    two = dataclasses.replace(base, methods=("simclr", "byol"))
    with pytest.raises(VidsslError, match=r"^--reference 'moco' is not one of the rows \(simclr, byol\)$"):
        dataclasses.replace(two, reference="moco").validate()
    assert refused(eval=EvalConfig(holdout="val"), finetune=FinetuneConfig(steps=2)) == (
        "fine-tuning scores on the test split; with --holdout val leave fine-tuning off")
    # a method row with a bad pretraining setting says it without naming a variant
    assert refused(pretrain=dataclasses.replace(base.pretrain, model=dataclasses.replace(
        base.pretrain.model, backbone="vgg"))) == f"unknown backbone 'vgg'; choose from {backbones}"
    variants = parse_variants({"a": {}, "b": {"method": "nope"}})
    assert refused(variants=tuple(variants)) == f"variant 'b': unknown method 'nope'; choose from {methods}"
    timed = dataclasses.replace(base.pretrain, time_budget="1m")
    assert refused(variants=tuple(parse_variants({"s": {"supervised": True}})), pretrain=timed) == (
        "variant 's': supervised pre-training counts its budget in steps: give --steps, not --time-budget")
