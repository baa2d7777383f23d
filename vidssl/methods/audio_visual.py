"""Audio-visual correspondence (Look, Listen and Learn).

Arandjelović and Zisserman, "Look, Listen and Learn", ICCV 2017: a vision network and an audio
network, trained from scratch together, must say whether a video frame and a second of audio
go together; a positive pairs them from the same video at the same time, a negative takes the
audio of another video. Their two embeddings are concatenated and classified by two fully
connected layers (binary cross-entropy). The vision network is what is evaluated.

Here the vision network is the backbone on the clip (the paper: one frame through a 2D
network), the audio is the log-mel spectrogram of the ``audio_seconds`` centred on the clip
(:mod:`vidssl.data.audio`; the paper: a 1 s log-spectrogram), and the audio network is four
blocks of two 3 x 3 convolutions, BatchNorm and ReLU with 2 x 2 max pooling between (the
paper's L3 audio subnetwork, at ``audio_width`` x its 64-512 channels), pooled over time and
frequency. Half of each batch is positive; a negative takes the audio of the clip
``shift`` places along in the batch (another video: a batch holds distinct videos).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.modules.step_rng import StepRNG, balanced_labels


def audio_network(width: float = 0.25) -> tuple[nn.Module, int]:
    """L3's audio subnetwork (4 blocks of conv-BN-ReLU x 2, max pooling between), scaled by ``width``."""
    layers, c_in = [], 1
    chans = [max(4, round(c * width)) for c in (64, 128, 256, 512)]
    for i, c in enumerate(chans):
        for _ in range(2):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        if i < len(chans) - 1:
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), chans[-1]


def mismatched_audio(audio: torch.Tensor, labels: torch.Tensor, shift: int) -> torch.Tensor:
    """audio: N x ... per clip; labels: N (1 = keep its own audio). A clip labelled 0 gets the audio of
    the clip ``shift`` places along (cyclically)."""
    other = audio.roll(-shift, 0)
    keep = labels.bool().view(-1, *([1] * (audio.ndim - 1)))
    return torch.where(keep, audio, other)


class AudioVisual(nn.Module):
    num_views = 1
    wants_audio = True  # the data pipeline hands each clip's audio (log-mel) as ``audio``
    audio_seconds = 1.0

    def __init__(self, backbone: nn.Module, head_hidden: int = 128, audio_width: float = 0.25) -> None:
        super().__init__()
        self.backbone = backbone
        self.audio_net, audio_dim = audio_network(audio_width)
        self.classifier = nn.Sequential(nn.Linear(backbone.feature_dim + audio_dim, head_hidden),
                                        nn.ReLU(inplace=True), nn.Linear(head_hidden, 2))
        self.rng = StepRNG()

    def forward(self, views: list[torch.Tensor], audio: torch.Tensor) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch; audio: (N, 1, mels, frames), each clip's own. Returns the loss."""
        x = views[0]
        n = x.shape[0]
        if audio.shape[0] != n or n < 2:
            raise ValueError(f"need one audio per clip and at least 2 clips, got {audio.shape[0]} for {n}")
        g = self.rng.next()
        y = balanced_labels(n, 2, g).to(x.device)  # 1 = the clip's own audio
        shift = int(torch.randint(1, n, (1,), generator=g))
        a = mismatched_audio(audio.to(x.dtype), y, shift)
        f = torch.cat([self.backbone(x), self.audio_net(a)], 1)
        return F.cross_entropy(self.classifier(f), y)
