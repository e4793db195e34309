"""Task ``semantic_segmentation``'s part of the manifest: how a photo becomes the model's input, the labels (one
per class the model scores), and the sizes of what is answered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...core.manifest_types import SpecBase
from ...core.section import Section
from ..common.classification import Labels
from ..common.images import Pixels
from ..common.photos import PhotoPreprocessing

__all__ = ["SPEC", "SegmentationPostprocess", "SemanticSegmentationSpec"]


class SegmentationPostprocess(Section):
    """The mask is answered at the photo's size, or scaled so that its longer side is ``max_mask_side``; a request may
    ask for one class's probability map, its longer side ``probability_side`` by default and at most
    ``max_probability_side``."""

    max_mask_side: Pixels = Field(1024, description="the longest side of an answered mask")
    probability_side: Pixels = Field(64, description="a probability map's longer side, unless the request asks otherwise")
    max_probability_side: Pixels = Field(256, description="the longest probability map a request may ask for")

    @model_validator(mode="after")
    def _default_within_bound(self) -> SegmentationPostprocess:
        if self.probability_side > self.max_probability_side:
            raise ValueError(f"probability_side {self.probability_side} is above max_probability_side {self.max_probability_side}")
        return self


class SemanticSegmentationSpec(SpecBase):
    task: Literal["semantic_segmentation"]
    preprocess: PhotoPreprocessing
    labels: Labels
    postprocess: SegmentationPostprocess = SegmentationPostprocess()


SPEC = SemanticSegmentationSpec
