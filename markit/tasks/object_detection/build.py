"""Task ``object_detection``: a photo in, labelled boxes (and keypoints) in the photo's pixels out.

Spec keys: ``preprocess`` (color mode, mean/std, geometry letterbox/stretch/none, size, pad value, min side,
EXIF), ``labels`` (a file), ``postprocess`` (score and IoU thresholds, max detections, the bounds a request may
ask within), ``keypoints`` (their names, when the model places points). Manifest entries: the same, the labels
staged as ``index_to_name.json``. Each section is read by its manifest type (``manifest.py``), so build and
serve share one description.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.object_detection.handler import ObjectDetector

from ...builder.errors import SpecError
from ...builder.labels import stage_labels
from ...builder.sections import IMAGE_BUDGETS, typed_section
from ...builder.spec_reader import Section, read_file
from ...builder.task import Task
from ..common.classification import Labels
from ..common.photos import PhotoPreprocessing
from .manifest import DetectionPostprocess, Keypoints

if TYPE_CHECKING:
    from ...builder.spec import Spec

__all__ = ["TASK", "DetectionSettings"]

@dataclass(frozen=True)
class DetectionSettings:
    preprocess: PhotoPreprocessing
    labels: Path
    postprocess: DetectionPostprocess
    keypoints: Keypoints | None


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> DetectionSettings:
    keypoints = top.data.get("keypoints")
    return DetectionSettings(preprocess=typed_section(top, "preprocess", PhotoPreprocessing),
                             labels=read_file(top, "labels", spec_dir, refs),
                             postprocess=typed_section(top, "postprocess", DetectionPostprocess, optional=True),
                             keypoints=None if keypoints is None else typed_section(top, "keypoints", Keypoints))


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    settings: DetectionSettings = spec.settings
    file, labels = stage_labels(settings.labels, root)
    sections = {"preprocess": settings.preprocess, "labels": Labels(file=file, count=len(labels)),
                "postprocess": settings.postprocess}
    if settings.keypoints is not None:
        if len(set(settings.keypoints.names)) != len(settings.keypoints.names):
            raise SpecError(f"keypoints.names: each name once, got {list(settings.keypoints.names)}")
        sections["keypoints"] = settings.keypoints
    return sections


TASK = Task(
    name="object_detection",
    handler=ObjectDetector,
    required_keys=frozenset({"preprocess", "labels"}),
    optional_keys=frozenset({"postprocess", "keypoints"}),
    budgets=IMAGE_BUDGETS,
    parse=parse,
    stage=stage,
)
