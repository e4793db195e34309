"""A photo -> the class of every pixel, answered compactly: the class-index mask as a PNG (at the photo's size or a
declared maximum), each present class's share of the pixels, and on request one class's probability map at a
reduced size. Never a nested list of floats.

The model's forward takes the batch of fitted photos and returns logits ``[B, K, h, w]`` (K classes, one label
each; any h, w: they are resized to the input's size). The part of the input that is the photo (a letterbox
pads around it) is resized to the answer's size before the arg-max, so the mask lies on the upright photo.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from ...core.declared import Input
from ...core.errors import ArchiveError, BadInput
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import Payload, binary_input, parse_int_option
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput
from ..common.classification import some_labels
from ..common.photos import Fitted, normalized_batch, over_photos, prepare
from .manifest import SemanticSegmentationSpec

__all__ = ["Asked", "Segmenter", "png_array"]

OPTIONS = ("probability_of", "probability_side")
MAX_CLASSES = 256  # a mask is 8-bit


@dataclass(frozen=True)
class Asked:
    """One request's probability map: of which class (None: none asked), at which longer side."""

    probability_of: int | None
    probability_side: int


@dataclass(frozen=True)
class Photo:
    fitted: Fitted
    input_size: tuple[int, int]  # the model input's (height, width)
    asked: Asked


class Segmenter(TaskHandler):
    """Accepts a raw image body, a multipart field ``image``/``data``, or ``{"image": base64}`` JSON; optional
    ``probability_of`` (a label) and ``probability_side`` (up to ``postprocess.max_probability_side``)."""

    task = "semantic_segmentation"
    input_kind = "image"
    answer_fields: ClassVar[Mapping[str, str]] = {
        "mask": "json", "classes": "json", "image": "json", "probability": "json", "model": "json"}
    takes = (Input("image", "BYTES", (), "an image file's bytes: PNG, JPEG, WebP, ..."),
             Input("probability_of", "BYTES", (), "a label: answer its probability map too", required=False),
             Input("probability_side", "INT32", (), "the probability map's longer side, up to postprocess.max_probability_side",
                   required=False))

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: SemanticSegmentationSpec = archive.spec
        self.preprocessing = spec.preprocess
        self.post = spec.postprocess
        self.labels = tuple(archive.labels())
        if len(self.labels) > MAX_CLASSES:
            raise ArchiveError(f"the archive has {len(self.labels)} labels; a mask holds at most {MAX_CLASSES} classes")

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[Photo]:
        found = binary_input(payload, data_keys=("image",), option_keys=OPTIONS)
        asked = self.asked(found.options)
        tensor, fitted = prepare(found.data, self.preprocessing, self.budgets.pixels)
        return Decoded(tensor=tensor, detail=Photo(fitted, (tensor.shape[1], tensor.shape[2]), asked))

    def asked(self, options: Mapping[str, Any]) -> Asked:
        side = self.post.probability_side
        if "probability_side" in options:
            side = parse_int_option("probability_side", options["probability_side"], 1, self.post.max_probability_side,
                                    "this model's postprocess.max_probability_side is the most")
        label = options.get("probability_of")
        if label is None:
            return Asked(None, side)
        if isinstance(label, (bytes, bytearray)):
            label = bytes(label).decode("utf-8", "replace")
        if label not in self.labels:
            raise BadInput(f"probability_of: {str(label)[:40]!r} is not one of this model's labels ({some_labels(self.labels)})")
        return Asked(self.labels.index(label), side)

    def preprocess(self, items: Sequence[Decoded]) -> torch.Tensor:
        """The photos' normalized pixels as one batch (photos of one size: the model's input size)."""
        return normalized_batch(items, self.preprocessing)

    def forward(self, items: list[Decoded]) -> Sequence[torch.Tensor]:
        """The model once over the batch; with ``geometry: none`` photos differ in size, so each runs on its own."""
        return over_photos(items, self.preprocessing, self._logits)

    def _logits(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            logits = self.model(batch)
        if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[:2] != (batch.shape[0], len(self.labels)):
            got = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ArchiveError(f"the model returned {got} for a batch of {batch.shape[0]}; a segmenter returns logits "
                               f"[B, {len(self.labels)} classes (one per label), h, w]")
        return logits

    def postprocess(self, logits: torch.Tensor, item: Decoded[Photo]) -> dict[str, Any]:
        photo = item.detail
        region = self._photo_region(logits.float(), photo)
        width, height = _within(photo.fitted.width, photo.fitted.height, self.post.max_mask_side)
        mask = _resized(region, height, width).argmax(dim=0).to(torch.uint8).numpy()
        counts = np.bincount(mask.reshape(-1), minlength=len(self.labels))
        classes = [{"label": self.labels[index], "index": int(index), "fraction": round(float(counts[index]) / mask.size, 6)}
                   for index in np.argsort(-counts, kind="stable") if counts[index]]
        answer: dict[str, Any] = {"mask": {"width": width, "height": height, "png": _png(mask)}, "classes": classes,
                                  "image": {"width": photo.fitted.width, "height": photo.fitted.height}}
        if photo.asked.probability_of is not None:
            answer["probability"] = self._probability(region, photo)
        return {**answer, "model": self.archive.summary}

    def _photo_region(self, logits: torch.Tensor, photo: Photo) -> torch.Tensor:
        """The logits over the part of the model's input that is the photo (no letterbox padding), at the input's scale."""
        in_h, in_w = photo.input_size
        if tuple(logits.shape[1:]) != (in_h, in_w):
            logits = _resized(logits, in_h, in_w)
        fitted = photo.fitted
        left, top = round(fitted.offset_x), round(fitted.offset_y)
        right = min(in_w, left + max(1, round(fitted.width * fitted.scale_x)))
        bottom = min(in_h, top + max(1, round(fitted.height * fitted.scale_y)))
        return logits[:, top:bottom, left:right]

    def _probability(self, region: torch.Tensor, photo: Photo) -> dict[str, Any]:
        index, side = photo.asked.probability_of, photo.asked.probability_side
        width, height = _within(photo.fitted.width, photo.fitted.height, side)
        probability = torch.softmax(_resized(region, height, width), dim=0)[index]
        levels = (probability * 255).round().clamp(0, 255).to(torch.uint8).numpy()
        return {"label": self.labels[index], "width": width, "height": height, "png": _png(levels), "scale": "value / 255"}

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        """``mask`` UINT8 [H, W] per instance (the class index of each pixel); photos of one request must share a size."""
        return (TypedOutput("mask", "UINT8", (-1, -1), lambda answer: png_array(answer["mask"]["png"])),)


def _within(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, so the longer side is at most ``side``."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resized(logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(logits.shape[1:]) == (height, width):
        return logits
    return torch.nn.functional.interpolate(logits[None], size=(height, width), mode="bilinear", align_corners=False)[0]


def _png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")  # uint8 [h, w]: 8-bit grey
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def png_array(text: str) -> np.ndarray:
    """A base64 PNG of the answer (a mask or a probability map) as its 8-bit array [height, width]."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


HANDLER = Segmenter  # the task's one handler class, found by markit.tasks.handler_class
