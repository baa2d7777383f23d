import dataclasses
import importlib
import json
import subprocess
import sys

import numpy as np
import pytest

from vidssl.compare import CompareConfig, compare, paired_differences, run_dir
from vidssl.config import EvalConfig, PretrainConfig
from vidssl.errors import VidsslError
from vidssl.variants import Variant, apply_variant, load_variants, parse_variants


def test_flags_are_normalised_typed_and_land_in_their_config_part():
    (v,) = parse_variants({"mix": {"--temporal-shift": 0, "framewise": True, "crop_scale": [0.5, 1],
                                   "input": "residual", "lr": 1, "temperature": 0.2, "queue_size": 256,
                                   "eval_data": {"clip-frames": 4}}})
    assert v.flags == {"temporal_shift": 0, "framewise": True, "crop_scale": (0.5, 1.0), "input": "residual",
                       "lr": 1.0, "temperature": 0.2, "queue_size": 256}
    cfg = apply_variant(PretrainConfig(), v)
    assert (cfg.aug.temporal_shift, cfg.aug.framewise, cfg.aug.crop_scale) == (0, True, (0.5, 1.0))
    assert (cfg.model.input, cfg.lr, cfg.temperature, cfg.queue_size) == ("residual", 1.0, 0.2, 256)
    assert cfg.data == PretrainConfig().data and v.eval_data == {"clip_frames": 4}


@pytest.mark.parametrize("doc, match", [
    ({"a": {"temporal_shfit": 0}}, r"variant 'a': unknown flag 'temporal_shfit'"),
    ({"a": {"temporal_shift": "8"}}, r"variant 'a': flag 'temporal_shift' must be an integer, got '8'"),
    ({"a": {"temporal_shift": 1.5}}, r"flag 'temporal_shift' must be an integer"),
    ({"a": {"framewise": 1}}, r"flag 'framewise' must be true or false"),
    ({"a": {"lr": float("nan")}}, r"flag 'lr' must be a finite number"),
    ({"a": {"crop_scale": [0.5]}}, r"flag 'crop_scale' must be a list of 2 numbers"),
    ({"a": {"seed": 3}}, r"unknown flag 'seed'"),  # compare sets the seed per run
    ({"a": {"eval_data": {"temporal_shift": 0}}}, r"eval_data flag 'temporal_shift' is not a data flag"),
    ({"a": {"supervised": True, "random_init_only": True}}, "exclude each other"),
    ({"a b": {}}, "letters, digits"),
    ({}, "non-empty mapping"),
    ({"a": ["framewise"]}, "expected a mapping of flags"),
])
def test_bad_variants_are_refused_in_one_line(doc, match):
    with pytest.raises(VidsslError, match=match) as e:
        parse_variants(doc)
    assert "\n" not in str(e.value)


def test_variants_files_json_and_toml(tmp_path):
    (tmp_path / "v.json").write_text('{"ref": {}, "no_shift": {"temporal_shift": 0}}')
    assert [v.name for v in load_variants(tmp_path / "v.json")] == ["ref", "no_shift"]
    (tmp_path / "v.toml").write_text("[ref]\n[no_shift]\ntemporal_shift = 0\n")
    if sys.version_info >= (3, 11):
        assert load_variants(tmp_path / "v.toml")[1].flags == {"temporal_shift": 0}
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(VidsslError, match=r"bad\.json is not valid JSON"):
        load_variants(tmp_path / "bad.json")
    with pytest.raises(VidsslError, match="cannot read --variants"):
        load_variants(tmp_path / "absent.json")


def _cfg(tiny_pretrain, tmp_path, variants, **kw):
    pre = dataclasses.replace(tiny_pretrain, steps=3)
    return CompareConfig(out_dir=str(tmp_path / "cmp"), seeds=(0, 1), pretrain=pre,
                         eval=EvalConfig(knn_k=3, recall_ks=(1, 5), progress=False),
                         variants=tuple(parse_variants(variants)), **kw)


