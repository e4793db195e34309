"""Task ``object_detection``'s part of the manifest: how a photo becomes the model's input, how the model's
candidates become detections, the labels and the keypoints' names."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from ...core.manifest_types import SpecBase
from ...core.section import Section
from ..common.classification import Labels
from ..common.photos import PhotoPreprocessing

__all__ = ["SPEC", "DetectionPostprocess", "Keypoints", "ObjectDetectionSpec"]

Probability = Annotated[float, Field(ge=0, le=1)]


class DetectionPostprocess(Section):
    """The model's candidates -> detections: above ``score_threshold``, class-wise NMS at ``iou_threshold`` (null: the
    model applies NMS itself), the ``max_detections`` best. A request may ask for a threshold down to
    ``min_score_threshold`` and for up to ``max_detections_limit`` detections."""

    keeps_none: ClassVar[frozenset[str]] = frozenset({"iou_threshold"})

    score_threshold: Probability = 0.5
    iou_threshold: Probability | None = 0.5
    max_detections: Annotated[int, Field(ge=1)] = 100
    min_score_threshold: Probability = 0.05
    max_detections_limit: Annotated[int, Field(ge=1)] = 300

    @model_validator(mode="after")
    def _bounds_hold_the_defaults(self) -> DetectionPostprocess:
        if self.min_score_threshold > self.score_threshold:
            raise ValueError(f"min_score_threshold {self.min_score_threshold} is above score_threshold {self.score_threshold}")
        if self.max_detections > self.max_detections_limit:
            raise ValueError(f"max_detections {self.max_detections} is above max_detections_limit {self.max_detections_limit}")
        return self


class Keypoints(Section):
    """The names of the points the model places on each detection (e.g. a face's eyes, nose and mouth corners)."""

    names: Annotated[tuple[str, ...], Field(min_length=1)]


class ObjectDetectionSpec(SpecBase):
    task: Literal["object_detection"]
    preprocess: PhotoPreprocessing
    labels: Labels
    postprocess: DetectionPostprocess = DetectionPostprocess()
    keypoints: Keypoints | None = None


SPEC = ObjectDetectionSpec
