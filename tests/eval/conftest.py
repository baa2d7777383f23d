import dataclasses
import shutil

import pytest
import torch

from vidssl import api
from vidssl.config import DemoConfig, EvalConfig

_BUILT = {}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks gain nothing from a second thread, and on a busy machine two threads
    make the backward passes of fine-tuning ~10x slower (measured: 26 s vs 2 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_run(tiny_pretrain, tmp_path_factory, tmp_path):
    """A finished tiny demo run folder (trained once per session), copied into this test's tmp_path."""
    if "run" not in _BUILT:
        root = tmp_path_factory.mktemp("tiny-run") / "run"
        api.demo(DemoConfig(out_dir=str(root), pretrain=dataclasses.replace(tiny_pretrain, out_dir=str(root)),
                            eval=EvalConfig(knn_k=3, recall_ks=(1, 5), progress=False)))
        _BUILT["run"] = root
    return shutil.copytree(_BUILT["run"], tmp_path / "run")


def one_line(err: Exception) -> str:
    msg = str(err)
    assert msg and "\n" not in msg, msg
    return msg
