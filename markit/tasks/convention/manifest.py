"""Task ``convention``'s part of the manifest: nothing beyond the model, whose class must be in the archive."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from ...core.manifest_types import SpecBase

__all__ = ["SPEC", "ConventionSpec"]


class ConventionSpec(SpecBase):
    task: Literal["convention"]

    @model_validator(mode="after")
    def _class_shipped(self) -> ConventionSpec:
        if not self.model.has_class:
            raise ValueError("the convention task calls the model class's preprocess/postprocess: spec.model (or its "
                             "fallback) needs source and class")
        return self


SPEC = ConventionSpec
