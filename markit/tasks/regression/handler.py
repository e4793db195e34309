"""Named numeric features in, named predictions with units out, with runtime guards.

A request is a JSON object ``{feature: value, ...}`` (one row) or a list of such objects (rows,
answered in order). Every declared feature must be present with its declared shape and finite
values; anything else is a 400 naming the feature. Guards compare a feature's values with the range
the archive declares (e.g. what training saw): policy ``reject`` answers 422 naming the feature,
the value and the range; ``flag`` answers 200 with a warning. Each guard hit is counted in
TorchServe's metrics as ``GuardHits`` (dimensions: Feature, Policy).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

import torch

from ...core.budgets import Budgets
from ...core.declared import Input
from ...core.errors import BadInput, UnprocessableInput
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import Payload, sole_input
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput
from .manifest import Feature, RegressionSpec

__all__ = ["Regressor"]

log = logging.getLogger(__name__)


class Regressor(TaskHandler):
    task = "regression"
    input_kind = "json"
    answer_fields: ClassVar[Mapping[str, str]] = {"prediction": "json", "units": "json", "warnings": "json", "model": "json"}
    instance_budget = "rows"  # a KServe instance is one row of features

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: RegressionSpec = archive.spec
        self.features = list(spec.features)
        self.outputs = [(output.name, output.unit) for output in spec.outputs]
        self.guards = list(spec.guards)

    def named_instances(self) -> bool:
        return True  # KServe v2: one input tensor per feature, named after it; an instance is a row

    def declared_inputs(self) -> tuple[Input, ...]:
        """One FP32 tensor per feature, a row per instance."""
        return tuple(Input(feature.name, "FP32", feature.shape, f"feature in {feature.unit}") for feature in self.features)

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        """One FP32 tensor per declared output, with its unit."""
        return tuple(TypedOutput(name, "FP32", (), partial(_one_prediction, name), {"unit": unit}) for name, unit in self.outputs)

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[tuple[list[str], ...]]:
        rows, single = json_rows(payload, self.budgets)
        tensors, warnings = [], []
        for index, row in enumerate(rows):
            where = "" if single else f"rows[{index}]."
            values = self.validate(row, where)
            warnings.append(self.check_guards(values, where, metrics))
            tensors.append(torch.cat([values[f.name].reshape(-1) for f in self.features]))
        return Decoded(tensor=torch.stack(tensors), detail=tuple(warnings), rows=None if single else len(rows))

    def validate(self, row: Any, where: str) -> dict[str, torch.Tensor]:
        if not isinstance(row, dict):
            raise BadInput(f"{where.rstrip('.') or 'the body'} must be a JSON object of features, got a JSON {type(row).__name__}")
        names = [f.name for f in self.features]
        unknown = sorted(set(row) - set(names))
        if unknown:
            raise BadInput(f"{where}{unknown[0]}: unknown feature; this model takes {names}")
        values = {}
        for feature in self.features:
            if feature.name not in row:
                raise BadInput(f"{where}{feature.name}: missing feature ({list(feature.shape) or 'a number'} in {feature.unit})")
            values[feature.name] = _as_tensor(row[feature.name], feature, where)
        return values

    def check_guards(self, values: Mapping[str, torch.Tensor], where: str, metrics: Metrics) -> list[str]:
        warnings = []
        for guard in self.guards:
            tensor = values[guard.feature]
            low, high = float(tensor.min()), float(tensor.max())
            outside = [v for v, bad in ((low, guard.min is not None and low < guard.min),
                                        (high, guard.max is not None and high > guard.max)) if bad]
            if not outside:
                continue
            log.info("guard hit: feature=%s policy=%s", guard.feature, guard.policy)
            metrics.count("GuardHits", {"Feature": guard.feature, "Policy": guard.policy})
            message = (f"{where}{guard.feature}: value {outside[0]:g} is outside the range {guard.describe()} this model "
                       f"was trained on (guards, policy {guard.policy})")
            if guard.policy == "reject":
                raise UnprocessableInput(message)
            warnings.append(message)
        return warnings

    def preprocess(self, items: Sequence[Decoded]) -> torch.Tensor:
        return torch.cat([item.tensor for item in items])

    def postprocess(self, output: torch.Tensor, item: Decoded[tuple[list[str], ...]]) -> dict[str, Any]:
        rows = [output] if item.rows is None else list(output)
        predictions = [{name: round(float(value), 4) for (name, _), value in zip(self.outputs, row.reshape(-1), strict=True)}
                       for row in rows]
        units = {name: unit for name, unit in self.outputs}
        warnings = list(item.detail)
        if item.rows is None:
            return {"prediction": predictions[0], "units": units, "warnings": warnings[0], "model": self.archive.summary}
        return {"predictions": predictions, "units": units, "warnings": warnings, "model": self.archive.summary}


def json_rows(payload: Payload, budgets: Budgets) -> tuple[list[Any], bool]:
    _, value, _ = sole_input(payload, "send the features as a JSON object (one row) or a JSON list of objects (rows)",
                             default_type="application/json")
    if isinstance(value, (bytes, bytearray, str)):
        kind = "text" if isinstance(value, str) else "bytes"
        raise BadInput(f"expected a JSON object of features or a list of them, got {kind}; send JSON (Content-Type: application/json)")
    if isinstance(value, list):
        if not value:
            raise BadInput("the JSON list is empty: send one or more rows")
        budgets.check("rows", len(value), "the request")
        return value, False
    return [value], True


def _as_tensor(value: Any, feature: Feature, where: str) -> torch.Tensor:
    key = f"{where}{feature.name}"
    try:
        tensor = torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise BadInput(f"{key}: expected numbers with shape {list(feature.shape)}, got {json.dumps(value)[:60]}") from err
    if tuple(tensor.shape) != feature.shape:
        raise BadInput(f"{key}: expected shape {list(feature.shape)}, got {list(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise BadInput(f"{key}: contains NaN or infinity; send finite numbers in {feature.unit}")
    return tensor.float()


def _one_prediction(name: str, answer: Any) -> list[float]:
    return [answer["prediction"][name]]


HANDLER = Regressor  # the task's one handler class, found by markit.tasks.handler_class
