"""The manifest's typed sections: what the builder writes into ``manifest.json`` and the run-time reads back.

One description of the manifest (docs/design/manifest-types.md): the builder constructs these types and
writes them, ``UnpackedArchive.open`` parses the manifest into them once, and
``markit/schemas/manifest.schema.json`` is generated from them (``python -m markit.schemas``).

Here are the envelope (``Manifest``: schema version, identity, spec, files, provenance) and the sections every
archive's spec has (``SpecBase``: name, version, task, model, serving, metadata, golden, budgets). A task's
own sections and its spec type (a ``SpecBase`` with ``task: Literal[NAME]``) live in its folder
(``tasks/NAME/manifest.py``), types several tasks share beside the code that uses them (``tasks/common``).
A manifest is parsed strictly (``parse_manifest``): ``"2"`` is not 2, ``true`` is not 1.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import Field, ValidationError, model_validator

from .budgets import Budgets
from .errors import ArchiveError
from .manifest import MANIFEST_NAME, SCHEMA_MAJOR, SCHEMA_VERSION
from .section import Section, problems

__all__ = ["FORMATS", "MODEL_TYPES", "AotiModel", "Artifact", "ArtifactFile", "ArtifactValue", "Conversion", "EagerModel",
           "ExportModel", "Golden", "Manifest", "Metadata", "Model", "ModelSection", "OnnxModel", "Program", "ProgramModel",
           "Provenance", "Requires", "Serving", "SpecBase", "TorchScriptModel", "parse_manifest"]


Positive = Annotated[int, Field(ge=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ArchivePath = Annotated[str, Field(min_length=1, description="a path inside the archive")]


# -- the model ---------------------------------------------------------------------------------------

class Conversion(Section):
    """How close a converted program stayed to what it was converted from, on the golden inputs."""

    from_: Literal["eager", "transformers"] = Field(alias="from")
    max_abs_diff: Annotated[float, Field(ge=0)]
    tolerance: Annotated[float, Field(ge=0)]
    examples: Positive


class ArtifactFile(Section):
    file: ArchivePath


class ArtifactValue(Section):
    keeps_none = frozenset({"value"})
    value: Any


Artifact = ArtifactFile | ArtifactValue


class Program(Section):
    """One method of the model, converted on its own (``spec.model.programs``)."""

    file: ArchivePath
    conversion: Conversion


class Requires(Section):
    """What a program needs of the worker (aoti, onnx); checked before it is loaded."""

    torch: str | None = Field(None, description="aoti: torch release (without local version) the program was compiled with")
    machine: str | None = Field(None, description="aoti: platform.machine(), e.g. x86_64")
    cpu_capability: str | None = Field(None, description="aoti: lowest torch.backends.cpu.get_cpu_capability() that runs it")
    onnxruntime: str | None = Field(None, description="onnx: the onnxruntime release the program was verified with")


class _ModelClass(Section):
    """The model's own class: imported from ``source`` and built by ``class`` (or its ``factory``)."""

    source: ArchivePath | None = Field(None, description="a .py file or a package directory")
    class_: str | None = Field(None, alias="class")
    factory: str | None = None
    kwargs: dict[str, Any] | None = None
    artifacts: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Artifact] | None = Field(
        None, description="named constants and data files passed to the class as artifacts={name: value or Path}")

    @property
    def has_class(self) -> bool:
        return self.source is not None and self.class_ is not None


class EagerModel(_ModelClass):
    """The class and its safetensors state_dict."""

    format: Literal["eager"]
    source: ArchivePath
    class_: str = Field(alias="class")
    weights: ArchivePath


