"""Task ``regression``: named feature rows in, named numbers with units out, with guards on the inputs
(docs/metadata.md).

Spec keys: ``features`` (name, unit, shape), ``outputs`` (name, unit), ``guards`` (min/max per feature,
reject or flag). Manifest entries: the same three.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.regression.handler import Regressor

from ...builder.errors import SpecError
from ...builder.sections import REQUEST_BYTES
from ...builder.spec_reader import PYTHON_NAME, Section
from ...builder.task import Task

if TYPE_CHECKING:
    from ...builder.spec import Spec

__all__ = ["TASK", "TabularSpec"]

GUARD_POLICIES = ("reject", "flag")
KSERVE_KEYS = ("instances", "inputs")  # top-level keys of KServe v1/v2 request bodies (markit/protocols/codec.py)


@dataclass(frozen=True)
class TabularSpec:
    """Named input features, named outputs, and guards on the feature values."""

    features: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]
    guards: tuple[dict[str, Any], ...] = ()


def parse(top: Section, _spec_dir: Path, _refs: dict[str, str]) -> TabularSpec:
    features = tuple(_named_list(top, "features", {"name", "unit"}, {"shape"}))
    outputs = tuple(_named_list(top, "outputs", {"name", "unit"}, set()))
    for index, feature in enumerate(features):
        shape = feature.setdefault("shape", [])
        if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
            raise SpecError(f"features[{index}].shape: expected a list of positive integers ([] for one number), got {shape!r}")
        if feature["name"] in KSERVE_KEYS:
            raise SpecError(f"features[{index}].name: {feature['name']!r} is reserved (a JSON body with that key is a KServe "
                            "request, see docs/kserve.md); choose another name")
    names = {feature["name"] for feature in features}
    guards = []
    for index, item in enumerate(top.data.get("guards") or []):
        guard = Section(item, f"guards[{index}]", required={"feature", "policy"}, optional={"min", "max"})
        if guard.data["feature"] not in names:
            raise SpecError(f"guards[{index}].feature: {guard.data['feature']!r} is not a declared feature ({sorted(names)})")
        bounds = {key: guard.number(key, default=0.0) for key in ("min", "max") if guard.data.get(key) is not None}
        if not bounds:
            raise SpecError(f"guards[{index}]: give min, max or both")
        if len(bounds) == 2 and bounds["min"] > bounds["max"]:
            raise SpecError(f"guards[{index}]: min {bounds['min']} is greater than max {bounds['max']}")
        guards.append({"feature": guard.data["feature"], "policy": guard.choice("policy", GUARD_POLICIES), **bounds})
    return TabularSpec(features=features, outputs=outputs, guards=tuple(guards))


def _named_list(top: Section, key: str, required: set[str], optional: set[str]) -> list[dict[str, Any]]:
    items = top.data.get(key)
    if not isinstance(items, list) or not items:
        raise SpecError(f"{key}: expected a list of one or more {{name, unit}} entries")
    entries, seen = [], set()
    for index, item in enumerate(items):
        entry = Section(item, f"{key}[{index}]", required=required, optional=optional)
        name = entry.matching("name", PYTHON_NAME, "a name like temperature_history")
        if name in seen:
            raise SpecError(f"{key}[{index}].name: {name!r} appears twice")
        seen.add(name)
        entries.append({**entry.data, "name": name, "unit": entry.string("unit")})
    return entries


def stage(spec: Spec, _root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    tabular: TabularSpec = spec.settings
    return {"features": [dict(feature) for feature in tabular.features], "outputs": [dict(output) for output in tabular.outputs],
            "guards": [dict(guard) for guard in tabular.guards]}


TASK = Task(
    name="regression",
    handler=Regressor,
    required_keys=frozenset({"features", "outputs"}),
    optional_keys=frozenset({"guards"}),
    manifest_keys=("features", "outputs", "guards"),
    budgets={"request_bytes": REQUEST_BYTES, "rows": 1024},  # rows also count KServe instances
    parse=parse,
    stage=stage,
    hint="declare the inputs under features and the predictions under outputs",
)
