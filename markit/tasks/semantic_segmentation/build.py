"""Task ``semantic_segmentation``: a photo in, the class of every pixel out (a PNG mask and each class's share).

Spec keys: ``preprocess`` (as ``object_detection``'s: color mode, mean/std, geometry, size, pad value, min side,
EXIF), ``labels`` (a file: one label per class the model scores, the background included), ``postprocess``
(the mask's and the probability maps' sizes). Manifest entries: the same, the labels staged as
``index_to_name.json``; each section is read by its manifest type (``manifest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.semantic_segmentation.handler import MAX_CLASSES, Segmenter

from ...builder.errors import SpecError
from ...builder.labels import stage_labels
from ...builder.sections import IMAGE_BUDGETS, typed_section
from ...builder.spec_reader import Section, read_file
from ...builder.task import Task
from ..common.classification import Labels
from ..common.photos import PhotoPreprocessing
from .manifest import SegmentationPostprocess

if TYPE_CHECKING:
    from ...builder.spec import Spec

__all__ = ["TASK", "SegmentationSettings"]


@dataclass(frozen=True)
class SegmentationSettings:
    preprocess: PhotoPreprocessing
    labels: Path
    postprocess: SegmentationPostprocess


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> SegmentationSettings:
    return SegmentationSettings(preprocess=typed_section(top, "preprocess", PhotoPreprocessing),
                                labels=read_file(top, "labels", spec_dir, refs),
                                postprocess=typed_section(top, "postprocess", SegmentationPostprocess, optional=True))


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    settings: SegmentationSettings = spec.settings
    file, labels = stage_labels(settings.labels, root)
    if len(labels) > MAX_CLASSES:
        raise SpecError(f"labels: {len(labels)} classes in {settings.labels.name}; a mask holds at most {MAX_CLASSES}")
    return {"preprocess": settings.preprocess, "labels": Labels(file=file, count=len(labels)), "postprocess": settings.postprocess}


TASK = Task(
    name="semantic_segmentation",
    handler=Segmenter,
    required_keys=frozenset({"preprocess", "labels"}),
    optional_keys=frozenset({"postprocess"}),
    budgets=IMAGE_BUDGETS,
    parse=parse,
    stage=stage,
)