class ProgramModel(_ModelClass):
    """A program file (``file``), or one program per method the task calls (``programs``); with the class when
    the task calls its own methods or it was converted from it."""

    file: ArchivePath | None = None
    conversion: Conversion | None = None
    programs: Annotated[dict[str, Program], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _file_or_programs(self) -> ProgramModel:
        if (self.file is None) == (self.programs is None):
            raise ValueError(f"a {self.format} model has a program file or programs (one per method), not both")  # type: ignore[attr-defined]
        return self


class TorchScriptModel(ProgramModel):
    format: Literal["torchscript"]


class ExportModel(ProgramModel):
    format: Literal["export"]


class _CompiledModel(ProgramModel):
    requires: Requires
    fallback: Model | None = Field(None, description=(
        "the model the program was made from, served where the program cannot run (the builder always ships one; "
        "without it, such a worker refuses the archive)"))

    @model_validator(mode="after")
    def _converted(self) -> _CompiledModel:
        if self.file is not None and self.conversion is None:
            raise ValueError(f"an {self.format} program file needs its conversion record")  # type: ignore[attr-defined]
        return self

    @property
    def has_class(self) -> bool:
        return super().has_class or (self.fallback is not None and self.fallback.has_class)


class AotiModel(_CompiledModel):
    """An AOTInductor package: runs where its torch release and CPU match ``requires``."""

    format: Literal["aoti"]

    @model_validator(mode="after")
    def _requires(self) -> AotiModel:
        missing = [key for key in ("torch", "machine", "cpu_capability") if getattr(self.requires, key) is None]
        if missing:
            raise ValueError(f"an aoti model's requires names {', '.join(missing)}")
        return self


class OnnxModel(_CompiledModel):
    """An ONNX program run by ONNX Runtime, at least as new as ``requires.onnxruntime``."""

    format: Literal["onnx"]

    @model_validator(mode="after")
    def _requires(self) -> OnnxModel:
        if self.requires.onnxruntime is None:
            raise ValueError("an onnx model's requires names its onnxruntime release")
        return self


MODEL_TYPES = (EagerModel, TorchScriptModel, ExportModel, AotiModel, OnnxModel)
ModelSection = EagerModel | TorchScriptModel | ExportModel | AotiModel | OnnxModel
Model = Annotated[ModelSection, Field(discriminator="format")]
FORMATS: tuple[str, ...] = tuple(get_args(kind.model_fields["format"].annotation)[0] for kind in MODEL_TYPES)
for _model in (_CompiledModel, AotiModel, OnnxModel):
    _model.model_rebuild()


# -- the other sections every archive has ------------------------------------------------------------

class Serving(Section):
    """TorchServe's settings for the archive (its model-config.yaml) and the worker's torch threads."""

    workers: Positive = 1
    batch_size: Positive = 1
    max_batch_delay: Annotated[int, Field(ge=0, description="milliseconds")] = 100
    response_timeout: Annotated[int, Field(ge=1, description="seconds")] = 120
    torch_threads: Positive = 1


class Golden(Section):
    """An input file in the archive and (a partial picture of) the answer it must give."""

    keeps_none = frozenset({"expected"})
    input: ArchivePath
    expected: Any
    tolerance: Annotated[float, Field(ge=0)] = 1e-3


class Metadata(Section, extra="allow"):
    """Free-form facts about the model: description, author, training_data, capabilities, quality, ..."""

    capabilities: dict[str, Any] | list[Any] | None = Field(None, description=(
        "what the model can do, as facts software can match, e.g. {area: [Seattle], horizon_hours: [1, 2, 3]}; "
        "read by markit.client.catalog.find_best_model"))
    quality: dict[str, Any] | None = Field(None, description=(
        "metrics measured on held-out data, e.g. {mae: 1.1, unit: degF}; lower mae is better for find_best_model"))


class SpecBase(Section):
    """The sections every archive's spec has; a task's spec type adds its own and names ``task``."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")]
    version: str
    task: str
    model: Model
    serving: Serving
    metadata: Metadata = Metadata()
    golden: Annotated[tuple[Golden, ...], Field(min_length=1)]
    budgets: Budgets


class Provenance(Section):
    """How the archive was made: not part of its identity."""

    builder_version: str
    built_at: str
    python_version: str
    torch_version: str
    torch_model_archiver_version: str | None = None
    platform: str | None = None
    inputs: dict[str, str] = Field({}, description="spec key -> the file reference as written in the spec")


S = TypeVar("S", bound=SpecBase)


class Manifest(Section, Generic[S]):
    """``manifest.json`` at the root of every archive."""

    schema_version: Annotated[str, Field(pattern=rf"^{SCHEMA_MAJOR}\.[0-9]+$")]
    identity: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$", description=(
        "sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of {schema_version, spec, files}"))]
    spec: S
    files: Annotated[dict[str, Sha256], Field(min_length=1, description=(
        "every packaged file but manifest.json and MAR-INF/, by archive path, with its hex sha256"))]
    provenance: Provenance


def parse_manifest(data: str | bytes, spec_type: type[S], where: str = MANIFEST_NAME) -> Manifest[S]:
    """The manifest in ``data`` (its JSON text) with its spec as ``spec_type``; ArchiveError naming each place at fault."""
    try:
        return Manifest[spec_type].model_validate_json(data, strict=True)  # type: ignore[valid-type]
    except ValidationError as err:
        raise ArchiveError(f"{where} does not match its schema {SCHEMA_VERSION}: {problems(err, json.loads(data))}") from err
