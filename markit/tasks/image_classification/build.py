"""Task ``image_classification``: an image in, labels with probabilities out (the generic image handler).

Spec keys: ``preprocess`` (the model's own resize, crop and normalization constants), ``labels`` (a file),
``postprocess`` (top-k, threshold). Manifest entries: ``preprocess``, ``labels`` (the staged
``index_to_name.json``), ``postprocess``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.common.images import COLOR_MODES, INTERPOLATIONS, ImagePreprocessing
from markit.tasks.image_classification.handler import ImageClassifier

from ...builder.errors import SpecError
from ...builder.labels import LABELS_FILE, stage_labels
from ...builder.sections import IMAGE_BUDGETS, parse_postprocess
from ...builder.spec_reader import Section, read_file
from ...builder.task import Task
from ...core.section import default_of
from ..common.classification import Labels, Postprocess

if TYPE_CHECKING:
    from ...builder.spec import Spec

__all__ = ["LABELS_FILE", "TASK", "ImageClassificationSettings", "parse_preprocess"]

@dataclass(frozen=True)
class ImageClassificationSettings:
    preprocess: ImagePreprocessing
    labels: Path
    postprocess: Postprocess


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> ImageClassificationSettings:
    return ImageClassificationSettings(preprocess=parse_preprocess(top.section("preprocess")),
                                       labels=read_file(top, "labels", spec_dir, refs),
                                       postprocess=parse_postprocess(top.section("postprocess", optional=True)))


def parse_preprocess(section: Section) -> ImagePreprocessing:
    """Straight into the run-time's own class, so build and serve agree on one definition."""
    section.allow({"color_mode", "mean", "std"}, {"resize", "center_crop", "interpolation", "draft"})
    mode = section.choice("color_mode", tuple(COLOR_MODES))
    channels = COLOR_MODES[mode]
    mean = section.numbers("mean", channels, f"for {mode}")
    std = section.numbers("std", channels, f"for {mode}")
    if any(value <= 0 for value in std):
        raise SpecError(f"{section.key('std')}: every value must be > 0, got {list(std)}")
    resize = section.size("resize", allow_int=True)
    crop = section.size("center_crop", allow_int=True)
    if crop is None and not isinstance(resize, tuple):
        raise SpecError(f"{section.key('center_crop')}: required unless preprocess.resize is [height, width]: "
                        "every image must come out the same size to be batched")
    if isinstance(resize, int) and crop is not None and max(_pair(crop)) > resize:
        raise SpecError(f"{section.key('center_crop')}: {crop} is larger than preprocess.resize {resize}; crop at most the resized size")
    draft = section.optional("draft", bool)
    return ImagePreprocessing(
        color_mode=mode,
        mean=mean,
        std=std,
        resize=resize,
        center_crop=_pair(crop) if crop is not None else None,
        interpolation=section.choice("interpolation", tuple(INTERPOLATIONS), default=default_of(ImagePreprocessing, "interpolation")),
        draft=default_of(ImagePreprocessing, "draft") if draft is None else draft,
    )


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else size


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    settings: ImageClassificationSettings = spec.settings
    file, labels = stage_labels(settings.labels, root)
    if settings.postprocess.top_k > len(labels):
        raise SpecError(f"postprocess.top_k: {settings.postprocess.top_k} is more than the {len(labels)} labels in {settings.labels.name}")
    return {"preprocess": settings.preprocess, "labels": Labels(file=file, count=len(labels)),
            "postprocess": settings.postprocess}


TASK = Task(
    name="image_classification",
    handler=ImageClassifier,
    required_keys=frozenset({"preprocess", "labels", "postprocess"}),
    optional_keys=frozenset(),
    budgets=IMAGE_BUDGETS,
    parse=parse,
    stage=stage,
)
