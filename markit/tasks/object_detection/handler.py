"""A photo -> the objects in it: labels, scores and boxes in the photo's own pixels, and keypoints when the model
places them.

The model's forward takes the batch of fitted photos and returns its candidates per photo: boxes ``[B, N, 4]``
(x1, y1, x2, y2 in the input's pixels), scores ``[B, N]``, class indices ``[B, N]`` and, when the archive
declares ``keypoints``, points ``[B, N, K, 2]``; a row of score 0 or less is padding. Per request the task keeps
the candidates at or above the score threshold (of the requested classes), applies class-wise NMS unless the
model does, keeps the best ``max_detections``, and maps boxes and points back to the upright photo, clipped.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ...core.declared import Input
from ...core.errors import ArchiveError, BadInput
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import Payload, binary_input, parse_int_option, parse_number_option
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput
from ..common.classification import some_labels
from ..common.photos import Fitted, normalized_batch, over_photos, prepare
from .manifest import ObjectDetectionSpec
from .nms import FEW, batched_nms, nms_few

__all__ = ["Asked", "Candidates", "ObjectDetector"]

OPTIONS = ("threshold", "max_detections", "classes")


@dataclass(frozen=True)
class Asked:
    """What one request asked beside its photo: the score threshold, how many detections, which classes (None: all)."""

    threshold: float
    max_detections: int
    classes: frozenset[int] | None = None


@dataclass(frozen=True)
class Photo:
    fitted: Fitted
    asked: Asked


@dataclass(frozen=True)
class Candidates:
    """One photo's candidates scored at or above the archive's lowest threshold, in the model's order, as plain
    lists: one conversion for the whole batch, and a photo's few candidates cost less in Python than in tensor
    steps."""

    boxes: list[list[float]]
    scores: list[float]
    classes: list[int]
    keypoints: list[list[list[float]]] | None = None


class ObjectDetector(TaskHandler):
    """Accepts a raw image body, a multipart field ``image``/``data``, or ``{"image": base64}`` JSON; optional
    ``threshold``, ``max_detections`` and ``classes`` within the archive's bounds."""

    task = "object_detection"
    input_kind = "image"
    answer_fields: ClassVar[Mapping[str, str]] = {"detections": "detections", "image": "json", "model": "json"}
    takes = (Input("image", "BYTES", (), "an image file's bytes: PNG, JPEG, WebP, ..."),
             Input("threshold", "FP32", (), "the lowest score answered, down to postprocess.min_score_threshold", required=False),
             Input("max_detections", "INT32", (), "the most detections answered, up to postprocess.max_detections_limit",
                   required=False),
             Input("classes", "BYTES", (), "only these labels, comma-separated", required=False))

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: ObjectDetectionSpec = archive.spec
        self.preprocessing = spec.preprocess
        self.post = spec.postprocess
        self.labels = tuple(archive.labels())
        self.keypoint_names = spec.keypoints.names if spec.keypoints else ()

    # -- a request ------------------------------------------------------------------------------
    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[Photo]:
        found = binary_input(payload, data_keys=("image",), option_keys=OPTIONS)
        asked = self.asked(found.options)
        tensor, fitted = prepare(found.data, self.preprocessing, self.budgets.pixels)
        return Decoded(tensor=tensor, detail=Photo(fitted, asked))

    def asked(self, options: Mapping[str, Any]) -> Asked:
        """The request's options, each within the archive's bounds (a 400 names the bound)."""
        post = self.post
        threshold = post.score_threshold
        if "threshold" in options:
            threshold = parse_number_option("threshold", options["threshold"], post.min_score_threshold, 1.0,
                                            "this model's postprocess.min_score_threshold is the lowest")
        most = post.max_detections
        if "max_detections" in options:
            most = parse_int_option("max_detections", options["max_detections"], 1, post.max_detections_limit,
                                    "this model's postprocess.max_detections_limit is the most")
        classes = self._classes(options["classes"]) if "classes" in options else None
        return Asked(threshold, most, classes)

    def _classes(self, value: Any) -> frozenset[int]:
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        names = [name.strip() for name in value.split(",")] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(name, str) and name for name in names):
            raise BadInput(f"classes must be label names, comma-separated or a JSON list of strings, got {str(value)[:60]!r}")
        index = {label: position for position, label in enumerate(self.labels)}
        unknown = [name for name in names if name not in index]
        if unknown:
            raise BadInput(f"classes: {unknown[0]!r} is not one of this model's labels ({some_labels(self.labels)})")
        return frozenset(index[name] for name in names)

    # -- the batch ------------------------------------------------------------------------------
    def preprocess(self, items: Sequence[Decoded]) -> torch.Tensor:
        """The photos' normalized pixels as one batch (photos of one size: the model's input size)."""
        return normalized_batch(items, self.preprocessing)

    def forward(self, items: list[Decoded]) -> Sequence[Candidates]:
        """The model once over the batch; with ``geometry: none`` photos differ in size, so each runs on its own."""
        return over_photos(items, self.preprocessing, self._candidates)

    def _candidates(self, batch: torch.Tensor) -> list[Candidates]:
        with torch.inference_mode():
            outputs = self.model(batch)
        boxes, scores, classes, *points = self._checked(outputs, batch.shape[0])
        scores = scores.float()
        rows, columns = ((scores >= self.post.min_score_threshold) & (scores > 0)).nonzero(as_tuple=True)
        counts = torch.bincount(rows, minlength=batch.shape[0]).tolist()
        picked = [boxes[rows, columns].float().tolist(), scores[rows, columns].tolist(), classes[rows, columns].tolist(),
                  points[0][rows, columns].float().tolist() if points else None]
        starts = itertools.accumulate(counts, initial=0)
        return [Candidates(*(None if part is None else part[start:start + count] for part in picked))
                for start, count in zip(starts, counts, strict=False)]

    def _checked(self, outputs: Any, count: int) -> tuple[torch.Tensor, ...]:
        """The model's outputs, each of the contract's shape (``ArchiveError`` naming what came instead)."""
        expected = 4 if self.keypoint_names else 3
        form = "(boxes [B, N, 4], scores [B, N], classes [B, N]" + (", keypoints [B, N, K, 2])" if expected == 4 else ")")
        if not isinstance(outputs, (tuple, list)) or len(outputs) != expected or not all(isinstance(o, torch.Tensor) for o in outputs):
            got = f"{len(outputs)} outputs" if isinstance(outputs, (tuple, list)) else type(outputs).__name__
            raise ArchiveError(f"the model returned {got}; an object detector returns {form}")
        boxes, scores, classes = outputs[:3]
        n = scores.shape[1] if scores.ndim == 2 else -1
        shapes_ok = boxes.shape == (count, n, 4) and scores.shape == (count, n) and classes.shape == (count, n)
        if expected == 4:
            shapes_ok = shapes_ok and outputs[3].shape == (count, n, len(self.keypoint_names), 2)
        if not shapes_ok:
            got = ", ".join(str(list(o.shape)) for o in outputs)
            raise ArchiveError(f"the model returned shapes {got} for a batch of {count}; an object detector returns {form}")
        return tuple(outputs)

    def postprocess(self, output: Candidates, item: Decoded[Photo]) -> dict[str, Any]:
        photo = item.detail
        fitted = photo.fitted
        detections = []
        for index in self.kept(output, photo.asked):
            x1, y1, x2, y2 = fitted.box_to_photo(output.boxes[index])
            detection = {"label": self._label(output.classes[index]), "score": round(output.scores[index], 6),
                         "box": {"x1": round(x1, 2), "y1": round(y1, 2), "x2": round(x2, 2), "y2": round(y2, 2)}}
            if output.keypoints is not None:
                points = (fitted.point_to_photo(point) for point in output.keypoints[index])
                detection["keypoints"] = {name: [round(x, 2), round(y, 2)]
                                          for name, (x, y) in zip(self.keypoint_names, points, strict=True)}
            detections.append(detection)
        return {"detections": detections, "image": {"width": fitted.width, "height": fitted.height},
                "model": self.archive.summary}

    def kept(self, output: Candidates, asked: Asked) -> list[int]:
        """The indices of the candidates answered, best first: at or above the threshold (compared in float32, as
        the scores are), of the asked classes, after NMS."""
        threshold, scores, classes = _float32(asked.threshold), output.scores, output.classes
        index = [i for i, score in enumerate(scores) if score >= threshold and (asked.classes is None or classes[i] in asked.classes)]
        iou = self.post.iou_threshold
        if iou is None:
            index.sort(key=lambda i: -scores[i])  # stable: ties keep the model's order
        elif len(index) <= FEW:
            index = [index[k] for k in nms_few([output.boxes[i] for i in index], [scores[i] for i in index],
                                               [classes[i] for i in index], iou)]
        else:
            picked = torch.tensor(index, dtype=torch.int64)
            kept = batched_nms(torch.tensor(output.boxes)[picked], torch.tensor(scores)[picked], torch.tensor(classes)[picked], iou)
            index = picked[kept].tolist()
        return index[:asked.max_detections]

    def _label(self, index: int) -> str:
        if not 0 <= index < len(self.labels):
            raise ArchiveError(f"the model returned class {index}, but the archive has {len(self.labels)} labels")
        return self.labels[index]

    # -- what a v2 answer carries -----------------------------------------------------------
    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        """``boxes`` FP32 [n, 4], ``scores`` FP32 [n], ``labels`` BYTES [n] (and ``keypoints`` FP32 [n, K, 2]) per
        instance; a request of several photos pads each to the most detections with score 0 and label ''."""
        outputs = [TypedOutput("boxes", "FP32", (-1, 4), _column(lambda d: list(d["box"].values())), pad=0.0),
                   TypedOutput("scores", "FP32", (-1,), _column(lambda d: [d["score"]]), pad=0.0),
                   TypedOutput("labels", "BYTES", (-1,), _column(lambda d: [d["label"]]), pad="")]
        if self.keypoint_names:
            names = self.keypoint_names
            outputs.append(TypedOutput("keypoints", "FP32", (-1, len(names), 2),
                                       _column(lambda d: [v for name in names for v in d["keypoints"][name]]), pad=0.0))
        return tuple(outputs)


def _float32(value: float) -> float:
    """``value`` rounded to float32, as a comparison with a float32 tensor rounds it."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _column(values: Any) -> Any:
    def row(answer: Any) -> list[Any]:
        return [value for detection in answer["detections"] for value in values(detection)]

    return row


HANDLER = ObjectDetector  # the task's one handler class, found by markit.tasks.handler_class
