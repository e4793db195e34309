"""A small single-stage digit detector (CenterNet-like, on a stride-4 grid) for pages of handwritten digits.

The contract the ``object_detection`` task relies on: ``forward(images)`` takes float32 ``[B, 1, H, W]``,
normalized as ``(pixel / 255 - mean) / std`` with the ``normalization`` artifact's mean and std, and
returns ``(boxes [B, N, 4] float32 x1, y1, x2, y2 in the input's pixels, scores [B, N] float32 in 0..1,
classes [B, N] int64)``, N = the ``decoding`` artifact's ``top_k``. Candidates are the top_k (cell, digit)
pairs by score; the model applies no NMS (the task does it, class-wise), so neighbouring cells may
propose the same digit. The forward has no data-dependent control flow, so torch.export captures it.

Each grid cell predicts, per digit, how likely the cell is that digit's centre (a sigmoid heatmap
trained with CenterNet's focal loss), and the distances from the cell's centre to the four box edges
(as log of distance / stride), so any cell near a centre proposes a whole box.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

STRIDE = 4          # pixels per grid cell: the first layer halves the page, the encoder halves it again
DIGITS = 10
MAX_LOG_DISTANCE = 6.0  # exp(6) * 4 px: far beyond any page, so a wild output cannot overflow


def conv(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))


class DigitBoxes(nn.Module):
    """Page of digits -> top-k scored boxes per page, in the layout described in the module docstring."""

    def __init__(self, artifacts: Mapping[str, Any], channels: int = 24) -> None:
        super().__init__()
        decoding = json.loads(Path(artifacts["decoding"]).read_text(encoding="utf-8"))
        normalization = json.loads(Path(artifacts["normalization"]).read_text(encoding="utf-8"))
        if decoding["stride"] != STRIDE:
            raise ValueError(f"decoding.stride: this architecture has stride {STRIDE}, the artifact says {decoding['stride']}")
        self.top_k = int(decoding["top_k"])
        self.mean = float(normalization["mean"])
        self.std = float(normalization["std"])
        # the digits are 8x8 samples drawn at 16..40 px: half resolution loses nothing, and costs a quarter
        self.shrink = nn.AvgPool2d(2)
        self.fine = nn.Sequential(conv(1, 16), conv(16, channels, 2), conv(channels, channels))
        self.coarse = nn.Sequential(conv(channels, 2 * channels, 2), conv(2 * channels, 2 * channels),
                                    conv(2 * channels, 2 * channels, dilation=2))
        self.lateral = nn.Conv2d(2 * channels, channels, 1)
        self.fuse = conv(channels, channels)
        self.heat = nn.Conv2d(channels, DIGITS, 1)
        self.distances = nn.Conv2d(channels, 4, 1)
        nn.init.constant_(self.heat.bias, -2.19)  # CenterNet's prior: sigmoid(-2.19) = 0.1, so the focal loss starts calm
        nn.init.constant_(self.distances.bias, 1.5)  # about 4.5 cells, the middle of the digits' half-sizes

    def heads(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw outputs per cell: heatmap logits ``[B, 10, H/4, W/4]`` and log(edge distance / stride) ``[B, 4, H/4, W/4]``
        ordered left, top, right, bottom. Training reads these; ``forward`` decodes them."""
        fine = self.fine(self.shrink(images))
        coarse = self.lateral(self.coarse(fine))
        features = self.fuse(fine + nn.functional.interpolate(coarse, size=fine.shape[-2:], mode="nearest"))
        return self.heat(features), self.distances(features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        heat, distances = self.heads(images)
        return decode(heat, distances, self.top_k, images.shape[-2], images.shape[-1])

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pages ``[B, H, W]`` (or ``[H, W]``) -> the float32 ``[B, 1, H, W]`` the forward expects."""
        pages = pixels.reshape(-1, 1, *pixels.shape[-2:]).float()
        return (pages / 255.0 - self.mean) / self.std


def decode(heat: torch.Tensor, distances: torch.Tensor, top_k: int, height: int, width: int,
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top_k (cell, digit) pairs of each page by heat, each with the box its cell predicts, clipped to
    the page. Ranking pairs rather than cells keeps a cell's second-best digit as a lower-scored candidate."""
    batch, digits, rows, cols = heat.shape
    scores, index = torch.sigmoid(heat).reshape(batch, digits * rows * cols).topk(top_k, dim=1)
    classes = torch.div(index, rows * cols, rounding_mode="floor")
    cell = index - classes * (rows * cols)
    ys = (torch.div(cell, cols, rounding_mode="floor").float() + 0.5) * STRIDE
    xs = ((cell % cols).float() + 0.5) * STRIDE
    edges = torch.exp(distances.clamp(max=MAX_LOG_DISTANCE)) * STRIDE
    edges = edges.reshape(batch, 4, rows * cols).gather(2, cell.unsqueeze(1).expand(batch, 4, top_k))
    boxes = torch.stack([(xs - edges[:, 0]).clamp(0, width), (ys - edges[:, 1]).clamp(0, height),
                         (xs + edges[:, 2]).clamp(0, width), (ys + edges[:, 3]).clamp(0, height)], dim=2)
    return boxes, scores, classes
