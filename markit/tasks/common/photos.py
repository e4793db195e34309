"""A photo as a model that places things on it takes it, and the way back to the photo's own pixels.

``PhotoPreprocessing`` (a manifest section, shared by the detection and segmentation tasks) says how a photo
becomes the model's input: upright by its EXIF orientation, in a color mode, fitted to the model's size by
letterbox (aspect kept, padded), stretch or not at all, then normalized. ``prepare`` does it up to the 8-bit
pixels and returns a ``Fitted``: the photo's upright size and the scale and offset that took it to the input, so
that boxes, points and masks go back to the photo's pixel coordinates. ``normalized_batch`` normalizes a batch's stacked
pixels at once (one vectorized step instead of one per photo; the same float32 operations in the same order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from PIL import Image
from pydantic import Field, model_validator

from ...core.errors import BadInput
from ...core.section import Section
from .images import INTERPOLATIONS, ColorMode, Interpolation, Pixels, check_channels, decode_scaled, to_color_mode, to_pixels

__all__ = ["Fitted", "PhotoPreprocessing", "fit", "normalized_batch", "over_photos", "prepare"]


class PhotoPreprocessing(Section):
    """A photo -> the model's input: upright (EXIF), in ``color_mode``, fitted to ``size`` by ``geometry``,
    normalized by ``mean``/``std`` (per channel, on 0..1 pixels)."""

    color_mode: ColorMode
    mean: Annotated[tuple[float, ...], Field(min_length=1, max_length=3, description="one per channel of color_mode")]
    std: Annotated[tuple[Annotated[float, Field(gt=0)], ...], Field(min_length=1, max_length=3, description="one per channel")]
    geometry: Literal["letterbox", "stretch", "none"] = Field("letterbox", description=(
        "letterbox: scaled to fit size keeping its aspect, padded with pad_value; stretch: resized to size; none: the "
        "photo as it is (the model takes any size; each photo runs on its own)"))
    size: tuple[Pixels, Pixels] | None = Field(None, description="[height, width] of the model's input (not for geometry none)")
    pad_value: Annotated[int, Field(ge=0, le=255, description="the letterbox's padding, 0..255 on every channel")] = 114
    interpolation: Interpolation = "bilinear"
    min_side: Pixels = Field(1, description="a photo whose shorter side has fewer pixels is refused (400)")
    exif: bool = Field(True, description="turn the photo upright by its EXIF orientation, as a person sees it")

    @model_validator(mode="after")
    def _consistent(self) -> PhotoPreprocessing:
        check_channels(self.color_mode, self.mean, self.std)
        if (self.size is None) != (self.geometry == "none"):
            raise ValueError(f"size is {'required' if self.size is None else 'not taken'} with geometry {self.geometry}")
        return self


@dataclass(frozen=True)
class Fitted:
    """The photo's (width, height), and input = photo * scale + offset, per axis."""

    width: int
    height: int
    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def box_to_photo(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        """x1, y1, x2, y2 in the input's pixels -> the photo's, clipped to it."""
        x1, y1 = self.point_to_photo(box[:2])
        x2, y2 = self.point_to_photo(box[2:4])
        return x1, y1, x2, y2

    def point_to_photo(self, point: Sequence[float]) -> tuple[float, float]:
        """x, y in the input's pixels -> the photo's, clipped to it."""
        x = min(max((point[0] - self.offset_x) / self.scale_x, 0.0), float(self.width))
        y = min(max((point[1] - self.offset_y) / self.scale_y, 0.0), float(self.height))
        return x, y


def fit(image: Image.Image, geometry: str, size: tuple[int, int] | None, pad_value: int,
        interpolation: str) -> tuple[Image.Image, Fitted]:
    """The image as the model takes it (``size``: [height, width]) and how to map back to ``image``."""
    width, height = image.size
    if geometry == "none" or size is None:
        return image, Fitted(width, height)
    target_h, target_w = size
    resample = INTERPOLATIONS[interpolation]
    if geometry == "stretch":
        resized = image if image.size == (target_w, target_h) else image.resize((target_w, target_h), resample)
        return resized, Fitted(width, height, target_w / width, target_h / height)
    scale = min(target_w / width, target_h / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (target_w - new_w) // 2, (target_h - new_h) // 2
    canvas = Image.new(image.mode, (target_w, target_h), (pad_value,) * len(image.getbands()))
    canvas.paste(image if (new_w, new_h) == image.size else image.resize((new_w, new_h), resample), (left, top))
    return canvas, Fitted(width, height, new_w / width, new_h / height, float(left), float(top))


def prepare(data: bytes, preprocessing: PhotoPreprocessing, max_pixels: int) -> tuple[torch.Tensor, Fitted]:
    """Image bytes -> the model's input pixels (uint8: channels, height, width; ``normalized_batch`` normalizes them) and how
    they map back to the photo."""
    image, _ = decode_scaled(data, max_pixels, None, preprocessing.color_mode, upright=preprocessing.exif)
    if min(image.size) < preprocessing.min_side:
        raise BadInput(f"the image is {image.width}x{image.height} pixels; this model needs at least {preprocessing.min_side} "
                       f"on each side (preprocess.min_side): send a larger photo")
    image = to_color_mode(image, preprocessing.color_mode)
    fitted_image, fitted = fit(image, preprocessing.geometry, preprocessing.size, preprocessing.pad_value, preprocessing.interpolation)
    return to_pixels(fitted_image), fitted


def normalized_batch(items: Sequence[Any], preprocessing: PhotoPreprocessing) -> torch.Tensor:
    """The decoded photos' pixels (all of one size), stacked and normalized: float32 ``[B, C, H, W]``, each value
    ``(pixel / 255 - mean) / std`` of its channel."""
    pixels = torch.stack([item.tensor for item in items]).to(torch.float32).div_(255.0)
    mean = torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(preprocessing.std, dtype=torch.float32).view(1, -1, 1, 1)
    return pixels.sub_(mean).div_(std)


def over_photos(items: Sequence[Any], preprocessing: PhotoPreprocessing, run: Callable[[torch.Tensor], Sequence[Any]]) -> list[Any]:
    """``run`` (the model over a batch -> one result per photo) once over the decoded photos' ``normalized_batch``; with
    ``geometry: none`` the photos differ in size, so each runs on its own."""
    if preprocessing.geometry == "none":
        return [found for item in items for found in run(normalized_batch([item], preprocessing))]
    return list(run(normalized_batch(items, preprocessing)))
