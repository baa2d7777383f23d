"""Motion-over-scene transforms: pure functions on float videos ``(..., C, T, H, W)``.

Instance discrimination learns the easiest cue two views share; on real video that is
the scene. These transforms take the static scene away from that cue:

- :func:`residual_frames`, the differences of consecutive frames (Tao et al.,
  "Rethinking Motion Representation: Residual Frames with 3D ConvNets", 2020; used as a
  view in IIC, Tao et al., ACM MM 2020): a static video becomes all zeros.
- :func:`mix_frame`, a frame of another video blended into every frame of a clip
  (background mixing in the spirit of BE, Wang et al., CVPR 2021, "Removing the
  Background by Adding the Background"): the added frame is static, so the clip's motion
  is kept while its appearance no longer identifies it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def residual_frames(video: torch.Tensor) -> torch.Tensor:
    """``x[t+1] - x[t]`` along the time axis (dim -3): ``(..., C, T, H, W) -> (..., C, T-1, H, W)``."""
    if video.shape[-3] < 2:
        raise ValueError(f"residual frames need clips of at least 2 frames, got {video.shape[-3]}")
    return video[..., 1:, :, :] - video[..., :-1, :, :]


def mix_frame(video: torch.Tensor, frame: torch.Tensor, lam: float) -> torch.Tensor:
    """``(1 - lam) * video + lam * frame`` for every frame: ``video`` (C, T, H, W), ``frame`` (C, h, w).

    ``frame`` is resized (bilinear) to the video's H x W when its size differs. Frame
    differences of the result are those of ``video`` scaled by ``1 - lam``.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"mixing weight must be in [0, 1], got {lam}")
    return (1 - lam) * video + lam * fit_frame(frame, *video.shape[-2:])[:, None]


def fit_frame(frame: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``frame`` (C, h', w') resized (bilinear) to ``h`` x ``w``; unchanged when it has that size."""
    if frame.shape[-2:] != (h, w):
        frame = F.interpolate(frame[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    return frame
