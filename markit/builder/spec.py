"""The YAML model spec: parsed strictly into frozen dataclasses.

Where the run-time already defines the value (``markit.runtime.images.ImagePreprocessing``), the spec
parses straight into that class, so build and serve agree on one definition.

Unknown or misspelled keys, wrong types and bad values fail with a message that names the dotted
key (``preprocess.mean: expected 3 numbers for RGB, got 1``). File references are resolved and
checked here, so later build steps only see valid, existing inputs. The format is documented in
docs/spec.md.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from markit.runtime.images import COLOR_MODES, INTERPOLATIONS, ImagePreprocessing
from markit.runtime.text import POOLINGS

from .errors import SpecError
from .paths import resolve_reference

__all__ = [
    "ArtifactSpec",
    "GoldenSpec",
    "ModelSpec",
    "PostprocessSpec",
    "ServingSpec",
    "Spec",
    "TabularSpec",
    "TextSpec",
    "ZeroShotSpec",
    "load_spec",
    "parse_spec",
]

TASKS = ("image_classification", "convention", "text_embedding", "text_classification", "regression")
GUARD_POLICIES = ("reject", "flag")
KSERVE_KEYS = ("instances", "inputs")  # top-level keys of KServe v1/v2 request bodies (markit/runtime/kserve.py)
UNUSED_HINTS = {
    "text_classification": "give the labels and their descriptions under zero_shot",
    "regression": "declare the inputs under features and the predictions under outputs",
    "convention": "the model's own preprocess/postprocess run; pass constants and data files as model.artifacts",
}
TEXT_TASKS = ("text_embedding", "text_classification")
FORMATS = ("eager", "torchscript", "export", "aoti", "onnx")
PROGRAM_KEYS = ("torchscript", "export")
ENCODER_FORMATS = ("torchscript", "export", "aoti", "onnx")
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]{0,31}$")
PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ArtifactSpec:
    """A named constant or data file the model receives (``artifacts=`` keyword of its class)."""

    file: Path | None = None
    value: Any = None


@dataclass(frozen=True)
class ModelSpec:
    """Eager source (``source`` + ``class`` + ``weights``), shipped as ``format`` (eager, or converted to
    torchscript/export/onnx, or compiled to aoti, at build), or a ready-made program (``torchscript:`` or
    ``export:`` file)."""

    format: str
    source: Path | None = None
    class_name: str | None = None
    factory: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)
    weights: Path | None = None
    program: Path | None = None
    transformers: Path | None = None
    tolerance: float = 1e-4

    @property
    def converted(self) -> bool:
        """True when the builder converts the eager source (a class of the spec's) into ``format``."""
        return self.source is not None and self.format != "eager"


@dataclass(frozen=True)
class PostprocessSpec:
    top_k: int = 5
    threshold: float = 0.0


@dataclass(frozen=True)
class ServingSpec:
    """TorchServe settings that travel in the archive's model-config.yaml."""

    workers: int = 1
    batch_size: int = 1
    max_batch_delay: int = 100
    response_timeout: int = 120
    torch_threads: int = 1


@dataclass(frozen=True)
class GoldenSpec:
    input: Path
    expected: Any
    tolerance: float = 1e-3


@dataclass(frozen=True)
class TextSpec:
    """Text tasks: the tokenizer file and how texts become embeddings. None = from the model's config."""

    tokenizer: Path
    max_length: int | None = None
    pooling: str | None = None
    normalize: bool | None = None
    max_texts: int = 64


@dataclass(frozen=True)
class ZeroShotSpec:
    """Labels described in words; the descriptions are embedded at build and shipped."""

    labels: Mapping[str, str]
    temperature: float = 0.05


@dataclass(frozen=True)
class TabularSpec:
    """Regression: named input features, named outputs, and guards on the feature values."""

    features: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]
    guards: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Spec:
    name: str
    version: str
    task: str
    model: ModelSpec
    preprocess: ImagePreprocessing | None
    labels: Path | None
    postprocess: PostprocessSpec
    serving: ServingSpec
    text: TextSpec | None
    zero_shot: ZeroShotSpec | None
    tabular: TabularSpec | None
    golden: tuple[GoldenSpec, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)


