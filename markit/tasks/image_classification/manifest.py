"""Task ``image_classification``'s part of the manifest: the image's preprocessing, the labels, top-k."""

from __future__ import annotations

from typing import Literal

from ...core.manifest_types import SpecBase
from ..common.classification import Labels, Postprocess
from ..common.images import ImagePreprocessing

__all__ = ["SPEC", "ImageClassificationSpec"]


class ImageClassificationSpec(SpecBase):
    task: Literal["image_classification"]
    preprocess: ImagePreprocessing
    labels: Labels
    postprocess: Postprocess


SPEC = ImageClassificationSpec
