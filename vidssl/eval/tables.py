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


def mean_std(cell: dict[str, Any]) -> str:
    """``mean ± std`` over seeds; one seed shows ``(n=1)``, never a spread of 0."""
    return f"{cell['mean']:.1f} ± {cell['std']:.1f}" if len(cell.get("values", ())) > 1 else f"{cell['mean']:.1f} (n=1)"
