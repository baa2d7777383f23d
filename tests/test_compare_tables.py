"""compare.md's tables and header from hand-made runs, against figures and text worked out by hand.

The runs are what ``vidssl compare`` reads back from its run folders (``results.json`` of each
row and seed); the numbers are chosen so that every mean, spread and paired difference below
can be checked in one's head (points = percent of test videos).
"""

import math

import pytest

from vidssl.compare import (
    format_gains,
    format_header,
    format_paired,
    format_table,
    gains,
    paired_differences,
    summarise,
    unpaired_rows,
)


def entry(lp, knn, r1, r5=None):
    retrieval = {"R@1": r1, **({"R@5": r5} if r5 is not None else {})}
    return {"labels": {"motion": {"linear_probe": {"accuracy": lp}, "knn": {"accuracy": knn, "k": 20},
                                  "retrieval": retrieval, "chance": 0.125},
                       "digit": {"linear_probe": {"accuracy": 0.99}, "knn": {"accuracy": 0.99},  # not the primary set
                                 "retrieval": {"R@1": 0.99}, "chance": 0.1}}}


def run(row, seed, results, *, ft=None, supervised=False, steps=500, secs=100.0):
    res = {"results": results, "variant": {"supervised": supervised},
           "protocol": {"pretrain_steps": steps, "pretrain_seconds": secs, "train_videos": 873, "test_videos": 341,
                        "clips_per_video": 4, "holdout": "test"},
           "pretrain_config": {"steps": 500, "batch_size": 32, "time_budget": None, "model": {"input": "residual"},
                               "data": {"dataset": "ucf101", "split": 1, "clip_frames": 8, "stride": 8,
                                        "crop_size": 32}}}
    if ft is not None:
        res["finetune"] = {"results": {b: {"per_video_acc": v} for b, v in ft.items()}}
    return {"method": row, "seed": seed, "results": res}


REF_SSL = [(0.50, 0.40, 0.30, 0.70), (0.52, 0.40, 0.32, 0.72), (0.54, 0.40, 0.34, 0.74)]
RUNS = (
    [run("ref", s, {"ssl": entry(*REF_SSL[s]), "random_init": entry(0.30, 0.36, 0.20, 0.60),
                    "random_init_no_bn_recal": entry(0.35, 0.30, 0.25)},
         ft={"ssl": 0.80 + 0.02 * s, "random_init": 0.70}) for s in range(3)]
    + [run("sup", s, {"ssl": entry(lp, knn, 0.40, 0.80)}, supervised=True, secs=90.0)
       for s, (lp, knn) in enumerate([(0.60, 0.50), (0.62, 0.49), (0.64, 0.51)])]
    # linear differences from ref 2, 3, 7 (clear: 4 > 2 x 1.53); R@1 differences 0, 2, 4 (not clear: 2 < 2 x 1.15)
    + [run("noisy", s, {"ssl": entry(lp, 0.40, r1, REF_SSL[s][3])}, secs=110.0)
       for s, (lp, r1) in enumerate([(0.52, 0.30), (0.55, 0.34), (0.61, 0.38)])]
    + [run("one", 0, {"ssl": entry(0.45, 0.41, 0.31, 0.71)}, steps=498, secs=95.0)]
)


def test_summarise_means_and_spreads_over_seeds():
    rows = {(r["method"], r["backbone"]): r for r in summarise(RUNS)}
    assert list(rows) == [("ref", "ssl"), ("ref", "random_init"), ("ref", "random_init_no_bn_recal"), ("sup", "ssl"),
                          ("noisy", "ssl"), ("one", "ssl")]
    ref = rows[("ref", "ssl")]
    assert ref["seeds"] == 3 and ref["shown_as"] == "ssl"
    assert ref["linear"] == {"mean": pytest.approx(52.0), "std": pytest.approx(2.0), "values": [50.0, 52.0, 54.0]}
    assert ref["kNN"]["std"] == pytest.approx(0.0) and ref["fine-tuned"]["values"] == [80.0, 82.0, 84.0]
    assert rows[("ref", "random_init")]["fine-tuned"]["values"] == [70.0, 70.0, 70.0]
    assert "R@5" not in rows[("ref", "random_init_no_bn_recal")]
    assert rows[("sup", "ssl")]["shown_as"] == "supervised" and rows[("noisy", "ssl")]["shown_as"] == "ssl"
    assert rows[("noisy", "ssl")]["linear"]["std"] == pytest.approx(math.sqrt(21))  # 52, 55, 61: ddof 1
    one = rows[("one", "ssl")]
    assert one["seeds"] == 1 and one["linear"] == {"mean": pytest.approx(45.0), "std": 0.0, "values": [45.0]}


