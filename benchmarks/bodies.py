"""The request bodies the benchmarks send: real photos shipped with scikit-image, as JPEGs."""

from __future__ import annotations

import io

from markit.ops.load.body import Body, file_body

__all__ = ["Body", "coffee_jpeg", "file_body", "json_base64", "json_text", "large_jpeg"]

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



def json_base64(photo: Body) -> Body:
    """``{"data": base64}`` of the photo: what a JSON-only server (LitServe) takes, and ours too."""
    import base64
    import json

    data = json.dumps({"data": base64.b64encode(photo.data).decode("ascii")}).encode("utf-8")
    return Body(data, "application/json", f'{{"data": base64}} of {photo.label} ({len(data) // 1024} KiB)')


def json_text(text: str) -> Body:
    """The text as a JSON string (ours also takes text/plain, LitServe only JSON)."""
    import json

    data = json.dumps(text).encode("utf-8")
    return Body(data, "application/json", f"{text!r} as a JSON string ({len(data)} bytes)")
