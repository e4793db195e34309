"""msgspec prototype of the whole manifest (2.0)."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, Struct, field

Pos = Annotated[int, Meta(ge=1)]
NonNeg = Annotated[int, Meta(ge=0)]
Sha = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]


class Base(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class Conversion(Base, kw_only=True):
    from_: Literal["eager", "transformers"] = field(name="from")
    max_abs_diff: Annotated[float, Meta(ge=0)]
    tolerance: Annotated[float, Meta(ge=0)]
    examples: Pos


class Artifact(Base, kw_only=True):
    file: str | msgspec.UnsetType = msgspec.UNSET
    value: Any = msgspec.UNSET

    def __post_init__(self):
        if (self.file is msgspec.UNSET) == (self.value is msgspec.UNSET):
            raise ValueError("an artifact is a file or a value")


class Program(Base, kw_only=True):
    file: str
    conversion: Conversion


class Requires(Base, kw_only=True):
    torch: str | None = None
    machine: str | None = None
    cpu_capability: str | None = None
    onnxruntime: str | None = None


class ModelBase(Base, tag_field="format", kw_only=True):
    source: str | None = None
    class_: str | None = field(name="class", default=None)
    factory: str | None = None
    kwargs: dict[str, Any] = {}
    artifacts: dict[str, Artifact] = {}


class EagerModel(ModelBase, tag="eager", kw_only=True):
    weights: str


class _Program(ModelBase, kw_only=True):
    file: str | None = None
    conversion: Conversion | None = None
    programs: dict[str, Program] | None = None

    def __post_init__(self):
        if (self.file is None) == (self.programs is None):
            raise ValueError("give file or programs, not both")


class TorchScriptModel(_Program, tag="torchscript", kw_only=True):
    pass


class ExportModel(_Program, tag="export", kw_only=True):
    pass


class AotiModel(_Program, tag="aoti", kw_only=True):
    requires: Requires
    fallback: Model


class OnnxModel(_Program, tag="onnx", kw_only=True):
    requires: Requires
    fallback: Model


Model = Union[EagerModel, TorchScriptModel, ExportModel, AotiModel, OnnxModel]  # noqa: UP007 (forward references)


class Serving(Base, kw_only=True):
    workers: Pos
    batch_size: Pos
    max_batch_delay: NonNeg
    response_timeout: Pos
    torch_threads: Pos


class Budgets(Base, kw_only=True):
    request_bytes: Pos
    instances: Pos | None = None
    pixels: Pos | None = None
    texts: Pos | None = None
    text_chars: Pos | None = None
    rows: Pos | None = None
    beam_steps: Pos | None = None


class Golden(Base, kw_only=True):
    input: str
    expected: Any
    tolerance: Annotated[float, Meta(ge=0)]


class ImagePreprocessing(Base, kw_only=True):
    color_mode: Literal["RGB", "L"]
    mean: Annotated[tuple[float, ...], Meta(min_length=1, max_length=3)]
    std: Annotated[tuple[Annotated[float, Meta(gt=0)], ...], Meta(min_length=1, max_length=3)]
    resize: int | tuple[Pos, Pos] | None = None  # Pos | tuple segfaults msgspec 0.19-0.23
    center_crop: tuple[Pos, Pos] | None = None
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"] = "bilinear"
    draft: bool = True

    def __post_init__(self):
        if isinstance(self.resize, int) and self.resize < 1:
            raise ValueError("resize must be >= 1")


class Labels(Base, kw_only=True):
    file: str
    count: Pos


class Postprocess(Base, kw_only=True):
    top_k: Pos = 5
    threshold: Annotated[float, Meta(ge=0, le=1)] = 0.0


class Tokenizer(Base, kw_only=True):
    file: str
    max_length: Pos
    max_length_from: str
    pad_id: NonNeg
    sha256: Sha


class TextSettings(Base, kw_only=True):
    pooling: Literal["mean", "cls", "max"]
    normalize: bool


class ZeroShot(Base, kw_only=True):
    embeddings: str
    temperature: Annotated[float, Meta(gt=0)]
    descriptions: dict[str, str]


class Feature(Base, kw_only=True):
    name: str
    unit: str
    shape: tuple[Pos, ...] = ()


class Output(Base, kw_only=True):
    name: str
    unit: str


class Guard(Base, kw_only=True):
    feature: str
    policy: Literal["reject", "flag"]
    min: float | None = None
    max: float | None = None


class InputSymbols(Base, kw_only=True):
    file: str
    size: Pos
    split: Literal["characters", "spaces"]
    lowercase: bool
    pad: str
    end: str | None
    map: dict[str, str]


class OutputSymbols(Base, kw_only=True):
    file: str
    size: Annotated[int, Meta(ge=2)]
    start: str
    end: str
    never: tuple[str, ...]
    join: str


class Symbols(Base, kw_only=True):
    input: InputSymbols
    output: OutputSymbols


class Maxima(Base, kw_only=True):
    beam_width: Pos
    num_candidates: Pos
    max_length: Pos
    length_penalty: Annotated[float, Meta(ge=0)]


class Search(Maxima, kw_only=True):
    maxima: Maxima


class SpecBase(Base, tag_field="task", kw_only=True):
    name: Annotated[str, Meta(pattern="^[A-Za-z][A-Za-z0-9_\\-]{0,63}$")]
    version: str
    model: Model
    serving: Serving
    metadata: dict[str, Any]
    golden: Annotated[tuple[Golden, ...], Meta(min_length=1)]
    budgets: Budgets


class ImageClassificationSpec(SpecBase, tag="image_classification", kw_only=True):
    preprocess: ImagePreprocessing
    labels: Labels
    postprocess: Postprocess


class ConventionSpec(SpecBase, tag="convention", kw_only=True):
    pass


class TextEmbeddingSpec(SpecBase, tag="text_embedding", kw_only=True):
    tokenizer: Tokenizer
    text: TextSettings


class TextClassificationSpec(SpecBase, tag="text_classification", kw_only=True):
    tokenizer: Tokenizer
    text: TextSettings
    labels: Labels
    postprocess: Postprocess
    zero_shot: ZeroShot


class RegressionSpec(SpecBase, tag="regression", kw_only=True):
    features: Annotated[tuple[Feature, ...], Meta(min_length=1)]
    outputs: Annotated[tuple[Output, ...], Meta(min_length=1)]
    guards: tuple[Guard, ...] = ()


class Seq2SeqSpec(SpecBase, tag="seq2seq", kw_only=True):
    symbols: Symbols
    search: Search


Spec = Union[ImageClassificationSpec, ConventionSpec, TextEmbeddingSpec, TextClassificationSpec,  # noqa: UP007
             RegressionSpec, Seq2SeqSpec]


class Provenance(Struct, frozen=True, kw_only=True):
    builder_version: str
    built_at: str
    python_version: str
    torch_version: str
    torch_model_archiver_version: str | None = None
    platform: str | None = None
    inputs: dict[str, str] = {}


class Manifest(Base, kw_only=True):
    schema_version: Annotated[str, Meta(pattern="^[12]\\.[0-9]+$")]
    identity: Annotated[str, Meta(pattern="^sha256:[0-9a-f]{64}$")]
    spec: Spec
    files: dict[str, Sha]
    provenance: Provenance


_decoder = msgspec.json.Decoder(Manifest)


def parse(data: bytes) -> Manifest:
    return _decoder.decode(data)


def schema() -> dict:
    return msgspec.json.schema(Manifest)
