"""Pure image preprocessing: bytes -> PIL image -> normalized CHW tensor.

Nothing here knows about TorchServe, and nothing changes Pillow's global settings: the
decompression-bomb limit is checked per call against the archive's own ``max_pixels``.
Geometry follows torchvision's conventions (shorter-side resize with truncation, center crop
offsets rounded, zero padding when the crop is larger than the image), so models trained with
torchvision transforms get the same pixels without torchvision.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ArchiveError, BadInput, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "COLOR_MODES",
    "INTERPOLATIONS",
    "ImagePreprocessing",
    "center_crop",
    "decode_image",
    "resize",
    "to_color_mode",
    "to_tensor",
]

INTERPOLATIONS: Mapping[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
COLOR_MODES = {"RGB": 3, "L": 1}


@dataclass(frozen=True)
class ImagePreprocessing:
    """The preprocessing an archive declares (its manifest's ``spec.preprocess``)."""

    color_mode: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | tuple[int, int] | None = None
    center_crop: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    max_pixels: int = 40_000_000

    @classmethod
    def from_manifest(cls, section: Mapping[str, Any]) -> ImagePreprocessing:
        try:
            resize = section.get("resize")
            crop = section.get("center_crop")
            return cls(
                color_mode=section["color_mode"],
                mean=tuple(float(v) for v in section["mean"]),
                std=tuple(float(v) for v in section["std"]),
                resize=tuple(resize) if isinstance(resize, list) else resize,
                center_crop=tuple(crop) if crop is not None else None,
                interpolation=section.get("interpolation", "bilinear"),
                max_pixels=int(section.get("max_pixels", 40_000_000)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ArchiveError(f"manifest spec.preprocess is invalid: {err!r}") from err

    def apply(self, data: bytes) -> torch.Tensor:
        """Raw image bytes -> float tensor of shape (channels, height, width)."""
        image = to_color_mode(decode_image(data, self.max_pixels), self.color_mode)
        if self.resize is not None:
            image = resize(image, self.resize, self.interpolation)
        if self.center_crop is not None:
            image = center_crop(image, self.center_crop)
        return to_tensor(image, self.mean, self.std)


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode bytes into a fully loaded, EXIF-upright image, refusing oversized ones before decoding."""
    if not data:
        raise BadInput("the request body is empty: send the image bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_pixels(image.size, max_pixels)
            image.load()
    except UnidentifiedImageError as err:
        raise UnsupportedMediaType(
            f"the body ({len(data)} bytes, starting {data[:8]!r}) is not an image format Pillow can read; "
            "send PNG, JPEG, WebP, GIF, BMP or TIFF bytes"
        ) from err
    except Image.DecompressionBombError as err:
        raise PayloadTooLarge(f"image refused as a decompression bomb: {err}") from err
    except (OSError, EOFError, SyntaxError, ValueError) as err:
        raise BadInput(f"the image data is truncated or corrupt ({err}); send the complete file") from err
    return ImageOps.exif_transpose(image)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image is {width}x{height} = {width * height} pixels, more than this model's limit of "
            f"{max_pixels} (preprocess.max_pixels); send a smaller image"
        )


def to_color_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert any Pillow mode (RGBA, P, CMYK, I;16, F, 1, ...) to ``RGB`` or ``L``.

    Transparency is composited onto white; 16-bit samples are scaled, not clipped, to 8 bits.
    """
    if mode not in COLOR_MODES:
        raise ArchiveError(f"manifest spec.preprocess.color_mode {mode!r} is not one of {sorted(COLOR_MODES)}")
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_8bit_gray(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == mode else image.convert(mode)


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float samples into 0..255."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        scaled = array * 255.0 if array.size and array.max() <= 1.0 else array
    else:
        scaled = array / 257.0 if array.size and array.max() > 255 else array
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def resize(image: Image.Image, size: int | Sequence[int], interpolation: str) -> Image.Image:
    """Resize the shorter side to ``size`` (keeping aspect, long side truncated) or to exact (height, width)."""
    width, height = image.size
    if isinstance(size, int):
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    else:
        new_h, new_w = size
    if (new_w, new_h) == (width, height):
        return image
    return image.resize((new_w, new_h), INTERPOLATIONS[interpolation])


def center_crop(image: Image.Image, size: Sequence[int]) -> Image.Image:
    """Crop (height, width) from the center; areas outside the image are zero, as in torchvision."""
    crop_h, crop_w = size
    width, height = image.size
    top = _crop_offset(height, crop_h)
    left = _crop_offset(width, crop_w)
    return image.crop((left, top, left + crop_w, top + crop_h))


def _crop_offset(length: int, crop: int) -> int:
    if length >= crop:
        return round((length - crop) / 2.0)
    return -((crop - length) // 2)  # torchvision pads (crop - length) // 2 before the image


def to_tensor(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """8-bit image -> float32 CHW tensor in [0, 1], then ``(x - mean) / std`` per channel."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean_t) / std_t
