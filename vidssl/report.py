"""One self-contained HTML page about a run: what was trained, how well, and what it learned.

:func:`build_report` reads ``run_dir/results.json`` and writes ``run_dir/report.html``
(pictures embedded as base64 data URIs: PNG, and the retrieval grid as an animated WebP;
CSS inline, no external resource) and the pictures themselves under ``run_dir/report_files/``.

Every number in the HTML text is read from ``results.json`` and formatted the way
``vidssl.api.format_table`` prints it (percent, one decimal); the differences to the
baselines are differences of the displayed values. The pictures need features and
predictions, which results.json does not hold: they are recomputed from the checkpoint
with the protocol recorded in results.json, and the page says whether the recomputed
probe predictions agree with the accuracy in results.json.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.errors import VidsslError
from vidssl.eval.tables import BACKBONE_NAMES, mean_std, read_by_random_init, run_backbone_name, strongest_random_init
from vidssl.io import atomic_write, ensure_writable_dir

PICTURES_DIR = "report_files"
NAMES = {"ssl": "self-supervised", "random_init": "random init", "supervised": "supervised from scratch"}


def pct(x: float | None) -> str:
    """A fraction as the report (and ``format_table``) shows it: percent, one decimal."""
    return "-" if x is None else f"{100 * x:.1f}"


def _diff(a: str, b: str) -> str:
    """``a - b`` of two displayed values, exact in decimal (so it matches what a reader computes)."""
    d = Decimal(a) - Decimal(b)
    return f"{'+' if d >= 0 else '−'}{abs(d)}"


def _signed(d: str) -> str:
    return f"<span class=\"{'pos' if d[0] == '+' else 'neg'}\">{d} points</span>"


@dataclass
class Picture:
    title: str
    caption: str
    path: Path | None = None  # None: left out, see caption


def read_results(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VidsslError(f"run folder {run_dir} does not exist; pass a folder written by vidssl demo or vidssl eval")
    path = run_dir / "results.json"
    if not path.is_file():
        raise VidsslError(f"{run_dir} has no results.json; evaluate the run first "
                          f"(vidssl eval CHECKPOINT --out {run_dir})")
    try:
        results = json.loads(path.read_text())
    except ValueError as e:
        raise VidsslError(f"{path} is not valid JSON ({e}); re-run the evaluation to rewrite it") from e
    if not isinstance(results, dict) or not isinstance(results.get("results"), dict) or "ssl" not in results["results"]:
        raise VidsslError(f"{path} holds no evaluation results (no results.ssl); re-run the evaluation")
    return results


# fine-tuning settings that do not change what it measures (how it shows progress and saves, where it runs)
FINETUNE_HOW = ("progress", "checkpoint_every", "threads", "device")


def finetune_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of a fine-tuning config (as recorded, or ``to_dict`` of one) that change what it measures,
    as JSON reads them back (tuples as lists), so that a recorded entry and a config compare equal."""
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k not in FINETUNE_HOW}


