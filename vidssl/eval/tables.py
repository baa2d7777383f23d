"""How comparison tables name their rows and show a mean over seeds (shared by compare.md and compare.html)."""

from __future__ import annotations

from typing import Any

# what each backbone row of a comparison is, in words
BACKBONE_NAMES = {
    "ssl": "self-supervised",
    "supervised": "pretrained with labels (supervised)",
    "random_init": "random init, same input (BN re-estimated)",
    "random_init_no_bn_recal": "random init, same input, initial BN statistics",
    "random_init_bn_recal": "random init, same input (BN re-estimated)",
    "random_init_rgb": "random init, RGB (BN re-estimated)",
    "random_init_rgb_no_bn_recal": "random init, RGB, initial BN statistics",
    "random_init_rgb_bn_recal": "random init, RGB (BN re-estimated)",
}

# ``vidssl eval`` scores random init with both BN choices: the key of the one that is not the evaluation's own
RANDOM_INIT_OTHER_BN = {True: "random_init_no_bn_recal", False: "random_init_bn_recal"}


def run_backbone_name(key: str, entry: dict[str, Any]) -> str:
    """How one run's report names a backbone: random inits say which BN statistics they were scored with
    (from the entry itself, so the name cannot disagree with how it was measured)."""
    if not key.startswith("random_init"):
        return {"ssl": "self-supervised", "supervised": "supervised from scratch"}.get(key, key)
    bn = "BN re-estimated" if entry.get("bn_recalibration_clips", 0) > 0 else "initial BN statistics"
    return f"random init{', RGB' if '_rgb' in key else ''} ({bn})"


def strongest_random_init(results: dict[str, Any], label: str) -> str | None:
    """The random-init backbone with the highest linear probe on ``label`` (the one a gain is read against)."""
    scored = {k: m["labels"][label]["linear_probe"]["accuracy"] for k, m in results.items()
              if k.startswith("random_init") and "linear_probe" in m.get("labels", {}).get(label, {})}
    return max(scored, key=scored.get) if scored else None


def mean_std(cell: dict[str, Any]) -> str:
    """``mean ± std`` over seeds; one seed shows ``(n=1)``, never a spread of 0."""
    return f"{cell['mean']:.1f} ± {cell['std']:.1f}" if len(cell.get("values", ())) > 1 else f"{cell['mean']:.1f} (n=1)"


def read_by_random_init(paired: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One line per row that trains nothing: which of its random inits each metric was read by."""
    out = []
    for row, m in paired.items():
        metrics: dict[str, list[str]] = {}  # backbone -> the metrics read by it
        for name, v in m.items():
            metrics.setdefault(v["against"], []).append(name)
        if set(metrics) != {"ssl"}:
            out.append(f"{row}: " + "; ".join(f"{_and(ns)} by *{BACKBONE_NAMES.get(b, b)}*"
                                              for b, ns in metrics.items()))
    return out


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