def load_spec(path: Path, overrides: Sequence[str] = ()) -> Spec:
    """Read and validate a YAML spec file; ``overrides`` are ``dotted.key=value`` (value parsed as YAML)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SpecError(f"spec file {path} cannot be read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise SpecError(f"spec file {path} is not valid YAML: {err}") from err
    for override in overrides:
        _apply_override(data, override)
    return parse_spec(data, Path(path).resolve().parent)


def _apply_override(data: Any, override: str) -> None:
    """``serving.workers=2`` sets data["serving"]["workers"] = 2; the result is validated like the file."""
    dotted, sep, text = override.partition("=")
    if not sep or not dotted.strip():
        raise SpecError(f"--set {override!r}: expected KEY=VALUE, e.g. serving.workers=2")
    *parents, last = dotted.strip().split(".")
    node = data
    for part in parents:
        if not isinstance(node, dict):
            raise SpecError(f"--set {override!r}: {part!r} is not inside a mapping")
        node = node.setdefault(part, {})
    if not isinstance(node, dict):
        raise SpecError(f"--set {override!r}: {dotted!r} is not inside a mapping")
    try:
        node[last] = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"--set {override!r}: the value is not valid YAML: {err}") from err


def parse_spec(data: Any, spec_dir: Path) -> Spec:
    """Validate a parsed spec; file references are resolved relative to ``spec_dir``."""
    top = _Section(data, "", required={"name", "version", "task", "model", "golden"},
                   optional={"preprocess", "labels", "postprocess", "metadata", "serving", "tokenizer", "text", "zero_shot",
                             "features", "outputs", "guards"})
    refs: dict[str, str] = {}
    task = top.choice("task", TASKS)
    if task == "image_classification":
        top.need("preprocess", "labels", "postprocess")
        preprocess, labels = _preprocess(top.section("preprocess")), _file(top, "labels", spec_dir, refs)
    else:
        unused = ("preprocess", "labels") if task == "text_classification" else ("preprocess", "labels", "postprocess")
        for key in unused:
            if key in top.data:
                raise SpecError(f"{key}: not used by task {task}: {UNUSED_HINTS.get(task, UNUSED_HINTS['convention'])}")
        preprocess, labels = None, None
    text = zero_shot = None
    if task in TEXT_TASKS:
        top.need("tokenizer")
        text = _text(top, spec_dir, refs)
    else:
        for key in ("tokenizer", "text"):
            if key in top.data:
                raise SpecError(f"{key}: only used by text tasks ({', '.join(TEXT_TASKS)})")
    if task == "text_classification":
        top.need("zero_shot")
        zero_shot = _zero_shot(top.section("zero_shot"))
    elif "zero_shot" in top.data:
        raise SpecError("zero_shot: only used by task text_classification")
    tabular = None
    if task == "regression":
        top.need("features", "outputs")
        tabular = _tabular(top)
    else:
        for key in ("features", "outputs", "guards"):
            if key in top.data:
                raise SpecError(f"{key}: only used by task regression")
    model = _model(top.section("model"), spec_dir, refs)
    if (model.transformers is None) == (task in TEXT_TASKS):
        raise SpecError("model.transformers: a text model is a Hugging Face model directory (model.transformers), "
                        "and only text tasks take one")
    if task == "convention" and model.source is None:
        raise SpecError("model.source: the convention task calls the class's preprocess/postprocess, so it needs "
                        "source + class + weights (format: torchscript or export converts the forward only)")
    return Spec(
        name=top.matching("name", NAME_PATTERN, "letters, digits, '_' or '-', starting with a letter"),
        version=top.matching("version", VERSION_PATTERN, "e.g. 1.0 or 2024-05-01", allow_number=True),
        task=task,
        model=model,
        preprocess=preprocess,
        labels=labels,
        postprocess=_postprocess(top.section("postprocess", optional=True)),
        serving=_serving(top.section("serving", optional=True)),
        text=text,
        zero_shot=zero_shot,
        tabular=tabular,
        golden=_golden(top, spec_dir, refs),
        metadata=_metadata(top),
        references=refs,
    )


# -- sections -------------------------------------------------------------------------------

def _model(section: _Section, spec_dir: Path, refs: dict[str, str]) -> ModelSpec:
    section.allow(set(), {"source", "class", "factory", "kwargs", "artifacts", "weights", "format", "tolerance",
                          "torchscript", "export", "transformers"})
    if "transformers" in section.data:
        return _transformers_model(section, spec_dir, refs)
    programs = [key for key in PROGRAM_KEYS if key in section.data]
    if programs:
        extra = sorted(set(section.data) - {programs[0]})
        if extra:
            raise SpecError(f"{section.key(extra[0])}: not used with model.{programs[0]}; give either a "
                            f"{programs[0]} file or source+class+weights (+ format to convert)")
        return ModelSpec(format=programs[0], program=_file(section, programs[0], spec_dir, refs))
    section.need("source", "class", "weights")
    factory = section.optional("factory", str)
    if factory is not None and not factory.isidentifier():
        raise SpecError(f"{section.key('factory')}: {factory!r} is not a method name")
    kwargs = section.optional("kwargs", dict) or {}
    _json_value(kwargs, section.key("kwargs"))
    if "artifacts" in kwargs:
        raise SpecError(f"{section.key('kwargs')}: 'artifacts' is passed by the handler; declare them under model.artifacts")
    tolerance = section.number("tolerance", default=1e-4)
    if tolerance < 0:
        raise SpecError(f"{section.key('tolerance')}: must be >= 0, got {tolerance}")
    return ModelSpec(
        format=section.choice("format", FORMATS, default="eager"),
        source=_file(section, "source", spec_dir, refs),
        class_name=section.matching("class", PYTHON_NAME, "a class name, optionally module.Class"),
        factory=factory,
        kwargs=kwargs,
        artifacts=_artifacts(section.section("artifacts", optional=True), spec_dir, refs),
        weights=_file(section, "weights", spec_dir, refs),
        tolerance=tolerance,
    )


def _transformers_model(section: _Section, spec_dir: Path, refs: dict[str, str]) -> ModelSpec:
    extra = sorted(set(section.data) - {"transformers", "format", "tolerance"})
    if extra:
        raise SpecError(f"{section.key(extra[0])}: not used with model.transformers (give format and tolerance only)")
    directory = _file(section, "transformers", spec_dir, refs)
    if not (directory / "config.json").is_file():
        raise SpecError(f"{section.key('transformers')}: {directory} is not a Hugging Face model directory (no config.json)")
    fmt = section.choice("format", ENCODER_FORMATS, default="export")
    tolerance = section.number("tolerance", default=1e-4)
    return ModelSpec(format=fmt, transformers=directory, tolerance=tolerance)


def _text(top: _Section, spec_dir: Path, refs: dict[str, str]) -> TextSpec:
    section = top.section("text", optional=True)
    section.allow(set(), {"max_length", "pooling", "normalize", "max_texts"})
    max_length = section.data.get("max_length")
    if max_length is not None:
        max_length = section.integer("max_length", default=0, low=1, high=8192)
    pooling = section.choice("pooling", POOLINGS, default=None) if section.data.get("pooling") is not None else None
    normalize = section.optional("normalize", bool)
    return TextSpec(
        tokenizer=_file(top, "tokenizer", spec_dir, refs),
        max_length=max_length,
        pooling=pooling,
        normalize=normalize,
        max_texts=section.integer("max_texts", default=64, low=1, high=4096),
    )


def _zero_shot(section: _Section) -> ZeroShotSpec:
    section.allow({"labels"}, {"temperature"})
    labels = section.data["labels"]
    if not isinstance(labels, dict) or len(labels) < 2:
        raise SpecError(f"{section.key('labels')}: expected a mapping of two or more label: description")
    for label, description in labels.items():
        if not isinstance(label, str) or not label.strip() or not isinstance(description, str) or not description.strip():
            raise SpecError(f"{section.key('labels')}.{label}: expected a non-empty label and a description sentence")
    temperature = section.number("temperature", default=0.05)
    if temperature <= 0:
        raise SpecError(f"{section.key('temperature')}: must be > 0, got {temperature}")
    return ZeroShotSpec(labels=dict(labels), temperature=temperature)


def _tabular(top: _Section) -> TabularSpec:
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
        guard = _Section(item, f"guards[{index}]", required={"feature", "policy"}, optional={"min", "max"})
        if guard.data["feature"] not in names:
            raise SpecError(f"guards[{index}].feature: {guard.data['feature']!r} is not a declared feature ({sorted(names)})")
        bounds = {key: guard.number(key, default=0.0) for key in ("min", "max") if guard.data.get(key) is not None}
        if not bounds:
            raise SpecError(f"guards[{index}]: give min, max or both")
        if len(bounds) == 2 and bounds["min"] > bounds["max"]:
            raise SpecError(f"guards[{index}]: min {bounds['min']} is greater than max {bounds['max']}")
        guards.append({"feature": guard.data["feature"], "policy": guard.choice("policy", GUARD_POLICIES), **bounds})
    return TabularSpec(features=features, outputs=outputs, guards=tuple(guards))


def _named_list(top: _Section, key: str, required: set[str], optional: set[str]) -> list[dict[str, Any]]:
    items = top.data.get(key)
    if not isinstance(items, list) or not items:
        raise SpecError(f"{key}: expected a list of one or more {{name, unit}} entries")
    entries, seen = [], set()
    for index, item in enumerate(items):
        entry = _Section(item, f"{key}[{index}]", required=required, optional=optional)
        name = entry.matching("name", PYTHON_NAME, "a name like temperature_history")
        if name in seen:
            raise SpecError(f"{key}[{index}].name: {name!r} appears twice")
        seen.add(name)
        entries.append({**entry.data, "name": name, "unit": entry.string("unit")})
    return entries


def _artifacts(section: _Section, spec_dir: Path, refs: dict[str, str]) -> dict[str, ArtifactSpec]:
    artifacts = {}
    for name in section.data:
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"{section.key(str(name))}: an artifact name must be a Python identifier")
        entry = _Section(section.data[name], section.key(name))
        if set(entry.data) == {"file"}:
            artifacts[name] = ArtifactSpec(file=_file(entry, "file", spec_dir, refs))
        elif set(entry.data) == {"value"}:
            _json_value(entry.data["value"], entry.key("value"))
            artifacts[name] = ArtifactSpec(value=entry.data["value"])
        else:
            raise SpecError(f"{section.key(name)}: expected exactly one of {{file: PATH}} or {{value: JSON}}, got {sorted(entry.data)}")
    return artifacts


def _preprocess(section: _Section) -> ImagePreprocessing:
    section.allow({"color_mode", "mean", "std"}, {"resize", "center_crop", "interpolation", "max_pixels", "draft"})
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
        max_pixels=section.integer("max_pixels", default=40_000_000, low=1),
        draft=True if draft is None else draft,
    )


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else size


def _postprocess(section: _Section) -> PostprocessSpec:
    section.allow(set(), {"top_k", "threshold"})
    threshold = section.number("threshold", default=0.0)
    if not 0.0 <= threshold <= 1.0:
        raise SpecError(f"{section.key('threshold')}: must be a probability from 0 to 1, got {threshold}")
    return PostprocessSpec(top_k=section.integer("top_k", default=5, low=1), threshold=threshold)


def _serving(section: _Section) -> ServingSpec:
    section.allow(set(), {"workers", "batch_size", "max_batch_delay", "response_timeout", "torch_threads"})
    return ServingSpec(
        workers=section.integer("workers", default=1, low=1, high=64),
        batch_size=section.integer("batch_size", default=1, low=1, high=1024),
        max_batch_delay=_batch_delay(section),
        response_timeout=section.integer("response_timeout", default=120, low=1, high=3600),
        torch_threads=section.integer("torch_threads", default=1, low=1, high=256),
    )


def _batch_delay(section: _Section) -> int:
    delay = section.integer("max_batch_delay", default=100, low=0, high=60_000)
    if delay == 0:
        raise SpecError(f"{section.key('max_batch_delay')}: TorchServe reads 0 in an archive's model-config.yaml as "
                        "'not set' and waits its default 100 ms; use 1 to form batches only from requests already waiting")
    return delay


def _golden(top: _Section, spec_dir: Path, refs: dict[str, str]) -> tuple[GoldenSpec, ...]:
    items = top.data["golden"]
    if not isinstance(items, list) or not items:
        raise SpecError("golden: expected a list of one or more examples (input, expected, tolerance)")
    examples = []
    for index, item in enumerate(items):
        section = _Section(item, f"golden[{index}]", required={"input", "expected"}, optional={"tolerance"})
        _json_value(section.data["expected"], section.key("expected"))
        tolerance = section.number("tolerance", default=1e-3)
        if tolerance < 0:
            raise SpecError(f"{section.key('tolerance')}: must be >= 0, got {tolerance}")
        examples.append(GoldenSpec(_file(section, "input", spec_dir, refs), section.data["expected"], tolerance))
    return tuple(examples)


def _metadata(top: _Section) -> dict[str, Any]:
    metadata = top.data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SpecError(f"metadata: expected a mapping (description, author, training_data, ...), got {type(metadata).__name__}")
    _json_value(metadata, "metadata")
    return metadata


def _file(section: _Section, key: str, spec_dir: Path, refs: dict[str, str]) -> Path:
    reference = section.string(key)
    refs[section.key(key)] = reference
    return resolve_reference(reference, spec_dir, section.key(key))


def _json_value(value: Any, key: str) -> None:
    """Metadata and expected outputs go into JSON: refuse what JSON cannot hold (dates, NaN, ...)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{key}: must be plain JSON data (quote dates, no NaN): {err}") from err


