"""vidssl: self-supervised learning of video representations."""

from vidssl.api import demo, evaluate, load_pretrain_checkpoint, pretrain, track
from vidssl.compare import CompareConfig, compare
from vidssl.config import AugConfig, DataConfig, DemoConfig, EvalConfig, ModelConfig, PretrainConfig, TrackConfig
from vidssl.errors import VidsslError
from vidssl.export import export_encoder, load_encoder, preprocess

__version__ = "0.1.0"
__all__ = [
    "AugConfig", "CompareConfig", "DataConfig", "DemoConfig", "EvalConfig", "ModelConfig", "PretrainConfig",
    "TrackConfig", "VidsslError", "compare", "demo", "evaluate", "export_encoder", "load_encoder",
    "load_pretrain_checkpoint", "preprocess", "pretrain", "track",
]