def test_format_table_is_mean_std_per_row_with_names_a_person_reads():
    assert format_table(summarise(RUNS)) == "\n".join([  # noqa: FLY002
        "| row | backbone | seeds | linear | kNN | R@1 | R@5 | fine-tuned |",
        "|---|---|---|---|---|---|---|---|",
        "| ref | self-supervised | 3 | 52.0 ± 2.0 | 40.0 ± 0.0 | 32.0 ± 2.0 | 72.0 ± 2.0 | 82.0 ± 2.0 |",
        ("| ref | random init, same input (BN re-estimated) | 3 | 30.0 ± 0.0 | 36.0 ± 0.0 | 20.0 ± 0.0 | 60.0 ± 0.0 "
        "| 70.0 ± 0.0 |"),
        "| ref | random init, same input, initial BN statistics | 3 | 35.0 ± 0.0 | 30.0 ± 0.0 | 25.0 ± 0.0 | - | - |",
        "| sup | pretrained with labels (supervised) | 3 | 62.0 ± 2.0 | 50.0 ± 1.0 | 40.0 ± 0.0 | 80.0 ± 0.0 | - |",
        "| noisy | self-supervised | 3 | 56.0 ± 4.6 | 40.0 ± 0.0 | 34.0 ± 4.0 | 72.0 ± 2.0 | - |",
        "| one | self-supervised | 1 | 45.0 (n=1) | 41.0 (n=1) | 31.0 (n=1) | 71.0 (n=1) | - |",
    ])


def test_gains_are_read_against_the_strongest_random_init_metric_by_metric():
    g = gains(summarise(RUNS))
    assert list(g) == ["ref"]  # rows without random inits have nothing to gain against
    want = {"linear": (17.0, "random_init_no_bn_recal"), "kNN": (4.0, "random_init"),
            "R@1": (7.0, "random_init_no_bn_recal"), "R@5": (12.0, "random_init"), "fine-tuned": (12.0, "random_init")}
    assert {k: (pytest.approx(v["gain"]), v["against"]) for k, v in g["ref"].items()} == want
    assert format_gains(summarise(RUNS)) == (
        "- ref, SSL minus the strongest random init: linear +17.0 (vs random_init_no_bn_recal), kNN +4.0 "
        "(vs random_init), R@1 +7.0 (vs random_init_no_bn_recal), R@5 +12.0 (vs random_init), "
        "fine-tuned +12.0 (vs random_init)")


def test_gains_of_every_method_one_line_each_after_a_row_that_trains_nothing():
    rand = [run("rand", 0, {"random_init": entry(0.30, 0.36, 0.20, 0.60)})]  # no ssl: nothing to gain
    g = gains(summarise(rand + RUNS))
    assert list(g) == ["ref"]
    two = RUNS[:3] + [run("ref2", s, r["results"]["results"]) for s, r in enumerate(RUNS[:3])]
    lines = format_gains(summarise(rand + two)).split("\n")
    assert len(lines) == 2 and lines[0].startswith("- ref, ") and lines[1].startswith("- ref2, SSL minus")