# -- strict reading of one mapping ----------------------------------------------------------

class _Section:
    """One mapping of the spec, read strictly; ``prefix`` is its dotted key for messages."""

    def __init__(self, data: Any, prefix: str, required: set[str] = frozenset(), optional: set[str] = frozenset()) -> None:
        if not isinstance(data, dict):
            where = prefix or "the spec"
            raise SpecError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
        self.data = data
        self.prefix = prefix
        if required or optional:
            self.allow(set(required), set(optional))

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def allow(self, required: set[str], optional: set[str]) -> None:
        known = required | optional
        for name in self.data:
            if name not in known:
                close = difflib.get_close_matches(str(name), sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
                raise SpecError(f"{self.key(str(name))}: unknown key{hint}")
        self.need(*sorted(required))

    def need(self, *names: str) -> None:
        for name in names:
            if name not in self.data or self.data[name] is None:
                raise SpecError(f"{self.key(name)}: required key is missing")

    def section(self, name: str, optional: bool = False) -> _Section:
        value = self.data.get(name)
        if value is None and optional:
            value = {}
        return _Section(value, self.key(name))

    def optional(self, name: str, kind: type) -> Any:
        value = self.data.get(name)
        if value is not None and not isinstance(value, kind):
            raise SpecError(f"{self.key(name)}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def string(self, name: str) -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"{self.key(name)}: expected a non-empty string, got {value!r}")
        return value

    def matching(self, name: str, pattern: re.Pattern, hint: str, allow_number: bool = False) -> str:
        value = self.data.get(name)
        if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not pattern.match(value):
            raise SpecError(f"{self.key(name)}: {value!r} is not valid ({hint})")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value not in choices:
            raise SpecError(f"{self.key(name)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(f"{self.key(name)}: expected a number, got {value!r}")
        return float(value)

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.key(name)}: expected a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f">= {low}"
            raise SpecError(f"{self.key(name)}: must be {bound}, got {value}")
        return value

    def numbers(self, name: str, count: int, why: str) -> tuple[float, ...]:
        value = self.data.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if not ok:
            raise SpecError(f"{self.key(name)}: expected a list of {count} numbers {why}, got {value!r}")
        if len(value) != count:
            raise SpecError(f"{self.key(name)}: expected {count} numbers {why}, got {len(value)}")
        return tuple(float(v) for v in value)

    def size(self, name: str, allow_int: bool) -> int | tuple[int, int] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if allow_int and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            return (value[0], value[1])
        raise SpecError(f"{self.key(name)}: expected a positive integer (shorter side) or [height, width], got {value!r}")
