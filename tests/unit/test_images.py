"""Preprocessing checked against references computed independently with numpy."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from markit.core.errors import BadInput, PayloadTooLarge, UnsupportedMediaType
from markit.tasks.common.images import ImagePreprocessing, center_crop, decode_image, resize, to_color_mode, to_tensor


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [((640, 480), 256, (341, 256)), ((480, 640), 256, (256, 341)), ((300, 300), 224, (224, 224)), ((100, 50), (20, 30), (30, 20))],
)
def test_resize_follows_torchvision_sizes(size, target, expected):
    assert resize(Image.new("RGB", size), target, "bilinear").size == expected


def test_resize_target_comes_from_the_size_the_image_stands_for():
    drafted = Image.new("RGB", (501, 375))  # 4001x2999 decoded at 1/8 scale
    assert resize(drafted, 256, "bilinear").size == (342, 256)
    assert resize(drafted, 256, "bilinear", source_size=(4001, 2999)).size == (341, 256)  # as the full decode
    assert resize(drafted, (100, 80), "bilinear", source_size=(4001, 2999)).size == (80, 100)


def test_nearest_resize_crop_and_normalize_match_numpy_reference():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    spec = ImagePreprocessing(color_mode="RGB", mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7), resize=12,
                              center_crop=(8, 8), interpolation="nearest")
    actual = spec.apply(encode(Image.fromarray(pixels)), 1_000_000)
    upscaled = np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)          # nearest x2
    cropped = upscaled[2:10, 2:10].astype(np.float64) / 255.0               # (12 - 8) / 2 = 2
    reference = (cropped - [0.1, 0.2, 0.3]) / [0.5, 0.6, 0.7]
    assert actual.shape == (3, 8, 8)
    assert actual.numpy() == pytest.approx(reference.transpose(2, 0, 1), abs=1e-6)


def test_constant_image_normalizes_to_exact_values():
    tensor = to_tensor(Image.new("RGB", (4, 4), (255, 0, 128)), (0.498,) * 3, (0.502,) * 3)
    assert tensor[:, 0, 0].tolist() == pytest.approx([(1 - 0.498) / 0.502, -0.498 / 0.502, (128 / 255 - 0.498) / 0.502], abs=1e-6)


@pytest.mark.parametrize(("width", "height", "box"), [(10, 8, (3, 2)), (9, 9, (2, 2)), (7, 6, (2, 1))])
def test_center_crop_offsets(width, height, box):
    pixels = np.arange(width * height, dtype=np.uint8).reshape(height, width)
    crop = np.asarray(center_crop(Image.fromarray(pixels), (4, 4)))
    left = round((width - 4) / 2.0)
    top = round((height - 4) / 2.0)
    assert (left, top) == box
    assert (crop == pixels[top:top + 4, left:left + 4]).all()


def test_center_crop_larger_than_image_pads_with_zeros_like_torchvision():
    crop = np.asarray(center_crop(Image.new("L", (2, 2), 200), (5, 5)))
    expected = np.zeros((5, 5), dtype=np.uint8)
    expected[1:3, 1:3] = 200  # torchvision pads (5 - 2) // 2 = 1 before the image
    assert (crop == expected).all()


def test_exif_orientation_is_honoured():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(encode(image, "JPEG", exif=exif.tobytes()), 10_000)
    assert decoded.size == (20, 40)


@pytest.mark.parametrize(
    ("image", "rgb"),
    [
        (Image.new("RGBA", (2, 2), (10, 20, 30, 0)), (255, 255, 255)),       # transparent -> white
        (Image.new("RGBA", (2, 2), (10, 20, 30, 255)), (10, 20, 30)),
        (Image.new("L", (2, 2), 77), (77, 77, 77)),
        (Image.new("CMYK", (2, 2), (0, 0, 0, 0)), (255, 255, 255)),
        (Image.new("1", (2, 2), 1), (255, 255, 255)),
        (Image.new("I;16", (2, 2), 65535), (255, 255, 255)),                  # 16-bit scaled, not clipped
        (Image.new("I;16", (2, 2), 32896), (128, 128, 128)),
        (Image.new("RGB", (2, 2), (1, 2, 3)).convert("P", palette=Image.Palette.ADAPTIVE), (1, 2, 3)),
    ],
)
def test_any_mode_converts_to_rgb(image, rgb):
    converted = to_color_mode(decode_image(encode(image, "TIFF" if image.mode == "CMYK" else "PNG"), 100), "RGB")
    assert converted.mode == "RGB"
    assert converted.getpixel((0, 0)) == rgb


def test_rgb_to_grayscale():
    assert to_color_mode(Image.new("RGB", (1, 1), (255, 255, 255)), "L").getpixel((0, 0)) == 255


def test_pixel_limit_is_per_call_and_leaves_pillow_global_alone():
    before = Image.MAX_IMAGE_PIXELS
    data = encode(Image.new("L", (300, 200)))
    with pytest.raises(PayloadTooLarge, match=r"the image \(300x200\): 60000 pixels, more than this model.s budget of 59999 \(budgets.p"):
        decode_image(data, 59_999)
    assert decode_image(data, 60_000).size == (300, 200)
    assert before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (b"", BadInput, "empty"),
        (b"hello, not an image", UnsupportedMediaType, "not an image format"),
        (encode(Image.new("RGB", (64, 64), (9, 9, 9)))[:-60], BadInput, "truncated or corrupt"),
        (encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")[:300], BadInput, "truncated or corrupt"),
    ],
)
def test_bad_image_bytes(data, error, fragment):
    with pytest.raises(error, match=fragment):
        decode_image(data, 1_000_000)


def test_tensor_is_float32_chw():
    tensor = to_tensor(Image.new("L", (3, 2), 0), (0.5,), (0.5,))
    assert tensor.dtype == torch.float32 and tensor.shape == (1, 2, 3)
