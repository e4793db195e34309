"""The request bodies the benchmarks send: real photos shipped with scikit-image, as JPEGs."""

from __future__ import annotations

import io

from markit.ops.load.body import Body, file_body

__all__ = ["Body", "coffee_jpeg", "file_body", "large_jpeg"]

QUALITY = 90
SMALL = (600, 400)  # the coffee photo's own size (width, height)
LARGE = (4000, 3000)  # 12 megapixels, a phone photo's size


def _coffee(size: tuple[int, int]) -> Body:
    import skimage.data
    from PIL import Image

    image = Image.fromarray(skimage.data.coffee())
    if image.size != size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=QUALITY)
    width, height = size
    return Body(buffer.getvalue(), "image/jpeg", f"coffee {width}x{height} JPEG q{QUALITY} ({len(buffer.getvalue()) // 1024} KiB)")


def coffee_jpeg() -> Body:
    """scikit-image's coffee photo at its own 600x400, as a quality-90 JPEG."""
    return _coffee(SMALL)


def large_jpeg() -> Body:
    """The coffee photo upscaled to 4000x3000 (12 MP), as a quality-90 JPEG."""
    return _coffee(LARGE)
