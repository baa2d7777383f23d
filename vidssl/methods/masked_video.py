"""Masked video modelling with a convolutional encoder: VideoMAE's tube masking on R3D.

Tong et al., "VideoMAE", NeurIPS 2022; He et al., "Masked Autoencoders", CVPR 2022. The
clip is cut into p x p spatial patches; a random ``mask_ratio`` of the patch positions is
masked in every frame (tube masking, so a masked patch cannot be copied from a
neighbouring frame), its pixels set to 0 (the data mean after normalisation). The
backbone's stem and stages (the encoder that evaluation uses) encode the masked clip; a
light decoder (nearest upsampling to the T x H/p x W/p patch grid, plus normalised
(t, y, x) coordinates so it knows where each patch is, then one 3x3x3 conv and a 1x1x1
conv to 3 p p pixels per patch) predicts every patch, and the loss is the MSE on the
masked patches only, against per-patch normalised pixels (MAE's best target).

Why this rather than dense predictive coding (Han et al. 2019)? DPC needs a recurrent
aggregator, several future steps of several blocks each (clips of 40+ frames) and its own
dense contrastive loss; masked modelling works on the short clips every other method here
uses, adds only a two-layer decoder, and gives the family a non-contrastive,
pixel-reconstruction objective to compare against. Unlike a ViT, a CNN still sees the
masked (zeroed) regions, so masking regularises less than in VideoMAE; SparK (Tian et al.
2023) fixes that with sparse convolutions, which this small version leaves out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.losses import masked_reconstruction_loss
from vidssl.methods.errors import ClipShapeError
from vidssl.modules.step_rng import StepRNG


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """x: N x C x T x H x W -> N x (T * H/p * W/p) x (C * p * p), patches ordered (t, y, x)."""
    n, c, t, h, w = x.shape
    x = x.reshape(n, c, t, h // p, p, w // p, p).permute(0, 2, 3, 5, 1, 4, 6)  # N x T x h x w x C x p x p
    return x.reshape(n, t * (h // p) * (w // p), c * p * p)


def tube_mask(n: int, grid: int, ratio: float, frames: int, g: torch.Generator) -> torch.Tensor:
    """N x (frames * grid) float mask, 1 = masked; the same round(ratio * grid) positions in every frame."""
    n_mask = min(grid - 1, max(1, round(ratio * grid)))
    order = torch.rand(n, grid, generator=g).argsort(1)  # MAE's random masking: a random ranking per clip
    mask = (order.argsort(1) < n_mask).float()  # N x grid
    return mask.repeat(1, frames)  # N x (frames * grid), patches ordered (t, y, x)


class MaskedVideoModel(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, patch_size: int = 4, mask_ratio: float = 0.75,
                 norm_pix: bool = True) -> None:
        super().__init__()
        if not (hasattr(backbone, "stem") and hasattr(backbone, "stages")):
            raise ValueError("masked_video needs a backbone with .stem and .stages (an R3D) to decode its feature map")
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.backbone = backbone
        self.patch_size, self.mask_ratio, self.norm_pix = patch_size, mask_ratio, norm_pix
        d, p = head_hidden, patch_size
        self.decoder = nn.Sequential(
            nn.Conv3d(backbone.feature_dim + 3, d, 3, padding=1, bias=False),
            nn.BatchNorm3d(d),
            nn.ReLU(inplace=True),
            nn.Conv3d(d, 3 * p * p, 1),
        )
        self.rng = StepRNG()

    @staticmethod
    def clip_error(frames: int, crop: int, input: str, patch_size: int = 4, width: int | None = None) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        p, w = patch_size, crop if width is None else width
        if crop % p or w % p:
            return (f"masked_video cuts frames into {p} x {p} patches, so --crop-size must be a multiple of {p}; "
                    f"got H x W = {crop} x {w}")
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, 3, T, H, W) batch, H and W divisible by patch_size. Returns the loss."""
        x, p = views[0], self.patch_size
        n, _, t, h, w = x.shape
        if msg := self.clip_error(t, h, self.backbone.input, p, w):
            raise ClipShapeError(msg)
        grid = (t, h // p, w // p)
        mask = tube_mask(n, grid[1] * grid[2], self.mask_ratio, t, self.rng.next()).to(x.device)  # N x L
        pixel_mask = mask.view(n, 1, t, grid[1], 1, grid[2], 1).expand(n, 1, t, grid[1], p, grid[2], p)
        visible = x * (1 - pixel_mask.reshape(n, 1, t, h, w))  # masked patches set to 0
        feat = self.backbone.stages(self.backbone.stem(visible))  # N x D x T' x H' x W'
        feat = F.interpolate(feat, size=grid, mode="nearest")  # N x D x T x h x w
        coords = torch.stack(torch.meshgrid(*(torch.linspace(-1, 1, s, device=x.device) for s in grid), indexing="ij"))
        coords = coords.expand(n, -1, -1, -1, -1).to(feat.dtype)  # N x 3 x T x h x w
        pred = self.decoder(torch.cat([feat, coords], 1))  # N x 3pp x T x h x w
        pred = pred.flatten(2).transpose(1, 2)  # N x L x 3pp, ordered (t, y, x) like patchify
        return masked_reconstruction_loss(pred, patchify(x, p), mask, norm_pix=self.norm_pix)