def test_paired_differences_seed_by_seed_against_the_reference():
    p = paired_differences(RUNS, "ref")
    assert list(p) == ["sup", "noisy", "one"]
    sup = p["sup"]
    assert set(sup) == {"linear", "kNN", "R@1", "R@5"}  # no fine-tuning in sup
    assert sup["kNN"]["differences"] == [10.0, 9.0, 11.0] and sup["kNN"]["seeds"] == [0, 1, 2]
    assert sup["kNN"]["std"] == pytest.approx(1.0) and sup["kNN"]["se"] == pytest.approx(1 / math.sqrt(3))
    assert sup["linear"]["clear"] is True  # 10 every seed: std 0, clear
    noisy = p["noisy"]
    assert noisy["linear"]["differences"] == [2.0, 3.0, 7.0] and noisy["linear"]["mean"] == pytest.approx(4.0)
    assert noisy["linear"]["std"] == pytest.approx(math.sqrt(7)) and noisy["linear"]["clear"] is True
    assert noisy["R@1"]["mean"] == pytest.approx(2.0) and noisy["R@1"]["clear"] is False  # 2 < 2 x 2 / sqrt(3)
    assert noisy["kNN"]["mean"] == 0.0 and noisy["kNN"]["clear"] is False  # no difference is never clear
    one = p["one"]
    assert one["linear"]["seeds"] == [0] and one["linear"]["differences"] == [-5.0] and not one["linear"]["clear"]
    assert math.isnan(one["linear"]["std"]) and math.isnan(one["linear"]["se"])
    assert {v["against"] for m in p.values() for v in m.values()} == {"ssl"}
    assert format_paired(p, "ref") == "\n".join([  # noqa: FLY002
        ("Paired differences against **ref**, seed by seed (points; mean ± std over seeds; **clear** when |mean| > 2 "
        "standard errors):"),
        "",
        "| row | seeds | linear | kNN | R@1 | R@5 | fine-tuned |",
        "|---|---|---|---|---|---|---|",
        "| sup | 3 | **+10.0** ± 0.0 clear | **+10.0** ± 1.0 clear | **+8.0** ± 2.0 clear | **+8.0** ± 2.0 clear | - |",
        "| noisy | 3 | **+4.0** ± 2.6 clear | +0.0 ± 0.0 | +2.0 ± 2.0 | +0.0 ± 0.0 | - |",
        "| one | 1 | -5.0 (n=1) | +1.0 (n=1) | +1.0 (n=1) | +1.0 (n=1) | - |",
    ])


def test_rows_scored_on_other_videos_are_not_paired():
    def scored(row, data):
        r = run(row, 0, {"ssl": entry(0.5, 0.4, 0.3, 0.7)})
        if data is not None:
            r["results"]["eval_config"] = {"data": {"dataset": "ucf101", "root": "/d", "split": 1, "classes": "A,B",
                                                    "clip_frames": 8, **data}}
        return r

    runs = [scored("ref", {}), scored("longer_clips", {"clip_frames": 16}), scored("other_half", {"classes": "C,D"}),
            scored("other_split", {"split": 2}), scored("unrecorded", None)]
    # other clips of the same videos are paired; another set of videos is not; a run that does not say is
    assert unpaired_rows(runs, "ref") == ["other_half", "other_split"]
    assert set(paired_differences(runs, "ref")) == {"longer_clips", "unrecorded"}
    assert format_paired({}, "ref", ["other_half"]) == "Not paired (scored on other videos than ref): other_half."
    assert format_paired(paired_differences(runs, "ref"), "ref", ["other_half"]).endswith(
        "| unrecorded | 1 | +0.0 (n=1) | +0.0 (n=1) | +0.0 (n=1) | +0.0 (n=1) | - |\n\n"
        "Not paired (scored on other videos than ref): other_half.")
    synth = [scored("ref", {"dataset": "synthetic", "synthetic_seed": 0}),
             scored("s1", {"dataset": "synthetic", "synthetic_seed": 1})]
    assert unpaired_rows(synth, "ref") == ["s1"] and unpaired_rows(runs[:1], "nobody") == []


def test_paired_differences_include_fine_tuning_when_both_rows_have_it():
    # two seeds, no R@5 (a metric missing in the middle of the list), fine-tuned
    more = RUNS[:3] + [run("ft", s, {"ssl": entry(lp, 0.401234, 0.30)}, ft={"ssl": 0.90})
                       for s, lp in enumerate([0.60, 0.64])]
    p = paired_differences(more, "ref")["ft"]
    assert set(p) == {"linear", "kNN", "R@1", "fine-tuned"}
    assert p["fine-tuned"]["seeds"] == [0, 1] and p["fine-tuned"]["differences"] == [10.0, 8.0]
    assert p["kNN"]["differences"] == [0.12, 0.12]  # rounded to 2 decimals
    assert p["linear"]["differences"] == [10.0, 12.0] and p["linear"]["clear"] is True  # 11 > 2 x 1: clear at n=2
    assert format_paired({"ft": p}, "ref").splitlines()[-1] == (
        "| ft | 2 | **+11.0** ± 1.4 clear | **+0.1** ± 0.0 clear | -1.0 ± 1.4 | - | **+9.0** ± 1.4 clear |")


def test_paired_differences_of_one_seed_raise_no_warning_and_an_absent_reference_pairs_nothing():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.std of one value would warn (degrees of freedom <= 0)
        assert math.isnan(paired_differences(RUNS, "ref")["one"]["kNN"]["std"])
    assert paired_differences(RUNS, "nobody") == {}


