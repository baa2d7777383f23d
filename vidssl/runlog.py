"""The training log: ``train_log.jsonl`` always, TensorBoard event files too when ``tensorboard`` is installed.

``pip install -e '.[tensorboard]'`` turns the event files on; ``tensorboard --logdir
runs/x/tensorboard`` then shows them. Training writes ``train/<field>`` scalars (loss,
learning rate, clips/s, the fraction of wall time spent waiting for data) at the steps
of the JSONL log; evaluation writes ``eval/<backbone>/<label set>/<metric>`` at the
pretraining step count of the checkpoint it scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidssl.io import append_line

TENSORBOARD_DIR = "tensorboard"  # inside a run folder


def tensorboard_writer(log_dir: str | Path, purge_step: int | None = None):
    """A ``SummaryWriter`` for ``log_dir``, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


class RunLog:
    """Rows of numbers keyed by ``step``: appended to a JSONL file and, when it can, to TensorBoard.

    ``start_step`` > 0 (a run resumed from the checkpoint of that step) hides the TensorBoard
    events an interrupted run wrote past it, as the JSONL file drops its lines.
    """

    def __init__(self, jsonl: str | Path, tensorboard_dir: str | Path | None, start_step: int = 0) -> None:
        self._path = jsonl
        self._file = open(jsonl, "ab", buffering=0)  # noqa: SIM115  (closed by close()); unbuffered: a kill keeps every line
        self._tb = None
        if tensorboard_dir is not None:
            self._tb = tensorboard_writer(tensorboard_dir, purge_step=start_step + 1 if start_step else None)

    def write(self, row: dict[str, Any]) -> None:
        append_line(self._file, json.dumps(row) + "\n", self._path)  # a failed write is one line naming the file
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(f"train/{k}", v, row["step"])
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> RunLog:  # noqa: PYI034  (typing.Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def log_eval_metrics(run_dir: str | Path, report: dict[str, Any]) -> bool:
    """Write an evaluation report's metrics as TensorBoard scalars under ``run_dir/tensorboard``.

    Returns whether it wrote (False when tensorboard is not installed).
    """
    writer = tensorboard_writer(Path(run_dir) / TENSORBOARD_DIR)
    if writer is None:
        return False
    step = int(report["protocol"].get("pretrain_steps", 0))
    with writer:
        for backbone, r in report["results"].items():
            for label, m in r["labels"].items():
                if "skipped" in m:
                    continue
                tag = f"eval/{backbone}/{label}"
                writer.add_scalar(f"{tag}/linear_probe", m["linear_probe"]["accuracy"], step)
                writer.add_scalar(f"{tag}/knn", m["knn"]["accuracy"], step)
                for k, v in m["retrieval"].items():
                    writer.add_scalar(f"{tag}/{k}", v, step)
    return True