def test_variants_reach_pretraining_pair_by_seed_and_resume(tiny_pretrain, tmp_path, monkeypatch):
    cfg = _cfg(tiny_pretrain, tmp_path, {"ref": {}, "fw": {"framewise": True, "temporal_shift": 0},
                                         "wide_random": {"width": 0.125, "random_init_only": True}})
    report = compare(cfg)
    recorded = json.loads((run_dir(cfg, "fw", 1) / "config.json").read_text())["config"]
    assert recorded["aug"]["framewise"] is True and recorded["aug"]["temporal_shift"] == 0 and recorded["seed"] == 1
    ref_cfg = json.loads((run_dir(cfg, "ref", 0) / "config.json").read_text())["config"]
    assert ref_cfg["aug"]["framewise"] is False and ref_cfg["aug"]["temporal_shift"] == 2
    assert not (run_dir(cfg, "wide_random", 0) / "checkpoints").exists()  # nothing trained
    rows = {(r["method"], r["backbone"]) for r in report["summary"]}
    assert ("fw", "ssl") in rows and ("wide_random", "random_init") in rows and ("wide_random", "ssl") not in rows
    wide = json.loads((run_dir(cfg, "wide_random", 0) / "results.json").read_text())
    assert wide["results"]["random_init"]["feature_dim"] == 64 and wide["pretrain_config"]["model"]["width"] == 0.125
    d = tiny_pretrain.data  # a row that trains nothing records what it scored, as results.json does
    assert wide["protocol"] == {
        "dataset": d.dataset, "split": d.split, "clip_frames": d.clip_frames, "stride": d.stride, "clips_per_video": 1,
        "crop_size": d.crop_size, "holdout": "test", "input": "rgb", "backbone": "r3d18", "width": 0.125,
        "pretrain_steps": 0, "pretrain_seconds": 0.0, "pretrain_seed": 0, "what": "random init only: nothing trained"}
    assert wide["eval_config"]["knn_k"] == 3 and wide["eval_config"]["data"]["crop_size"] == d.crop_size
    # the same network and seed share one random-init evaluation (ref and fw), a wider network has its own
    ref0 = json.loads((run_dir(cfg, "ref", 0) / "results.json").read_text())["results"]
    fw0 = json.loads((run_dir(cfg, "fw", 0) / "results.json").read_text())["results"]
    assert ref0["random_init"] == fw0["random_init"] and ref0["ssl"] != fw0["ssl"]
    assert len(list((tmp_path / "cmp" / "baselines").glob("*.json"))) == 4  # (ref/fw, wide) x 2 seeds
    # paired differences, by hand from the per-run files
    lin = {(r, s): 100 * json.loads((run_dir(cfg, r, s) / "results.json").read_text())["results"][b]["labels"]
           ["motion"]["linear_probe"]["accuracy"] for r, b in (("ref", "ssl"), ("fw", "ssl"), ("wide_random", "random_init"))
           for s in (0, 1)}
    d = np.array([lin["fw", 0] - lin["ref", 0], lin["fw", 1] - lin["ref", 1]])
    got = report["paired"]["fw"]["linear"]
    assert got["differences"] == [round(x, 2) for x in d] and got["mean"] == pytest.approx(d.mean())
    assert got["std"] == pytest.approx(d.std(ddof=1)) and got["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(2))
    assert got["clear"] == bool(abs(d.mean()) > 2 * d.std(ddof=1) / np.sqrt(2))
    # a row that trains nothing is read by the random init with the highest mean over its seeds
    wide_inits = {s: json.loads((run_dir(cfg, "wide_random", s) / "results.json").read_text())["results"] for s in (0, 1)}
    lin_wide = {b: [100 * wide_inits[s][b]["labels"]["motion"]["linear_probe"]["accuracy"] for s in (0, 1)]
                for b in wide_inits[0]}
    best = max(lin_wide, key=lambda b: np.mean(lin_wide[b]))
    got = report["paired"]["wide_random"]["linear"]
    assert got["against"] == best and len(lin_wide) == 2  # RGB input: the two BN choices
    assert got["differences"] == pytest.approx([lin_wide[best][s] - lin["ref", s] for s in (0, 1)], abs=0.01)
    assert report["protocol"]["reference"] == "ref" and "ref" not in report["paired"]
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "Paired differences against **ref**" in md and "| fw | 2 |" in md
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Rows side by side" in page and "data:image/png;base64," in page and "Paired against ref" in page
    assert "<li>wide_random: linear" in page and "read by its strongest random init" in page
    # a study killed during a run's evaluation: the finished runs are kept, the checkpoint is not trained again
    stamps = {r: (run_dir(cfg, r, 0) / "results.json").stat().st_mtime_ns for r in ("ref", "wide_random")}
    ck = run_dir(cfg, "fw", 1) / "checkpoints" / "last.pt"
    ck_stamp = ck.stat().st_mtime_ns
    (run_dir(cfg, "fw", 1) / "results.json").unlink()
    again = compare(cfg)
    assert {r: (run_dir(cfg, r, 0) / "results.json").stat().st_mtime_ns for r in stamps} == stamps
    assert ck.stat().st_mtime_ns == ck_stamp and (run_dir(cfg, "fw", 1) / "results.json").is_file()
    assert again["paired"] == report["paired"]
    # a row whose flags changed is not taken as done: its checkpoint was made with other settings
    with pytest.raises(VidsslError, match=r"cmp/fw-seed0 holds a run pretrained with other settings than asked now "
                       r"\(--resume would change the run in .*aug\.temporal_shift: 0 -> 1.*\); delete that folder to "
                       r"redo it, or compare into another --out$"):
        compare(_cfg(tiny_pretrain, tmp_path, {"ref": {}, "fw": {"framewise": True, "temporal_shift": 1}}))
    # where and how pretraining runs (its loader, caches, saving) does not make a run another one
    stamps = {(r, s): (run_dir(cfg, r, s) / "results.json").stat().st_mtime_ns for r in ("ref", "fw") for s in (0, 1)}
    elsewhere = dataclasses.replace(cfg.pretrain, checkpoint_every=1, data=dataclasses.replace(
        cfg.pretrain.data, num_workers=1, cache_dir=str(tmp_path / "other-cache")))
    compare(dataclasses.replace(cfg, pretrain=elsewhere))
    assert {k: (run_dir(cfg, *k) / "results.json").stat().st_mtime_ns for k in stamps} == stamps
    # a results.json that says nothing of how it was evaluated (written by another tool) is evaluated again
    res = run_dir(cfg, "ref", 1) / "results.json"
    doc = json.loads(res.read_text())
    del doc["compare_eval_config"]
    res.write_text(json.dumps(doc))
    compare(cfg)
    assert "compare_eval_config" in json.loads(res.read_text())


def test_rows_that_differ_only_in_evaluation_share_one_pretraining(tiny_pretrain, tmp_path, monkeypatch):
    compare_mod = importlib.import_module("vidssl.compare")  # the package's name `compare` is the function
    trained, real = [], compare_mod._pretrain
    monkeypatch.setattr(compare_mod, "_pretrain", lambda api, pcfg: trained.append(pcfg.out_dir) or real(api, pcfg))
    cfg = dataclasses.replace(_cfg(tiny_pretrain, tmp_path, {
        "a": {}, "a_elsewhere": {"eval_data": {"synthetic_test_per_class": 3}}, "b": {"temporal_shift": 0}}), seeds=(0,))
    report = compare(cfg)
    assert trained == [str(run_dir(cfg, "a", 0)), str(run_dir(cfg, "b", 0))]  # a_elsewhere trained nothing
    # scored on other test videos than the reference: a per-seed difference would compare two test sets
    assert report["unpaired"] == ["a_elsewhere"] and set(report["paired"]) == {"b"}
    a, other = (json.loads((run_dir(cfg, r, 0) / "results.json").read_text()) for r in ("a", "a_elsewhere"))
    assert other["protocol"]["checkpoint"] == a["protocol"]["checkpoint"] == str(run_dir(cfg, "a", 0) / "checkpoints/last.pt")
    assert other["protocol"]["checkpoint_fingerprint"] == a["protocol"]["checkpoint_fingerprint"]
    assert other["protocol"]["pretrained_by_row"] == "a" and "pretrained_by_row" not in a["protocol"]
    assert other["eval_config"]["data"]["synthetic_test_per_class"] == 3 != a["eval_config"]["data"]["synthetic_test_per_class"]
    assert not (run_dir(cfg, "a_elsewhere", 0) / "checkpoints").exists()
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "evaluates the weights of a (the same pretraining, run once)" in md
    assert "Not paired (scored on other videos than a): a_elsewhere." in md and "| a_elsewhere | 1 |" not in md
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Not paired (scored on other videos than a): a_elsewhere." in page
    assert "a_elsewhere-seed0</code> (the weights of a)</td>" in page
    # resumed with the sharing row's results lost: evaluated again on the same weights, nothing trained
    (run_dir(cfg, "a_elsewhere", 0) / "results.json").unlink()
    compare(cfg)
    again = json.loads((run_dir(cfg, "a_elsewhere", 0) / "results.json").read_text())
    assert len(trained) == 2 and again["results"]["ssl"] == other["results"]["ssl"]


def test_cli_prints_the_rows_it_did_not_pair(tmp_path, monkeypatch, capsys):
    from vidssl.cli import run

    asked = {}
    report = {"summary": [], "paired": {}, "unpaired": ["a_elsewhere"], "protocol": {"reference": "a"}}
    monkeypatch.setattr(sys.modules["vidssl.compare"], "compare", lambda cfg: asked.setdefault("cfg", cfg) and report)
    f = tmp_path / "v.json"
    f.write_text(json.dumps({"a": {}, "a_elsewhere": {"eval_data": {"synthetic_test_per_class": 3}}}))
    assert run(["compare", "--variants", str(f), "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    assert [v.name for v in asked["cfg"].variants] == ["a", "a_elsewhere"]
    out = capsys.readouterr().out  # every other row unpaired: the line alone, no empty table
    assert "\n\nNot paired (scored on other videos than a): a_elsewhere.\n" in out and "Paired differences" not in out


def test_supervised_variant_spends_the_budget_on_labels(tiny_pretrain, tmp_path, monkeypatch):
    import time

    from vidssl.checkpoint import load
    from vidssl.data import loading

    bars, real_open = [], loading.open_dataset

    def open_and_watch(data, progress=True):
        bars.append(progress)
        return real_open(data, progress=progress)

    monkeypatch.setattr(loading, "open_dataset", open_and_watch)
    cfg = dataclasses.replace(_cfg(tiny_pretrain, tmp_path, {"ssl": {}, "sup": {"supervised": True}}), seeds=(0,))
    t0 = time.perf_counter()
    report = compare(cfg)
    took = time.perf_counter() - t0
    assert bars and not any(bars)  # progress=False: no bar, the supervised row's data included
    ck = load(run_dir(cfg, "sup", 0) / "checkpoints" / "last.pt")
    assert ck["supervised_labels"] == "motion" and ck["step"] == 3
    # a pretraining checkpoint like any other (export and eval read it), with the seconds it took
    plain = load(run_dir(cfg, "ssl", 0) / "checkpoints" / "last.pt")
    assert set(ck) == set(plain) | {"supervised_labels"} and ck["optimizer"] == {}
    assert 0 < ck["elapsed_s"] < took
    res = json.loads((run_dir(cfg, "sup", 0) / "results.json").read_text())
    assert res["variant"]["supervised"] is True and res["compare_pretrain"]["supervised"] is True
    assert res["compare_pretrain"]["random_init_only"] is False
    assert res["results"]["ssl"]["labels"]["motion"]["linear_probe"]["accuracy"] > 0
    ssl_w = load(run_dir(cfg, "ssl", 0) / "checkpoints" / "last.pt")["model"]
    assert any(not (ck["model"][k] == ssl_w[k]).all() for k in ssl_w if k.startswith("backbone.") and "weight" in k)
    assert ("sup", "ssl") in {(r["method"], r["backbone"]) for r in report["summary"]}
    md = (tmp_path / "cmp" / "compare.md").read_text()  # one seed: no spread of 0 is shown
    assert "(n=1)" in md and " ± " not in md.split("| row |")[1].split("Paired")[0]
    assert "**sup**: supervised with labels at the same budget" in md
    assert "| sup | pretrained with labels (supervised) | 1 |" in md and "| ssl | self-supervised | 1 |" in md
    with pytest.raises(VidsslError, match="variant 'sup': supervised pre-training counts its budget in steps"):
        compare(dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, time_budget="1m")))


def test_invalid_variant_or_reference_is_refused_before_anything_trains(tiny_pretrain, tmp_path):
    cfg = _cfg(tiny_pretrain, tmp_path, {"ok": {}, "bad": {"crop_size": 4}})
    with pytest.raises(VidsslError, match=r"variant 'bad': --crop-size must be >= 8"):
        compare(cfg)
    assert not run_dir(cfg, "ok", 0).exists()
    with pytest.raises(VidsslError, match=r"variant 'm': unknown method 'simclr2'"):
        compare(_cfg(tiny_pretrain, tmp_path, {"m": {"method": "simclr2"}}))
    with pytest.raises(VidsslError, match=r"--reference 'nope' is not one of the rows \(ok\)"):
        compare(_cfg(tiny_pretrain, tmp_path, {"ok": {}}, reference="nope"))
    assert not run_dir(cfg, "ok", 0).exists()


def test_cli_refuses_a_bad_variants_file_in_one_line_and_writes_nothing(tmp_path):
    f = tmp_path / "v.json"
    f.write_text(json.dumps({"ref": {}, "typo": {"temporal_shfit": 0}}))
    out = tmp_path / "cmp"
    p = subprocess.run([sys.executable, "-m", "vidssl", "compare", "--variants", str(f), "--out", str(out)],
                       check=False, capture_output=True, text=True, timeout=600)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "variant 'typo': unknown flag 'temporal_shfit'" in p.stderr
    assert not out.exists()


def test_paired_differences_of_one_seed_say_n1_and_are_never_clear():
    def run(row, seed, acc):
        return {"method": row, "seed": seed, "results": {"results": {"ssl": {"labels": {"class": {
            "linear_probe": {"accuracy": acc}}}}}}}

    p = paired_differences([run("a", 0, 0.5), run("b", 0, 0.6), run("b", 1, 0.9)], "a")
    assert p["b"]["linear"]["seeds"] == [0] and p["b"]["linear"]["differences"] == [10.0]
    assert p["b"]["linear"]["clear"] is False and np.isnan(p["b"]["linear"]["std"])
    sure = paired_differences([run("a", s, 0.5) for s in range(3)] + [run("b", s, 0.6 + 0.01 * s) for s in range(3)], "a")
    assert sure["b"]["linear"]["clear"] is True and sure["b"]["linear"]["mean"] == pytest.approx(11.0)


def test_variant_is_a_frozen_record():
    v = Variant("a", {"lr": 1.0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.name = "b"