def report_of(rows, seeds, variants=None):
    protocol = {"methods": rows, "seeds": seeds}
    if variants is not None:
        protocol["variants"] = variants
    return {"protocol": protocol}


def variant(flags=None, supervised=False, random_init_only=False, eval_data=None):
    return {"flags": flags or {}, "supervised": supervised, "random_init_only": random_init_only,
            "eval_data": eval_data or {}}


def test_header_says_data_budget_units_and_every_row_in_words():
    variants = {"ref": variant(), "sup": variant(supervised=True), "noisy": variant({"lr": 0.01, "framewise": True}),
                "one": variant({"classes": "A,B"}, random_init_only=True, eval_data={"clip_frames": 16, "stride": 2})}
    header = format_header(report_of(["ref", "sup", "noisy", "one"], [0, 1, 2], variants), RUNS)
    assert header == "\n".join([  # noqa: FLY002
        "# vidssl compare: 4 rows x 3 seeds",
        "",
        ("- Data: ucf101 split 1, 873 train / 341 test videos (first row's evaluation); clips of 8 frames at stride 8, "
        "32 px, 4 clips per test video; input residual (rows may change these: see Rows)."),
        ("- Budget: 500 pretraining steps of 32 clips per run (the runs took 498, 500 steps, 90-110 s each); "
        "seeds 0, 1, 2."),
        ("- Scored on the test split: linear probe, kNN and Recall@k on frozen features, in % of the scored videos; "
        "fine-tuned is per video. ± is the standard deviation over seeds; one seed shows (n=1)."),
        ("- Rows: **ref**: the command's settings as given; **sup**: supervised with labels at the same budget; "
        '**noisy**: lr=0.01, framewise=true; **one**: classes="A,B", random init only, nothing trained, '
        "evaluated on clip_frames=16, stride=2."),
        ("- Every row is scored beside random inits of its own network (same seed, same probe); a gain is read against "
        "the strongest of them."),
    ])


def test_header_of_a_timed_run_on_validation_folds_of_a_folder():
    r = run("simclr", 0, {"ssl": entry(0.5, 0.4, 0.3)}, secs=61.4)
    r["results"]["protocol"].update(holdout="val", test_videos=0)
    r["results"]["pretrain_config"]["time_budget"] = "5m"
    r["results"]["pretrain_config"]["data"].update(dataset="folder", split=2)
    nothing = run("random", 0, {"random_init": entry(0.3, 0.3, 0.3)}, steps=0, secs=0.0)  # a row that trains nothing
    lines = format_header(report_of(["simclr", "random"], [7]), [r, nothing]).splitlines()
    assert lines[0] == "# vidssl compare: 2 rows x 1 seed"
    # a folder has no split to name; scored within train, so no test videos
    assert lines[2].startswith("- Data: folder, 873 train videos, the test split unused (first row's evaluation); clips")
    assert "4 clips per scored video;" in lines[2]
    assert lines[3] == "- Budget: 5m of pretraining per run (the runs took 500 steps, 61-61 s each); seeds 7."
    assert lines[4].startswith("- Scored on validation folds of train (recording groups whole): linear probe")
    assert lines[5] == "- Rows: **simclr**: method simclr; **random**: method random."


def test_a_recorded_fine_tuning_is_reused_unless_a_setting_that_changes_it_differs():
    import dataclasses

    from vidssl.compare import _same_finetune
    from vidssl.config import FinetuneConfig, to_dict

    ft = FinetuneConfig(steps=20, lr=3e-3)
    recorded = json_round_trip(to_dict(ft))
    # where and how it ran, and how often it saved, do not change the result
    assert _same_finetune(recorded, dataclasses.replace(ft, progress=False, checkpoint_every=7, threads=1,
                                                        device="cpu"))
    for changed in ({"steps": 21}, {"lr": 1e-3}, {"scratch_lr": 1e-3}, {"clips_per_video": 2}, {"seed": 1}):
        assert not _same_finetune(recorded, dataclasses.replace(ft, **changed)), changed


def json_round_trip(x):
    import json

    return json.loads(json.dumps(x))


