"""A small semantic segmenter for pages of handwritten digits: which pixels are ink of which digit.

The contract: ``forward(images)`` takes float32 ``[B, 1, H, W]`` normalized as ``(pixel / 255 - mean) / std``
with the ``normalization`` artifact's mean and std (H and W multiples of 8), and returns logits
``[B, 11, H, W]``: channel 0 is background, channel d + 1 is digit d, as the ``classes`` artifact lists.
No data-dependent control flow, so torch.export captures the forward.

Two paths meet at full resolution: an encoder at 1/4 and 1/8 of the page sees whole digits and decides
*which* digit a region is; a single full-resolution convolution sees the pixel and its neighbours and
decides *whether* it is ink. A per-pixel 1x1 head combines them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

CLASSES = 11    # background + digits 0-9


def conv(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))


class DigitSegments(nn.Module):
    """Page of digits -> per-pixel logits over background and the ten digits."""

    def __init__(self, artifacts: Mapping[str, Any], channels: int = 24, local: int = 16) -> None:
        super().__init__()
        normalization = json.loads(Path(artifacts["normalization"]).read_text(encoding="utf-8"))
        classes = json.loads(Path(artifacts["classes"]).read_text(encoding="utf-8"))
        if len(classes) != CLASSES:
            raise ValueError(f"classes: this model has {CLASSES} output channels, the artifact lists {len(classes)}")
        self.mean = float(normalization["mean"])
        self.std = float(normalization["std"])
        # the digits are 8x8 samples drawn at 16..40 px: half resolution loses no detail and costs a quarter
        self.shrink = nn.AvgPool2d(2)
        self.local = conv(1, local)   # at half resolution: each pixel and its neighbours, for where the ink ends
        self.fine = nn.Sequential(conv(local, channels, 2), conv(channels, channels))
        self.coarse = nn.Sequential(conv(channels, 2 * channels, 2), conv(2 * channels, 2 * channels),
                                    conv(2 * channels, 2 * channels, dilation=2))
        self.lateral = nn.Conv2d(2 * channels, channels, 1)
        self.fuse = conv(channels, channels)
        self.head = nn.Sequential(nn.Conv2d(channels + local, 16, 1), nn.ReLU(inplace=True), nn.Conv2d(16, CLASSES, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(self.half_logits(images), size=images.shape[-2:], mode="bilinear", align_corners=False)

    def half_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits at half resolution ``[B, 11, H/2, W/2]``, before the final upsampling: training reads these
        (against each 2x2 block's class proportions), as the full-resolution loss costs twice the whole step."""
        local = self.local(self.shrink(images))
        fine = self.fine(local)
        coarse = self.lateral(self.coarse(fine))
        context = self.fuse(fine + nn.functional.interpolate(coarse, size=fine.shape[-2:], mode="nearest"))
        context = nn.functional.interpolate(context, size=local.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([local, context], dim=1))

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pages ``[B, H, W]`` (or ``[H, W]``) -> the float32 ``[B, 1, H, W]`` the forward expects."""
        pages = pixels.reshape(-1, 1, *pixels.shape[-2:]).float()
        return (pages / 255.0 - self.mean) / self.std
