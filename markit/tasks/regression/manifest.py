"""Task ``regression``'s part of the manifest: named features in, named outputs with units out, guards."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...core.manifest_types import SpecBase
from ...core.section import Section

__all__ = ["SPEC", "Feature", "Guard", "Output", "RegressionSpec"]

Number = int | float  # as written: a bound given as 0 is shown as 0, one given as 0.5 as 0.5


class Feature(Section):
    """One named input: a number (shape []) or an array of that shape, in ``unit``."""

    name: str
    unit: str
    shape: tuple[Annotated[int, Field(ge=1)], ...] = ()

    @property
    def size(self) -> int:
        return math.prod(self.shape) if self.shape else 1


class Output(Section):
    """One named prediction, in the model's output order."""

    name: str
    unit: str


class Guard(Section):
    """A feature value outside [min, max] is rejected (422) or flagged (200 with a warning); hits are counted as GuardHits."""

    feature: str
    policy: Literal["reject", "flag"]
    min: Number | None = None
    max: Number | None = None

    def describe(self) -> str:
        return f"[{self.min}, {self.max}]"


class RegressionSpec(SpecBase):
    task: Literal["regression"]
    features: Annotated[tuple[Feature, ...], Field(min_length=1)]
    outputs: Annotated[tuple[Output, ...], Field(min_length=1)]
    guards: tuple[Guard, ...] = ()

    @model_validator(mode="after")
    def _guards_name_features(self) -> RegressionSpec:
        names = [feature.name for feature in self.features]
        for index, guard in enumerate(self.guards):
            if guard.feature not in names:
                raise ValueError(f"guards[{index}].feature {guard.feature!r} is not a declared feature ({names})")
        return self


SPEC = RegressionSpec
