"""Pure image preprocessing: bytes -> PIL image -> normalized CHW tensor.

Nothing here knows about TorchServe, and nothing changes Pillow's global settings: the
decompression-bomb limit is checked per call against the archive's own budget ``pixels``
(``budgets.py``), for every image a task or a convention model opens (``check_image_pixels``).
Geometry follows torchvision's conventions (shorter-side resize with truncation, center crop
offsets rounded, zero padding when the crop is larger than the image), so models trained with
torchvision transforms get the same pixels without torchvision.

With ``draft`` on, only what the resize needs is decoded: a JPEG at least ``DRAFT_MIN_RATIO`` times
the resize target is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (DCT scaling, never below the target), and an image
still more than ``REDUCING_GAP`` times the target after decoding is box-reduced, to no less than
that, before the final resize; and a resize followed by a center crop that fits is one resampling
of just the source region that the crop keeps (Pillow's ``resize(box=)``: half the output pixels
for 600x400 -> 256 -> 224). The output size and crop are computed from the full image, so the
geometry is the same as a full decode's and only the resampling differs (at some sizes by a few
levels of 255 at the crop's edges; none at 600x400). Without ``resize`` nothing changes (a crop of
the full image needs every pixel); with ``draft`` off the pixels are exactly those of a full decode,
resized whole, then cropped.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Literal, get_args

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from pydantic import Field, model_validator

from ...core.errors import ArchiveError, BadInput, PayloadTooLarge, UnsupportedMediaType
from ...core.section import Section

Pixels = Annotated[int, Field(ge=1)]

__all__ = [
    "COLOR_MODES",
    "DRAFT_FORMATS",
    "INTERPOLATIONS",
    "REDUCING_GAP",
    "ImagePreprocessing",
    "center_crop",
    "check_channels",
    "check_image_pixels",
    "decode_image",
    "decode_scaled",
    "resize",
    "resize_cropped",
    "resized_size",
    "to_color_mode",
    "to_pixels",
    "to_tensor",
]

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"]
INTERPOLATIONS: Mapping[str, Image.Resampling] = {name: Image.Resampling[name.upper()] for name in get_args(Interpolation)}
ColorMode = Literal["RGB", "L"]
COLOR_MODES = {"RGB": 3, "L": 1}
DRAFT_FORMATS = ("JPEG", "MPO")  # the formats Pillow can decode at a reduced scale (Image.draft)
# With draft on, an image still larger than this many times the resize target after decoding (a PNG,
# WebP, ...) is box-reduced to no less than that before the final resize (Pillow's resize(reducing_gap=)):
# a 12-MP PNG's resize to 341x256 bicubic takes 12 ms instead of 64.
REDUCING_GAP = 2.0
# JPEG draft decoding applies to photos at least this many times the resize target in both directions
# (photos under that are decoded in full, pixel for pixel as without draft); libjpeg then decodes at the
# smallest 1/2, 1/4 or 1/8 scale that stays at or above the target (a 12-MP photo: 17 ms instead of 168).
DRAFT_MIN_RATIO = 4
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations whose upright image swaps width and height


class ImagePreprocessing(Section):
    """The preprocessing an archive declares (its manifest's ``spec.preprocess``), as the spec gives it."""

    color_mode: ColorMode
    mean: Annotated[tuple[float, ...], Field(min_length=1, max_length=3, description="one per channel of color_mode")]
    std: Annotated[tuple[Annotated[float, Field(gt=0)], ...], Field(min_length=1, max_length=3, description="one per channel")]
    resize: Pixels | tuple[Pixels, Pixels] | None = Field(None, description=(
        "the shorter side to this many pixels (torchvision's convention), or [height, width]"))
    center_crop: tuple[Pixels, Pixels] | None = Field(None, description="[height, width] from the center")
    interpolation: Interpolation = "bilinear"
    draft: bool = Field(True, description=(
        "Decode only what resize needs: JPEGs at 1/2, 1/4 or 1/8 scale (never below the resize target), other large "
        "images box-reduced before the resize. Off: every pixel decoded, resized whole, then cropped."))

    @model_validator(mode="after")
    def _per_channel(self) -> ImagePreprocessing:
        check_channels(self.color_mode, self.mean, self.std)
        return self

    def apply(self, data: bytes, max_pixels: int) -> torch.Tensor:
        """Raw image bytes (of at most ``max_pixels``) -> float tensor of shape (channels, height, width)."""
        drafted_to = self.resize if self.draft else None
        image, full_size = decode_scaled(data, max_pixels, drafted_to, self.color_mode)
        image = to_color_mode(image, self.color_mode)
        if self.resize is not None and self.center_crop is not None and self.draft:
            image = resize_cropped(image, self.resize, self.center_crop, self.interpolation, source_size=full_size,
                                   reducing_gap=REDUCING_GAP)
        else:
            if self.resize is not None:
                gap = REDUCING_GAP if self.draft else None
                image = resize(image, self.resize, self.interpolation, source_size=full_size, reducing_gap=gap)
            if self.center_crop is not None:
                image = center_crop(image, self.center_crop)
        return to_tensor(image, self.mean, self.std)


def check_channels(color_mode: str, mean: Sequence[float], std: Sequence[float]) -> None:
    """``ValueError`` unless ``mean`` and ``std`` have one value per channel of ``color_mode``."""
    channels = COLOR_MODES[color_mode]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean and std need {channels} value(s) for color_mode {color_mode}, got {len(mean)} and {len(std)}")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode bytes into a fully loaded, EXIF-upright image, refusing oversized ones before decoding."""
    return decode_scaled(data, max_pixels, None, "RGB")[0]


def decode_scaled(
    data: bytes, max_pixels: int, size: int | Sequence[int] | None, mode: str, upright: bool = True
) -> tuple[Image.Image, tuple[int, int]]:
    """Like ``decode_image``, but a JPEG at least ``DRAFT_MIN_RATIO`` times as large as resizing to
    ``size`` needs is decoded at 1/2, 1/4 or 1/8 scale, never below the resize target, and straight to
    grey when ``mode`` is L. ``size`` None: a full decode.

    Returns the image and the upright size of the full image: compute the resize target from that
    one, so that the geometry is the same as after a full decode. ``upright`` False: the stored
    orientation, EXIF ignored (with ``size`` None only).
    """
    with _reading(data):
        image = _open(data, max_pixels)
        full_size = _draft(image, size, mode) if size is not None and image.format in DRAFT_FORMATS else None
        image.load()
    if not upright:
        return image, full_size or image.size
    turned = ImageOps.exif_transpose(image)
    return turned, full_size or turned.size


def _draft(image: Image.Image, size: int | Sequence[int], mode: str) -> tuple[int, int]:
    """Ask libjpeg to scale in the DCT while the image stays >= the target, for photos at least
    DRAFT_MIN_RATIO times the target (smaller ones decode exactly as without draft); returns the full
    upright size.

    The EXIF orientation is applied after decoding, so the target is turned into the stored orientation.
    Called before ``load()``; ``getexif()`` of a JPEG reads the header only.
    """
    transposed = image.getexif().get(ExifTags.Base.Orientation, 1) in _TRANSPOSING_ORIENTATIONS
    width, height = image.size
    full_size = (height, width) if transposed else (width, height)
    target_w, target_h = resized_size(full_size, size)
    stored = (target_h, target_w) if transposed else (target_w, target_h)
    if min(width // stored[0], height // stored[1]) >= DRAFT_MIN_RATIO:
        image.draft(mode, stored)  # Pillow picks the largest of 8, 4, 2 keeping both sides >= stored
    return full_size


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only, and refuse an image over ``max_pixels`` before anything is decoded."""
    if not data:
        raise BadInput("the request body is empty: send the image bytes")
    image = Image.open(io.BytesIO(data))
    _check_pixels(image.size, max_pixels)
    return image


@contextmanager
def _reading(data: bytes) -> Iterator[None]:
    """Turn Pillow's errors while opening and decoding ``data`` into the handler's errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except UnidentifiedImageError as err:
        raise UnsupportedMediaType(
            f"the body ({len(data)} bytes, starting {data[:8]!r}) is not an image format Pillow can read; "
            "send PNG, JPEG, WebP, GIF, BMP or TIFF bytes"
        ) from err
    except Image.DecompressionBombError as err:
        raise PayloadTooLarge(f"image refused as a decompression bomb: {err}") from err
    except (OSError, EOFError, SyntaxError, ValueError) as err:
        raise BadInput(f"the image data is truncated or corrupt ({err}); send the complete file") from err


def check_image_pixels(data: bytes, max_pixels: int) -> None:
    """When ``data`` is an image Pillow can read (its header only is read), refuse it over ``max_pixels``;
    other bytes pass (they are not an image, and whoever reads them says so)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            size = Image.open(io.BytesIO(data)).size
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"the image is over twice Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels, more than "
                              f"this model's budget of {max_pixels} (budgets.pixels); send a smaller image") from None
    except (UnidentifiedImageError, OSError, EOFError, SyntaxError, ValueError):
        return
    _check_pixels(size, max_pixels)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PayloadTooLarge(f"the image ({width}x{height}): {width * height} pixels, more than this model's budget "
                              f"of {max_pixels} (budgets.pixels); send a smaller image")


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


def resize(
    image: Image.Image,
    size: int | Sequence[int],
    interpolation: str,
    *,
    source_size: tuple[int, int] | None = None,
    reducing_gap: float | None = None,
) -> Image.Image:
    """Resize the shorter side to ``size`` (keeping aspect, long side truncated) or to exact (height, width).

    ``source_size``: the (width, height) the target is computed from, when ``image`` stands for a larger
    one (a JPEG decoded at reduced scale); default ``image.size``. ``reducing_gap``: Pillow's first step
    of integer box reduction while the image stays that many times the target (None: one exact resize).
    """
    target = resized_size(source_size or image.size, size)
    if target == image.size:
        return image
    return image.resize(target, INTERPOLATIONS[interpolation], reducing_gap=reducing_gap)


def resize_cropped(
    image: Image.Image,
    size: int | Sequence[int],
    crop: Sequence[int],
    interpolation: str,
    *,
    source_size: tuple[int, int] | None = None,
    reducing_gap: float | None = None,
) -> Image.Image:
    """``center_crop(resize(image, size, ...), crop)`` with only the kept region resampled: the crop's
    box, mapped back to ``image``, is resized straight to the crop size. A crop larger than the resized
    image (zero padding) takes the two steps."""
    target = resized_size(source_size or image.size, size)
    crop_h, crop_w = crop
    if crop_w > target[0] or crop_h > target[1]:
        return center_crop(resize(image, size, interpolation, source_size=source_size, reducing_gap=reducing_gap), crop)
    left, top = _crop_offset(target[0], crop_w), _crop_offset(target[1], crop_h)
    if target == image.size:
        return image.crop((left, top, left + crop_w, top + crop_h))
    scale_x, scale_y = image.width / target[0], image.height / target[1]
    box = (left * scale_x, top * scale_y, (left + crop_w) * scale_x, (top + crop_h) * scale_y)
    return image.resize((crop_w, crop_h), INTERPOLATIONS[interpolation], box=box, reducing_gap=reducing_gap)


def resized_size(size: tuple[int, int], target: int | Sequence[int]) -> tuple[int, int]:
    """The (width, height) ``resize`` gives an image of ``size`` = (width, height); ``target`` as in ``resize``."""
    width, height = size
    if isinstance(target, int):
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = target, int(target * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)
    new_h, new_w = target
    return new_w, new_h


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


def to_pixels(image: Image.Image) -> torch.Tensor:
    """8-bit image -> its uint8 CHW tensor, as it is (a copy the tensor owns)."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    return pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1).contiguous()


def to_tensor(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """8-bit image -> float32 CHW tensor in [0, 1], then ``(x - mean) / std`` per channel."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean_t) / std_t
