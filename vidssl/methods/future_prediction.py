"""Future prediction: from the first frames of a clip, predict the next ones.

The generative family of the course material: Srivastava et al., ICML 2015 (an LSTM encoder
and a future-predicting decoder) and next-frame prediction (Mathieu et al., ICLR 2016). The
view's T frames are split into the past (the first T - ``future_frames``) and the future
(the last ``future_frames``). The backbone's stem and stages (the encoder that evaluation
uses) encode the past into a feature map, averaged over time; a light decoder (bilinear
upsampling to the frame size plus normalised (y, x) coordinates, one 3x3 convolution, ReLU,
and a 1x1 convolution) predicts the change of each future frame from the last past frame,
and the loss is their mean squared error (:func:`vidssl.losses.future_prediction_loss`).
The encoder is what is evaluated; the decoder is thrown away. A convolutional decoder in
place of the paper's LSTM keeps the method as light as its siblings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.losses import future_prediction_loss
from vidssl.methods.errors import ClipShapeError


class FuturePrediction(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, future_frames: int = 2) -> None:
        super().__init__()
        if not hasattr(backbone, "feature_map"):
            raise ValueError("future_prediction needs a backbone with feature_map (an R3D or R2D) to decode from")
        if future_frames < 1:
            raise ValueError(f"future_frames must be >= 1, got {future_frames}")
        self.backbone = backbone
        self.future_frames = future_frames
        d = head_hidden
        self.decoder = nn.Sequential(
            nn.Conv2d(backbone.feature_dim + 2, d, 3, padding=1, bias=False),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
            nn.Conv2d(d, 3 * future_frames, 1),
        )

    @staticmethod
    def clip_error(frames: int, crop: int, input: str, future_frames: int = 2) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        k, past_needed = future_frames, 2 if input == "residual" else 1
        if frames - k < past_needed:
            return (f"future_prediction predicts the last {k} frames of each clip from the ones before, so "
                    f"--clip-frames must be at least {k + past_needed}; got {frames}")
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, 3, T, H, W) batch, T > future_frames (past frames: 2 or more for residual input)."""
        x, k = views[0], self.future_frames
        n, c, t, h, w = x.shape
        if msg := self.clip_error(t, w, getattr(self.backbone, "input", "rgb"), k):
            raise ClipShapeError(msg)
        past, future = x[:, :, : t - k], x[:, :, t - k :]
        feat = self.backbone.feature_map(past).mean(2)  # N x D x h' x w': the past, averaged over time
        feat = F.interpolate(feat, size=(h, w), mode="bilinear", align_corners=False)
        coords = torch.stack(torch.meshgrid(torch.linspace(-1, 1, h, device=x.device),
                                            torch.linspace(-1, 1, w, device=x.device), indexing="ij"))
        pred = self.decoder(torch.cat([feat, coords.expand(n, -1, -1, -1).to(feat.dtype)], 1))  # N x 3k x H x W
        return future_prediction_loss(pred.view(n, k, c, h, w).transpose(1, 2), future, past[:, :, -1:])
