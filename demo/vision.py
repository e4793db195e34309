"""The demo's detectors and segmenters: answers as JSON, and each drawn on its photo in a PNG a person can open.

The photos are the ones the examples' scripts write to ``examples/*/build`` (scikit-image's bundled photos
for faces, held-out canvases of scikit-learn's digits for the digit models). A phone photo is imitated by
storing a photo sideways with an EXIF orientation tag: the boxes must land on the upright photo.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from markit.client.annotate import annotate
from markit.client.client import Reply, TorchServeClient

__all__ = ["digit_pages", "faces", "sideways"]

REPO = Path(__file__).resolve().parents[1]
DRAWN = REPO / ".run" / "demo"


def faces(client: TorchServeClient) -> None:
    print("\n== faces: facenet-pytorch's MTCNN ported to torch (object_detection): boxes and five landmarks, in the photo's pixels")
    build = REPO / "examples" / "faces" / "build"
    group = (build / "group.png").read_bytes()
    reply = client.predict_bytes("faces", group, "image/png")
    first = reply.body["detections"][0]
    print(f"  group.png -> HTTP {reply.status}: {len(reply.body['detections'])} faces; the first:")
    print("   ", json.dumps(first))
    show(group, reply, "faces_group.png")
    phone = sideways(group)
    turned = client.predict_bytes("faces", phone, "image/jpeg")
    box = turned.body["detections"][0]["box"]
    print(f"  group.png stored sideways (280x566) with EXIF orientation 6 -> image {turned.body['image']}, first face at "
          f"({box['x1']:.0f}, {box['y1']:.0f})-({box['x2']:.0f}, {box['y2']:.0f}): on the upright photo, as above")
    show(phone, turned, "faces_sideways.png")
    one = client.predict_base64("faces", group, max_detections=1)
    print(f"  max_detections 1 -> {[d['score'] for d in one.body['detections']]}")
    low = client.predict_base64("faces", group, threshold=0.1)
    print(f"  threshold 0.1 -> HTTP {low.status}: {low.body['message']}")


def digit_pages(client: TorchServeClient) -> None:
    print("\n== digits on a page: a detector and a segmenter trained here on pages of scikit-learn's digits")
    for model, figure in (("digit_boxes", "map50"), ("digit_segments", "miou")):
        metadata = client.describe(model)["spec"]["metadata"]
        print(f"  {model}: held-out {figure} {metadata[figure]} on {metadata['heldout_canvases']} pages "
              f"(examples/{model}/evaluate.py prints it)")
    page_path = REPO / "examples" / "digit_boxes" / "build" / "golden" / "canvas_0.png"
    page = page_path.read_bytes()
    boxes = client.predict_bytes("digit_boxes", page, "image/png")
    found = sorted(boxes.body["detections"], key=lambda d: d["box"]["x1"])
    print(f"  {page_path.name} -> digit_boxes: " + ", ".join(f"{d['label']} ({d['score']:.2f})" for d in found)
          + "  (left to right)")
    show(page, boxes, "digit_boxes.png")
    only = client.predict_base64("digit_boxes", page, classes=found[0]["label"])
    print(f"  classes={found[0]['label']!r} -> {[d['label'] for d in only.body['detections']]}")
    pixels = client.predict_base64("digit_segments", page, probability_of=found[0]["label"])
    shares = ", ".join(f"{c['label']} {c['fraction']:.1%}" for c in pixels.body["classes"])
    probability = pixels.body["probability"]
    print(f"  {page_path.name} -> digit_segments: {shares}; a {probability['width']}x{probability['height']} probability "
          f"map of {probability['label']!r} beside the {pixels.body['mask']['width']}x{pixels.body['mask']['height']} mask")
    show(page, pixels, "digit_segments.png")


def show(photo: bytes, reply: Reply, name: str) -> None:
    """Draw the answer on its photo into .run/demo/NAME and say where."""
    DRAWN.mkdir(parents=True, exist_ok=True)
    annotate(photo, reply.body).save(DRAWN / name, format="PNG")
    print(f"  drawn: {(DRAWN / name).relative_to(REPO)}")


def sideways(photo: bytes) -> bytes:
    """The photo as a phone stores a portrait: rotated, with the EXIF orientation that turns it upright (6)."""
    image = Image.open(io.BytesIO(photo)).convert("RGB").rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()