def test_summary_of_runs_that_hold_little():
    """Results written by another version or tool: no variant record, a backbone without labels, labels all
    skipped, fine-tuning of a backbone the frozen results lack, values with more than two decimals."""
    skipped = {"labels": {"motion": {"skipped": "one class only"}}}
    runs = [{"method": "a", "seed": s, "results": {
        "results": {"random_init": entry(0.2, 0.2, 0.2), "ssl": entry(0.123456 + s / 10, 0.5, 0.5), "odd": skipped,
                    "bare": {"feature_dim": 8}},
        "finetune": {"results": {"scratch": {"per_video_acc": 0.5}}}}} for s in range(2)]
    rows = {r["backbone"]: r for r in summarise(runs)}
    assert rows["ssl"]["shown_as"] == "ssl" and rows["ssl"]["linear"]["values"] == [12.35, 22.35]
    assert rows["ssl"]["linear"]["std"] == pytest.approx(10 / math.sqrt(2))  # two seeds: ddof 1
    assert rows["odd"]["seeds"] == 0 and rows["bare"]["seeds"] == 0 and set(rows["odd"]) == set(rows["bare"])
    assert rows["scratch"]["fine-tuned"]["values"] == [50.0, 50.0]
    table = format_table(summarise(runs)).splitlines()
    assert "| a | odd | 0 | - | - | - | - | - |" in table  # a backbone with no name in words keeps its own
    # a summary row from before rows were shown as something else
    assert format_table([{"method": "m", "backbone": "ssl", "seeds": 1}]).splitlines()[-1] == (
        "| m | self-supervised | 1 | - | - | - | - | - |")


def test_the_primary_label_set_is_the_trained_backbones_first():
    flipped = {"labels": dict(reversed(list(entry(0.9, 0.9, 0.9)["labels"].items())))}  # digit first
    runs = [{"method": "a", "seed": 0, "results": {"results": {"random_init": flipped, "ssl": entry(0.5, 0.5, 0.5)}}}]
    # read on motion (ssl's first), not digit (random init's first, 99 %)
    assert {r["backbone"]: r["linear"]["mean"] for r in summarise(runs)} == {"random_init": pytest.approx(90.0),
                                                                               "ssl": pytest.approx(50.0)}


def test_header_of_runs_that_hold_little_says_what_it_does_not_know():
    r = {"method": "a", "seed": 0, "results": {"results": {"ssl": entry(0.5, 0.5, 0.5)}}}
    lines = format_header(report_of(["a"], [0]), [r]).splitlines()
    assert lines[2] == ("- Data: None, ? train / ? test videos (first row's evaluation); clips of None frames at "
                        "stride None, None px, None clips per test video; input None (rows may change these: see Rows).")
    assert lines[3] == "- Budget: None pretraining steps of None clips per run (the runs took ? steps, 0-0 s each); seeds 0."
    one_step = run("a", 0, {"ssl": entry(0.5, 0.5, 0.5)}, steps=1)
    one_step["results"]["pretrain_config"]["data"].update(dataset="hmdb51", split=3)
    lines = format_header(report_of(["a"], [0]), [one_step]).splitlines()
    assert lines[2].startswith("- Data: hmdb51 split 3, 873 train") and "(the runs took 1 steps," in lines[3]


def test_a_row_that_trains_nothing_is_paired_by_its_strongest_random_init_metric_by_metric():
    # seeds 0 and 1; the RGB init without BN re-estimation is the stronger on linear (mean 44 > 31) and R@1 (31 > 25.5),
    # the re-estimated one on kNN (36 > 30): each metric picks its own, and the same one for every seed
    rand = [run("wide", s, {"random_init": entry(0.30 + 0.02 * s, 0.36, 0.25 + 0.01 * s, 0.60),
                            "random_init_rgb_no_bn_recal": entry(0.44, 0.30, 0.30 + 0.02 * s)}) for s in (0, 1)]
    p = paired_differences(RUNS + rand, "ref")["wide"]
    assert p["linear"]["against"] == "random_init_rgb_no_bn_recal" and p["linear"]["differences"] == [-6.0, -8.0]
    assert p["kNN"]["against"] == "random_init" and p["kNN"]["differences"] == [-4.0, -4.0]
    assert p["R@1"]["against"] == "random_init_rgb_no_bn_recal" and p["R@1"]["differences"] == [0.0, 0.0]
    assert p["R@5"]["against"] == "random_init" and p["R@5"]["differences"] == [-10.0, -12.0]
    assert "fine-tuned" not in p
    assert format_paired({"wide": p}, "ref").splitlines()[-2:] == [
        "A row that trains nothing is read by its strongest random init, metric by metric:",
        ("- wide: linear and R@1 by *random init, RGB, initial BN statistics*; kNN and R@5 by *random init, same "
         "input (BN re-estimated)*")]
