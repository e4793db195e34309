"""Task ``image_classification``: an image in, labels with probabilities out (the generic image handler).

Spec keys: ``preprocess`` (the model's own resize, crop and normalization constants), ``labels`` (a file),
``postprocess`` (top-k, threshold). Manifest entries: ``preprocess``, ``labels`` (the staged
``index_to_name.json``), ``postprocess``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.common.images import COLOR_MODES, INTERPOLATIONS, ImagePreprocessing
from markit.tasks.image_classification.handler import ImageClassifier

from ...builder.errors import SpecError
from ...builder.labels import read_labels
from ...builder.sections import IMAGE_BUDGETS, PostprocessSpec, parse_postprocess, plain
from ...builder.spec_reader import Section, read_file
from ...builder.task import Task

if TYPE_CHECKING:
    from ...builder.spec import Spec

__all__ = ["LABELS_FILE", "TASK", "ImageClassificationSettings", "parse_preprocess"]

LABELS_FILE = "index_to_name.json"


@dataclass(frozen=True)
class ImageClassificationSettings:
    preprocess: ImagePreprocessing
    labels: Path
    postprocess: PostprocessSpec


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
    draft = section.optional("draft", bool)  # default on for new archives: decode only what resize needs
    return ImagePreprocessing(
        color_mode=mode,
        mean=mean,
        std=std,
        resize=resize,
        center_crop=_pair(crop) if crop is not None else None,
        interpolation=section.choice("interpolation", tuple(INTERPOLATIONS), default="bilinear"),
        draft=True if draft is None else draft,
    )


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else size


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    settings: ImageClassificationSettings = spec.settings
    labels = read_labels(settings.labels)
    if settings.postprocess.top_k > len(labels):
        raise SpecError(f"postprocess.top_k: {settings.postprocess.top_k} is more than the {len(labels)} labels in {settings.labels.name}")
    (root / LABELS_FILE).write_text(json.dumps({str(i): name for i, name in enumerate(labels)}, indent=1), encoding="utf-8")
    return {"preprocess": plain(asdict(settings.preprocess)), "labels": {"file": LABELS_FILE, "count": len(labels)},
            "postprocess": asdict(settings.postprocess)}


TASK = Task(
    name="image_classification",
    handler=ImageClassifier,
    required_keys=frozenset({"preprocess", "labels", "postprocess"}),
    optional_keys=frozenset(),
    manifest_keys=("preprocess", "labels", "postprocess"),
    budgets=IMAGE_BUDGETS,
    parse=parse,
    stage=stage,
)