def finetune_entries(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every fine-tuning recorded in a results dict, oldest first: one per set of settings (``finetunes``);
    ``finetune`` is the latest. Results written before runs kept several have only ``finetune``."""
    if results.get("finetunes"):
        return list(results["finetunes"])
    return [results["finetune"]] if results.get("finetune") else []


def run_checkpoint(run_dir: str | Path, results: dict[str, Any]) -> Path:
    """The run's own ``checkpoints/last.pt`` (so a copied run folder works), else the one results.json names."""
    own = Path(run_dir) / "checkpoints" / "last.pt"
    if own.is_file():
        return own
    named = results.get("protocol", {}).get("checkpoint")
    if named and Path(named).is_file():
        return Path(named)
    raise VidsslError(f"no checkpoint for {run_dir}: neither {own} nor {named!r} exists; the pictures need the weights")


def check_same_checkpoint(run_dir: str | Path, results: dict[str, Any], ck: dict[str, Any], path: str | Path) -> None:
    """Refuse (one line, what to run) when ``results.json`` was measured on other weights than the checkpoint
    ``ck`` now holds (say, the run was resumed with --extend-steps after its evaluation): nothing may mix them."""
    from vidssl.checkpoint import fingerprint

    recorded, now = results.get("protocol", {}).get("checkpoint_fingerprint"), fingerprint(ck)
    if recorded is not None and recorded != now:
        raise VidsslError(f"{Path(run_dir) / 'results.json'} was measured on step {recorded.get('step')} of {path}, "
                          f"which now holds step {now['step']} (other weights); evaluate it again first: "
                          f"vidssl eval {path} --out {run_dir}")


def primary_label_set(results: dict[str, Any]) -> str:
    for name, m in results["results"]["ssl"]["labels"].items():
        if "skipped" not in m:
            return name
    raise VidsslError("results.json has no evaluated label set")


# ---------------------------------------------------------------- pictures


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def make_pictures(run_dir: Path, results: dict[str, Any], progress: bool = False, k: int = 5) -> list[Picture]:
    """Recompute features with the recorded protocol and draw every picture (one failure leaves one out)."""
    from vidssl.checkpoint import load_pretrain_checkpoint
    from vidssl.config import DataConfig, from_dict
    from vidssl.data.loading import open_dataset
    from vidssl.engine import build_model
    from vidssl.eval import pictures as P
    from vidssl.eval.features import extract_features
    from vidssl.eval.protocols import linear_probe, source_groups

    out = ensure_writable_dir(run_dir / PICTURES_DIR)
    model, pcfg, _ = load_pretrain_checkpoint(run_checkpoint(run_dir, results))
    ecfg = results.get("eval_config", {})
    data = from_dict(DataConfig, ecfg["data"]) if ecfg.get("data") else pcfg.data
    train, test = open_dataset(data, progress=progress)
    label = primary_label_set(results)
    names = test.class_names[label]
    y_tr, y_te = train.labels[label], test.labels[label]
    backbones = {"ssl": model.backbone, "random_init": build_model(pcfg).backbone}
    cpv, bs = ecfg.get("clips_per_video", 1), ecfg.get("batch_size", 64)
    feats = {  # name -> (train (N, D), test (M, D)) per-video features, as the evaluation computed them
        n: tuple(extract_features(b, ds, data, cpv, bs, progress, f"report: {n} {ds.name}")[0] for ds in (train, test))
        for n, b in backbones.items()
    }
    pics: list[Picture] = []

    def attempt(title: str, caption: str, draw) -> None:
        try:
            pics.append(Picture(title, caption, draw()))
        except VidsslError as e:
            pics.append(Picture(title, f"Left out: {e}"))

    attempt("Training curves", "Pretraining loss and learning rate at every logged step (train_log.jsonl).",
            lambda: P.training_curves(run_dir / "train_log.jsonl", out / "curves.png"))
    for n in backbones:
        attempt(f"t-SNE map, {NAMES[n]}", f"Test videos' {NAMES[n]} features, coloured by {label} class. "
                "Clusters that follow the colours mean the classes are separable without labels.",
                lambda n=n: P.tsne_map(feats[n][1], y_te, names, out / f"tsne_{n}.png", seed=pcfg.seed,
                                       title=f"{NAMES[n]}: test embeddings"))

    def grid() -> Path:
        f_tr, f_te = feats["ssl"]
        firsts = [int(np.flatnonzero(y_te == c)[0]) for c in range(len(names)) if (y_te == c).any()][:8]
        if k > len(train):
            raise VidsslError(f"the train split has {len(train)} videos, fewer than the {k} neighbours shown")
        sim = _unit(f_te[firsts]) @ _unit(f_tr).T  # cosine, as the retrieval protocol
        order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        return P.retrieval_grid(test, firsts, train, order, out / "retrieval.webp", label_set=label,
                                cosines=np.take_along_axis(sim, order, 1), frames_per_video=8)

    attempt("Nearest neighbours", f"One test video per {label} class (left, playing 8 frames of its middle half) "
            f"and its {k} most cosine-similar train videos under the self-supervised features; green: same class, "
            "red: another class.",
            grid)
    for n, bb in backbones.items():
        attempt(f"First-layer kernels, {NAMES[n]}", "The stem's 3D convolution kernels as RGB, each min-max "
                "normalised; the time slices of a kernel side by side (slices that differ respond to change).",
                lambda n=n, bb=bb: P.kernel_grid(bb, out / f"kernels_{n}.png", title=NAMES[n]))
    groups = source_groups([train.source(i) for i in range(len(train))])  # as the evaluation chose C
    for n in backbones:
        title = f"Confusion matrix, {NAMES[n]}"
        try:
            f_tr, f_te = feats[n]
            probe = linear_probe(f_tr, y_tr, f_te, y_te, tuple(ecfg.get("probe_cs", (1.0,))),
                                 ecfg.get("probe_val_fraction", 0.2), ecfg.get("seed", 0), groups=groups)
            recorded = results["results"].get(n, {}).get("labels", {}).get(label, {}).get("linear_probe", {})
            if pct(probe.accuracy) == pct(recorded.get("accuracy")):
                note = "They give the accuracy recorded in results.json."
            else:
                note = ("They do not reproduce the accuracy in results.json (other software, threads or data): "
                        "read the matrix as indicative.")
            path = P.confusion_matrix(y_te, np.asarray(probe.predictions), names, out / f"confusion_{n}.png",
                                      title=f"linear probe on {NAMES[n]} features, test videos")
            pics.append(Picture(title, f"Linear-probe predictions on the test videos ({label} labels), recomputed "
                                f"from the checkpoint with the recorded protocol. {note}", path))
        except VidsslError as e:
            pics.append(Picture(title, f"Left out: {e}"))
    return pics


# ---------------------------------------------------------------- HTML

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f6f7f9;margin:0}
main{max-width:1120px;margin:0 auto;padding:24px 28px 60px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:34px 0 10px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.sub{color:#5b6573;margin:0 0 14px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #e7e9ec;text-align:right}th{background:#f1f3f5;font-weight:600}
td:first-child,th:first-child,td.l{text-align:left}.best{font-weight:700}.muted{color:#7a8491}
.headline{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0}
.card{border:1px solid #e3e6ea;border-radius:8px;padding:10px 14px;min-width:190px;background:#fbfcfd}
.card b{display:block;font-size:24px}.card span{color:#5b6573;font-size:13px}
.pos{color:#1a7f37}.neg{color:#c62828}
.pics{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0 0 14px;flex:1 1 480px;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #e3e6ea;border-radius:4px;image-rendering:pixelated}
figure.wide{flex-basis:100%}figcaption{font-size:13px;color:#4a5360;margin-top:4px}
pre{background:#f4f5f7;padding:10px;border-radius:6px;overflow:auto;font-size:12px}
details summary{cursor:pointer;color:#2d5fa8;margin:6px 0}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _metrics_rows(res: dict[str, Any], label: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows (display strings) of one label set's metrics table."""
    ks: list[str] = []
    knn_k = None
    for m in res.values():
        lm = m.get("labels", {}).get(label, {})
        for r in lm.get("retrieval", {}):
            if r not in ks:
                ks.append(r)
        knn_k = knn_k or lm.get("knn", {}).get("k")
    header = ["backbone", "linear probe", f"kNN (k={knn_k})", *ks, "chance"]
    rows = []
    for name, m in res.items():
        lm = m.get("labels", {}).get(label)
        if lm is None or "skipped" in lm:
            continue
        rows.append([run_backbone_name(name, m), pct(lm["linear_probe"]["accuracy"]), pct(lm["knn"]["accuracy"]),
                     *(pct(lm["retrieval"].get(k)) for k in ks), pct(lm["chance"])])
    return header, rows


def _table(header: list[str], rows: list[list[str]], bold_best_from: int = 1, bold_until: int | None = None) -> str:
    until = bold_until if bold_until is not None else len(header)
    best = {}
    for j in range(bold_best_from, until):
        vals = [Decimal(r[j]) for r in rows if r[j] not in ("-", "")]
        best[j] = max(vals) if len(vals) > 1 else None
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for r in rows:
        cells = []
        for j, c in enumerate(r):
            is_best = best.get(j) is not None and c not in ("-", "") and Decimal(c) == best[j]
            cls = ' class="best"' if is_best else ""
            cells.append(f"<td{cls}>{_e(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _comparison(results: dict[str, Any]) -> str:
    """Sentences comparing the self-supervised backbone with each baseline, per label set."""
    res = results["results"]
    items = []
    for label, lm in res["ssl"]["labels"].items():
        if "skipped" in lm:
            items.append(f"<li><b>{_e(label)}</b>: not evaluated ({_e(lm['skipped'])})</li>")
            continue
        ssl_lp, ssl_knn = pct(lm["linear_probe"]["accuracy"]), pct(lm["knn"]["accuracy"])
        for base, m in res.items():
            bl = m.get("labels", {}).get(label)
            if base == "ssl" or bl is None or "skipped" in bl:
                continue
            b_lp, b_knn = pct(bl["linear_probe"]["accuracy"]), pct(bl["knn"]["accuracy"])
            items.append(f"<li><b>{_e(label)}</b>, self-supervised vs {_e(run_backbone_name(base, m))}: linear probe "
                         f"{ssl_lp}% vs {b_lp}% ({_signed(_diff(ssl_lp, b_lp))}), kNN {ssl_knn}% vs {b_knn}% "
                         f"({_signed(_diff(ssl_knn, b_knn))}); chance {pct(lm['chance'])}%.</li>")
    ft = results.get("finetune")
    if ft and "ssl" in ft.get("results", {}) and "random_init" in ft["results"]:
        a, b = pct(ft["results"]["ssl"]["per_video_acc"]), pct(ft["results"]["random_init"]["per_video_acc"])
        items.append(f"<li><b>{_e(ft.get('label_set', ''))}</b>, fine-tuned, per video: from self-supervised init {a}% "
                     f"vs supervised from scratch {b}% ({_signed(_diff(a, b))}).</li>")
    return "<ul>" + "\n".join(items) + "</ul>"


def _finetune_section(results: dict[str, Any]) -> str:
    ft = results.get("finetune")
    if not ft or not ft.get("results"):
        return ("<p class=\"muted\">No fine-tuning results in results.json "
                "(run <code>vidssl finetune RUN_DIR</code> to add them).</p>")
    names = {"ssl": "self-supervised init", "random_init": "random init = supervised from scratch"}
    rows = [[names.get(n, n), pct(r["per_clip_acc"]), pct(r["per_video_acc"]), str(r["steps"]), str(r["seconds"])]
            for n, r in ft["results"].items()]
    first = next(iter(ft["results"].values()))
    cfg = ft.get("config", {})
    earlier = []
    for e in finetune_entries(results)[:-1]:
        c = e.get("config", {})
        earlier.append(f"head lr {_e(c.get('lr', '?'))}, scratch {_e(c.get('scratch_lr') or c.get('lr', '?'))}, "
                       f"{_e(c.get('steps', '?'))} steps: "
                       + ", ".join(f"{_e(names.get(n, n))} {pct(r['per_video_acc'])}%"
                                   for n, r in e.get("results", {}).items()))
    others = "" if not earlier else ("<p>Earlier fine-tunings of this run, with other settings (per video): "
                                     + "; ".join(earlier) + " (all in results.json, <code>finetunes</code>).</p>")
    return (f"<p>Whole network trained on the <b>{_e(ft.get('label_set', ''))}</b> train labels; "
            f"{_e(cfg.get('steps', '?'))} steps, head learning rate {_e(cfg.get('lr', '?'))} (supervised from scratch: "
            f"{_e(cfg.get('scratch_lr') or cfg.get('lr', '?'))}), "
            f"backbone learning rate {_e(cfg.get('backbone_lr_ratio', '?'))} × the head's; "
            f"test: {_e(first.get('clips_per_video', '?'))} uniformly spaced clips per video, per-video = mean of the "
            "clips' probabilities.</p>"
            + _table(["initialisation", "per clip", "per video", "steps", "seconds"], rows, 1, 3) + others)


def _protocol_table(results: dict[str, Any]) -> str:
    p = results.get("protocol", {})
    rows = []
    for k, v in p.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a} {b}" for a, b in v.items())
        rows.append(f"<tr><td class=\"l\">{_e(k.replace('_', ' '))}</td><td class=\"l\">{_e(v)}</td></tr>")
    return "<table>" + "\n".join(rows) + "</table>"


_MIME = {".png": "image/png", ".webp": "image/webp"}


def _img(path: Path) -> str:
    return f"data:{_MIME[path.suffix.lower()]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _cards(results: dict[str, Any]) -> str:
    """The headline numbers: primary linear probe for SSL and random init, chance, fine-tuned."""
    res, label = results["results"], primary_label_set(results)
    lm = res["ssl"]["labels"][label]
    cards = [(pct(lm["linear_probe"]["accuracy"]), f"linear probe, {label}, self-supervised")]
    strongest = strongest_random_init(res, label)  # the baseline the gain is read against
    if strongest is not None:
        cards.append((pct(res[strongest]["labels"][label]["linear_probe"]["accuracy"]),
                      f"linear probe, {label}, {run_backbone_name(strongest, res[strongest])}, the stronger"))
    cards.append((pct(lm["chance"]), "chance (largest class)"))
    ft = results.get("finetune", {}).get("results", {})
    if "ssl" in ft:
        cards.append((pct(ft["ssl"]["per_video_acc"]), "fine-tuned from self-supervised, per video"))
    return ("<div class=\"headline\">" + "".join(f"<div class=\"card\"><b>{v}%</b><span>{_e(t)}</span></div>"
                                                  for v, t in cards) + "</div>")


TRACK_NAMES = {"ssl": "self-supervised", "pixels": "pixels (no network, same grid)",
               "first_mask_copy": "first mask copied (no motion)"}


def read_tracking(run_dir: Path, ck: dict[str, Any]) -> dict[str, Any] | None:
    """``RUN/track/track.json`` (written by ``vidssl track CKPT --out RUN/track``) with its folder, or a note
    when it describes another checkpoint than the run's; None when there is none."""
    path = run_dir / "track" / "track.json"
    if not path.is_file():
        return None
    track = json.loads(path.read_text(encoding="utf-8"))
    from vidssl.checkpoint import fingerprint

    got, want = track["protocol"].get("checkpoint_fingerprint"), json.loads(json.dumps(fingerprint(ck)))
    if got != want:
        return {"stale": f"{path} describes another checkpoint (step {got and got.get('step')}) than the run's "
                         f"(step {want['step']}): run vidssl track {run_dir / 'checkpoints/last.pt'} --out "
                         f"{run_dir / 'track'} again"}
    return {**track, "dir": str(path.parent)}


def _tracking_section(track: dict[str, Any] | None) -> str:
    """Label propagation (``vidssl track``): its J table and its animated pictures."""
    if track is None:
        return ""
    body = ["<h2>Tracking (label propagation)</h2>"]
    if "stale" in track:
        return body[0] + f"<p>{_e(track['stale'])}</p>"
    p, res = track["protocol"], track["results"]
    body.append(f"<p>The first frame's mask carried through each video by the frozen features' affinity "
                f"({_e(p['features'])}; top-{_e(p['propagation']['topk'])}, temperature "
                f"{_e(p['propagation']['temperature'])}, the first frame and {_e(p['propagation']['context'])} "
                f"before). {_e(p['score'])}; {_e(p['videos'])} videos of {_e(p['videos_from'])}.</p>")
    if res:
        rows = [[TRACK_NAMES.get(k) or run_backbone_name(k, r), pct(r["J"])] for k, r in res.items()]
        body.append(_table(["backbone", "J"], rows, 1))
    pics = []
    for pic in track.get("pictures", []):
        path = Path(track["dir"]) / pic["file"]
        if path.is_file():
            caption = (f"{TRACK_NAMES.get(pic['backbone']) or run_backbone_name(pic['backbone'], pic)}, "
                       f"{Path(pic['video']).name}: frames | the first frame's colours carried"
                       + (" | the propagated mask (red), the true outline (green)" if res else ""))
            pics.append(f"<figure><img alt=\"{_e(caption)}\" src=\"{_img(path)}\">"  # SSL beside random init
                        f"<figcaption>{_e(caption)}</figcaption></figure>")
    if pics:
        body.append("<div class=\"pics\">" + "".join(pics) + "</div>")
    return "\n".join(body)


def render_html(results: dict[str, Any], pictures: list[Picture], title: str,
                tracking: dict[str, Any] | None = None) -> str:
    pc = results.get("pretrain_config", {})
    p = results.get("protocol", {})
    res = results["results"]
    model = pc.get("model", {})
    body = [
        f"<h1>{_e(pc.get('method', 'run'))} on {_e(p.get('dataset', '?'))}</h1>",
        (f"<p class=\"sub\">{_e(title)} · backbone {_e(model.get('backbone', '?'))} "
         f"(width {_e(model.get('width', '?'))}, {_e(res['ssl'].get('feature_dim', '?'))}-d features) · "
         f"{_e(p.get('pretrain_steps', '?'))} pretraining steps "
         f"in {_e(p.get('pretrain_seconds', '?'))} s · {_e(p.get('train_videos', '?'))} train / "
         f"{_e(p.get('test_videos', '?'))} test videos</p>"),
        _cards(results),
        "<h2>Compared with the baselines</h2>",
        _comparison(results),
        ("<h2>Frozen features</h2><p>Linear probe (logistic regression on standardised features), weighted kNN and "
         "Recall@k (a test video's nearest train videos by cosine), in percent of test videos; "
         "bold: best per column.</p>"),
    ]
    for lab in res["ssl"]["labels"]:
        header, rows = _metrics_rows(res, lab)
        if rows:
            body += [f"<h3>{_e(lab)} labels</h3>", _table(header, rows, 1, len(header) - 1)]
    body += ["<h2>Fine-tuned</h2>", _finetune_section(results), "<h2>Pictures</h2><div class=\"pics\">"]
    for pic in pictures:
        wide = " class=\"wide\"" if pic.title.startswith(("Nearest", "Training")) else ""
        img = f"<img alt=\"{_e(pic.title)}\" src=\"{_img(pic.path)}\">" if pic.path else ""
        body.append(f"<figure{wide}><h3>{_e(pic.title)}</h3>{img}<figcaption>{_e(pic.caption)}</figcaption></figure>")
    body.append("</div>")
    if tracking is not None:
        body.append(_tracking_section(tracking))
    body += [
        "<h2>Configuration</h2>", _protocol_table(results),
        "<details><summary>pretraining config</summary><pre>" + _e(json.dumps(pc, indent=2)) + "</pre></details>",
        "<details><summary>evaluation config</summary><pre>" + _e(json.dumps(results.get("eval_config", {}), indent=2))
        + "</pre></details>",
    ]
    if results.get("finetune", {}).get("config"):
        body.append("<details><summary>fine-tuning config</summary><pre>"
                    + _e(json.dumps(results["finetune"]["config"], indent=2)) + "</pre></details>")
    body.append("<p class=\"muted\">Every number in the text and tables is read from results.json; differences are "
                "of the displayed values. Pictures are recomputed from the checkpoint.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")


def build_report(run_dir: str | Path, *, progress: bool = False) -> Path:
    """Write ``run_dir/report.html`` (self-contained) and its pictures; returns the HTML path."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    from vidssl.checkpoint import load

    ckpt = run_checkpoint(run_dir, results)
    ck = load(ckpt)
    check_same_checkpoint(run_dir, results, ck, ckpt)  # pictures and numbers of one checkpoint
    pictures = make_pictures(run_dir, results, progress)
    page = render_html(results, pictures, f"vidssl report: {run_dir.resolve().name}", read_tracking(run_dir, ck))
    path = run_dir / "report.html"
    with atomic_write(path, "w") as f:
        f.write(page)
    return path




def _compare_bars(report: dict[str, Any]) -> str:
    """A PNG data URI: one bar per row (linear, R@1) with its seed spread, random-init baselines as lines."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report["summary"]
    order = report["protocol"]["methods"]
    ref = report["protocol"].get("reference") or order[0]
    by = {(r["method"], r["backbone"]): r for r in summary}
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.0 + 0.55 * len(order)) * 2, 5.0), dpi=90)
    for ax, metric in zip(axes, ("linear", "R@1")):
        for i, row in enumerate(order):
            # a row that trains nothing: its strongest random init on this metric (as the paired table reads it)
            inits = [r for (name, b), r in by.items() if name == row and b.startswith("random_init") and metric in r]
            head = by.get((row, "ssl")) or max(inits, key=lambda r: r[metric]["mean"], default=None)
            if head is None or metric not in head:
                continue
            m = head[metric]
            colour = "#2b6cb0" if (row, "ssl") in by else "#a0aec0"
            ax.bar(i, m["mean"], color=colour, alpha=0.85, yerr=m["std"], capsize=3)
            ax.scatter([i] * len(m["values"]), m["values"], color="k", s=8, zorder=3)
            base = [r[metric]["mean"] for (name, b), r in by.items()
                    if name == row and b.startswith("random_init") and metric in r]
            if base and (row, "ssl") in by:
                ax.plot([i - 0.4, i + 0.4], [max(base)] * 2, color="#c53030", lw=2)
        styles = ["--", ":", "-.", (0, (5, 1))]
        for j, ((name, b), r) in enumerate((k, v) for k, v in by.items() if k[0] == ref and k[1].startswith("random_init")):
            if metric in r:
                ax.axhline(r[metric]["mean"], color="#718096", ls=styles[j % len(styles)], lw=1,
                           label=BACKBONE_NAMES.get(b, b))
        ax.set_xticks(range(len(order)), order, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric} (% of {'validation' if summary and 'val' in str(report.get('config', {}).get('eval', {}).get('holdout')) else 'test'} videos)")
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=2, title=f"random inits of {ref}",
               title_fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))  # the legend below the bars, not over them
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render_compare_html(report: dict[str, Any], runs: list[dict[str, Any]], columns: list[str]) -> str:
    """``vidssl compare``'s page: mean ± std per method and backbone (``columns``: the metric names, in
    order), the gain over the strongest random init metric by metric, and every run's protocol (read
    from compare.json, nothing recomputed)."""
    cols = columns
    summary, gains = report["summary"], report.get("gains", {})
    body = ["<h1>vidssl compare</h1>",
            (f"<p class=\"sub\">methods {_e(', '.join(report['protocol']['methods']))} · seeds "
            f"{_e(', '.join(map(str, report['protocol']['seeds'])))} · written {_e(report.get('written', ''))}</p>"),
            ("<h2>Mean ± std over seeds</h2><p>Percent of test videos (or of the validation folds, see the protocol); "
            "fine-tuned: per video, random init fine-tuned = supervised from scratch.</p>")]
    head = "<tr><th>method</th><th>backbone</th><th>seeds</th>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr>"
    rows = []
    for r in summary:
        cells = "".join(f"<td>{_e(mean_std(r[c]))}</td>" if c in r else "<td>-</td>" for c in cols)
        cls = "l best" if r["backbone"] == "ssl" else "l"
        rows.append(f"<tr><td class=\"l\">{_e(r['method'])}</td><td class=\"{cls}\">"
                    f"{_e(BACKBONE_NAMES.get(r.get('shown_as', r['backbone']), r['backbone']))}</td><td>{r['seeds']}</td>{cells}</tr>")
    body.append("<table>" + head + "\n".join(rows) + "</table>")
    if len(report["protocol"]["methods"]) > 1:
        body.append("<h2>Rows side by side</h2><p>Bars: mean over seeds of each row's linear probe and R@1 (its "
                    "trained backbone; a row that trains nothing: its strongest random init), whiskers ± std, dots the seeds. "
                    "Lines: the reference row's random inits; a tick on a bar: that row's own strongest random init."
                    "</p>" + f"<img alt=\"rows side by side\" style=\"max-width:100%\" src=\"{_compare_bars(report)}\">")
    paired = report.get("paired") or {}
    if paired:
        ref = report["protocol"].get("reference")
        body.append(f"<h2>Paired against {_e(ref)}</h2><p>Each row minus {_e(ref)}, seed by seed, in points: mean ± "
                    "std of the per-seed differences; <b>clear</b> only when |mean| &gt; 2 standard errors.</p>")
        pcols = [c for c in cols if any(c in m for m in paired.values())]
        prow = []
        for name, m in paired.items():
            cells = "".join(
                "<td>-</td>" if c not in m else
                f"<td>{'<b>' if m[c]['clear'] else ''}{m[c]['mean']:+.1f}{'</b>' if m[c]['clear'] else ''}"
                + (f" ± {m[c]['std']:.1f}" if len(m[c]["seeds"]) > 1 else " (n=1)")
                + (" clear" if m[c]["clear"] else "") + "</td>" for c in pcols)
            prow.append(f"<tr><td class=\"l\">{_e(name)}</td>{cells}</tr>")
        body.append("<table><tr><th>row</th>" + "".join(f"<th>{_e(c)}</th>" for c in pcols) + "</tr>"
                    + "\n".join(prow) + "</table>")
        notes = read_by_random_init(paired)
        if notes:
            body.append("<p>A row that trains nothing is read by its strongest random init, metric by metric:</p><ul>"
                        + "".join(f"<li>{_e(n).replace('*', '')}</li>" for n in notes) + "</ul>")
    if report.get("unpaired"):
        body.append(f"<p>Not paired (scored on other videos than {_e(report['protocol'].get('reference'))}): "
                    f"{_e(', '.join(report['unpaired']))}.</p>")
    if gains:
        body.append("<h2>Against the strongest random init</h2><ul>")
        for method, g in gains.items():
            parts = ", ".join(f"{_e(name)} <b>{v['gain']:+.1f}</b> (vs {_e(BACKBONE_NAMES.get(v['against'], v['against']))})"
                              for name, v in g.items())
            body.append(f"<li><b>{_e(method)}</b>: {parts}</li>")
        body.append("</ul>")
    body.append("<h2>Runs</h2><table><tr><th>method</th><th>seed</th><th>steps</th><th>pretraining s</th>"
                "<th>scored on</th><th>folder</th></tr>")
    for r in runs:
        p = r["results"].get("protocol", {})
        body.append(f"<tr><td class=\"l\">{_e(r['method'])}</td><td>{r['seed']}</td><td>{_e(p.get('pretrain_steps', '?'))}"
                    f"</td><td>{_e(p.get('pretrain_seconds', '?'))}</td><td class=\"l\">{_e(p.get('holdout', 'test'))}</td>"
                    f"<td class=\"l\"><code>{_e(r['run_dir'])}</code>"
                    + (f" (the weights of {_e(p['pretrained_by_row'])})" if p.get("pretrained_by_row") else "")
                    + "</td></tr>")
    body.append("</table><details><summary>configuration</summary><pre>"
                + _e(json.dumps(report.get("config", {}), indent=2)) + "</pre></details>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>vidssl compare</title>"
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")
