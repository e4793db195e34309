"""pydantic v2 prototype of the whole manifest (2.0)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Pos = Annotated[int, Field(ge=1)]
NonNeg = Annotated[int, Field(ge=0)]
Sha = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)


class Conversion(Base):
    from_: Literal["eager", "transformers"] = Field(alias="from")
    max_abs_diff: Annotated[float, Field(ge=0)]
    tolerance: Annotated[float, Field(ge=0)]
    examples: Pos


class ArtifactFile(Base):
    file: str


class ArtifactValue(Base):
    value: Any


class Program(Base):
    file: str
    conversion: Conversion


class Requires(Base):
    torch: str | None = None
    machine: str | None = None
    cpu_capability: str | None = None
    onnxruntime: str | None = None


class ModelBase(Base):
    source: str | None = None
    class_: str | None = Field(default=None, alias="class")
    factory: str | None = None
    kwargs: dict[str, Any] = {}
    artifacts: dict[str, ArtifactFile | ArtifactValue] = {}


class EagerModel(ModelBase):
    format: Literal["eager"]
    weights: str


class _Program(ModelBase):
    file: str | None = None
    conversion: Conversion | None = None
    programs: dict[str, Program] | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.file is None) == (self.programs is None):
            raise ValueError("give file or programs, not both")
        return self


class TorchScriptModel(_Program):
    format: Literal["torchscript"]


class ExportModel(_Program):
    format: Literal["export"]


class AotiModel(_Program):
    format: Literal["aoti"]
    requires: Requires
    fallback: Model


class OnnxModel(_Program):
    format: Literal["onnx"]
    requires: Requires
    fallback: Model


Model = Annotated[EagerModel | TorchScriptModel | ExportModel | AotiModel | OnnxModel, Field(discriminator="format")]


class Serving(Base):
    workers: Pos
    batch_size: Pos
    max_batch_delay: NonNeg
    response_timeout: Pos
    torch_threads: Pos


class Budgets(Base):
    request_bytes: Pos
    instances: Pos | None = None
    pixels: Pos | None = None
    texts: Pos | None = None
    text_chars: Pos | None = None
    rows: Pos | None = None
    beam_steps: Pos | None = None


class Golden(Base):
    input: str
    expected: Any
    tolerance: Annotated[float, Field(ge=0)]


class ImagePreprocessing(Base):
    color_mode: Literal["RGB", "L"]
    mean: Annotated[tuple[float, ...], Field(min_length=1, max_length=3)]
    std: Annotated[tuple[Annotated[float, Field(gt=0)], ...], Field(min_length=1, max_length=3)]
    resize: Pos | tuple[Pos, Pos] | None = None
    center_crop: tuple[Pos, Pos] | None = None
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"] = "bilinear"
    draft: bool = True


class Labels(Base):
    file: str
    count: Pos


class Postprocess(Base):
    top_k: Pos = 5
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.0


class Tokenizer(Base):
    file: str
    max_length: Pos
    max_length_from: str
    pad_id: NonNeg
    sha256: Sha


class TextSettings(Base):
    pooling: Literal["mean", "cls", "max"]
    normalize: bool


class ZeroShot(Base):
    embeddings: str
    temperature: Annotated[float, Field(gt=0)]
    descriptions: dict[str, str]


class Feature(Base):
    name: str
    unit: str
    shape: tuple[Pos, ...] = ()


class Output(Base):
    name: str
    unit: str


class Guard(Base):
    feature: str
    policy: Literal["reject", "flag"]
    min: float | None = None
    max: float | None = None


class InputSymbols(Base):
    file: str
    size: Pos
    split: Literal["characters", "spaces"]
    lowercase: bool
    pad: str
    end: str | None
    map: dict[str, str]


class OutputSymbols(Base):
    file: str
    size: Annotated[int, Field(ge=2)]
    start: str
    end: str
    never: tuple[str, ...]
    join: str


class Symbols(Base):
    input: InputSymbols
    output: OutputSymbols


class Maxima(Base):
    beam_width: Pos
    num_candidates: Pos
    max_length: Pos
    length_penalty: Annotated[float, Field(ge=0)]


class Search(Maxima):
    maxima: Maxima


class SpecBase(Base):
    name: Annotated[str, Field(pattern="^[A-Za-z][A-Za-z0-9_\\-]{0,63}$")]
    version: str
    model: Model
    serving: Serving
    metadata: dict[str, Any]
    golden: Annotated[tuple[Golden, ...], Field(min_length=1)]
    budgets: Budgets


class ImageClassificationSpec(SpecBase):
    task: Literal["image_classification"]
    preprocess: ImagePreprocessing
    labels: Labels
    postprocess: Postprocess


class ConventionSpec(SpecBase):
    task: Literal["convention"]


class TextEmbeddingSpec(SpecBase):
    task: Literal["text_embedding"]
    tokenizer: Tokenizer
    text: TextSettings


class TextClassificationSpec(SpecBase):
    task: Literal["text_classification"]
    tokenizer: Tokenizer
    text: TextSettings
    labels: Labels
    postprocess: Postprocess
    zero_shot: ZeroShot


class RegressionSpec(SpecBase):
    task: Literal["regression"]
    features: Annotated[tuple[Feature, ...], Field(min_length=1)]
    outputs: Annotated[tuple[Output, ...], Field(min_length=1)]
    guards: tuple[Guard, ...] = ()


class Seq2SeqSpec(SpecBase):
    task: Literal["seq2seq"]
    symbols: Symbols
    search: Search


Spec = Annotated[
    ImageClassificationSpec | ConventionSpec | TextEmbeddingSpec | TextClassificationSpec | RegressionSpec | Seq2SeqSpec,
    Field(discriminator="task"),
]


class Provenance(BaseModel):
    model_config = ConfigDict(frozen=True)
    builder_version: str
    built_at: str
    python_version: str
    torch_version: str
    torch_model_archiver_version: str | None = None
    platform: str | None = None
    inputs: dict[str, str] = {}


class Manifest(Base):
    schema_version: Annotated[str, Field(pattern="^[12]\\.[0-9]+$")]
    identity: Annotated[str, Field(pattern="^sha256:[0-9a-f]{64}$")]
    spec: Spec
    files: dict[str, Sha]
    provenance: Provenance


def parse(data: bytes) -> Manifest:
    return Manifest.model_validate_json(data)


def schema() -> dict:
    return Manifest.model_json_schema(by_alias=True)
