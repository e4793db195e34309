"""Loading the archive's model: eager (source + safetensors state_dict), TorchScript, torch.export, an
AOTInductor-compiled package, or an ONNX program run by ONNX Runtime; the last two with the model they
were made from shipped beside them as a fallback.

Model source code is imported from the archive by path under a private module name, so an
installed package of the same name never replaces the code that was verified at build time.
Weights are loaded without unpickling: safetensors for eager models, ``torch.jit.load`` for
TorchScript, ``torch.export.load`` for exported programs (``.pt2``).

A compiled program (``aoti``) runs only where its torch release and CPU match what it was built for
(``markit.core.compiled``); an ONNX program (``onnx``) only where onnxruntime is installed, at least as new
as the release it was verified with (``markit.core.onnx_program``). Where they do not, or the program fails
to load, the worker logs why and serves the fallback model the archive ships (``spec.model.fallback``,
verified at build like the program); an archive without a fallback is refused with that reason.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from safetensors.torch import load_file

from . import compiled, onnx_program
from .errors import ArchiveError
from .importing import import_path

__all__ = ["FORMATS", "LoadedModel", "import_source", "load_model", "resolve_attribute"]

log = logging.getLogger(__name__)

FORMATS = ("eager", "torchscript", "export", "aoti", "onnx")

# Formats whose program needs something of the worker (``requires``), checked before loading it.
PROGRAM_RUNTIMES: dict[str, tuple[Callable[[Mapping[str, Any]], str | None], Callable[[str], Any]]] = {
    "aoti": (compiled.unmet_requirement, compiled.load_package),
    "onnx": (onnx_program.unmet_requirement, onnx_program.OnnxProgram),
}


@dataclass(frozen=True)
class LoadedModel:
    """What serving needs of a model: the batch ``forward`` (eager module, TorchScript or an exported
    program) and, when the archive ships the model's source, the instance of its class (whose
    ``preprocess``/``postprocess`` the convention handler calls)."""

    forward: Callable[..., Any] | None
    instance: torch.nn.Module | None = None
    format: str = "eager"  # the form that serves: the archive's, or its fallback's
    fallback_reason: str | None = None  # why the archive's compiled program is not the one serving
    programs: Mapping[str, Callable[..., Any]] = field(default_factory=dict)  # a multi-program model's, by method name


def load_model(archive_dir: Path, section: Mapping[str, Any], with_instance: bool = False,
               methods: tuple[str, ...] = ()) -> LoadedModel:
    """Build the model the manifest's ``spec.model`` describes, in eval mode, on the CPU.

    For TorchScript and exported programs the source class is instantiated only ``with_instance``
    (the convention handler needs its preprocess/postprocess; task handlers do not). A task that calls
    several of the model's ``methods`` (seq2seq: ``encode``, ``decode_step``) gets them as ``programs``:
    the eager instance's methods, or one converted program each (``spec.model.programs``)."""
    fmt = section.get("format")
    if fmt not in FORMATS:
        raise ArchiveError(f"manifest spec.model.format {fmt!r} is not one of {list(FORMATS)}")
    if fmt in PROGRAM_RUNTIMES:
        return _load_program(archive_dir, section, with_instance, methods)
    wanted = fmt == "eager" or with_instance
    instance = instantiate(archive_dir, section) if wanted and section.get("source") else None
    if fmt == "eager":
        if instance is None:
            raise ArchiveError("manifest spec.model: an eager model needs 'source' and 'class'")
        _load_weights(instance, archive_dir, section)
        return LoadedModel(forward=instance, instance=instance, programs=_methods(instance, section, methods))
    load = torch.jit.load if fmt == "torchscript" else _exported
    forward, programs = _load_files(archive_dir, section, methods, load)
    return LoadedModel(forward=forward, instance=instance, format=fmt, programs=programs)


def _exported(path: str) -> Callable[..., Any]:
    return torch.export.load(path).module()


def _load_files(archive_dir: Path, section: Mapping[str, Any], methods: tuple[str, ...],
                load: Callable[[str], Any]) -> tuple[Callable[..., Any] | None, dict[str, Callable[..., Any]]]:
    """The program file (``spec.model.file``), or with ``methods`` one file per method (``spec.model.programs``)."""
    if not methods:
        return load(str(archive_dir / section["file"])), {}
    programs = section.get("programs")
    missing = [method for method in methods if not isinstance(programs, Mapping) or method not in programs]
    if missing:
        raise ArchiveError(f"manifest spec.model.programs has no {missing[0]!r} program; this task calls {list(methods)}")
    return None, {method: load(str(archive_dir / programs[method]["file"])) for method in methods}


def _methods(instance: torch.nn.Module, section: Mapping[str, Any], methods: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    missing = [method for method in methods if not callable(getattr(instance, method, None))]
    if missing:
        raise ArchiveError(f"spec.model.class {section.get('class')!r} has no {missing[0]!r} method; this task calls "
                           f"{list(methods)} (docs/seq2seq.md)")
    return {method: getattr(instance, method) for method in methods}


def _load_program(archive_dir: Path, section: Mapping[str, Any], with_instance: bool, methods: tuple[str, ...]) -> LoadedModel:
    """The program where this worker can run it, else the fallback model (logged), else ArchiveError."""
    fmt, fallback = section["format"], section.get("fallback")
    unmet, load = PROGRAM_RUNTIMES[fmt]
    reason = unmet(section.get("requires") or {})
    if reason is None:
        try:
            forward, programs = _load_files(archive_dir, section, methods, load)
        except ArchiveError:
            raise
        except Exception as err:  # noqa: BLE001 -- AOTInductor and ONNX Runtime raise RuntimeError and others; the fallback serves
            reason = f"the {fmt} program of {section.get('file') or 'spec.model.programs'!r} failed to load ({type(err).__name__}: {err})"
        else:
            instance = instantiate(archive_dir, fallback) if with_instance and fallback and fallback.get("source") else None
            return LoadedModel(forward=forward, instance=instance, format=fmt, programs=programs)
    if not fallback:
        raise ArchiveError(f"{reason}; this archive ships no fallback model: rebuild it where it will be served")
    log.warning("not serving the %s program: %s; serving the %s model shipped beside it instead",
                fmt, reason, fallback.get("format"))
    return replace(load_model(archive_dir, fallback, with_instance, methods), fallback_reason=reason)


def instantiate(archive_dir: Path, section: Mapping[str, Any]) -> torch.nn.Module:
    """An instance of the source's class (eval mode, untrained weights), with its declared artifacts."""
    module = import_source(archive_dir / section["source"])
    cls = resolve_attribute(module, section["class"])
    build = getattr(cls, section["factory"]) if section.get("factory") else cls
    if not callable(build):
        raise ArchiveError(f"spec.model.class {section['class']!r} is a {type(build).__name__}, not a class or factory")
    kwargs = dict(section.get("kwargs") or {})
    if section.get("artifacts"):
        kwargs["artifacts"] = artifact_values(archive_dir, section["artifacts"])
    model = build(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise ArchiveError(f"spec.model.class {section['class']!r} built a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def artifact_values(archive_dir: Path, artifacts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Named artifacts as the model receives them: a file as its Path inside the archive, a value as is."""
    return {
        name: (archive_dir / entry["file"]) if "file" in entry else entry["value"]
        for name, entry in artifacts.items()
    }


def _load_weights(model: torch.nn.Module, archive_dir: Path, section: Mapping[str, Any]) -> None:
    state = load_file(str(archive_dir / section["weights"]), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ArchiveError(f"weights {section['weights']!r} do not fit {section['class']!r}: {err}") from err


def import_source(path: Path) -> ModuleType:
    """Import a ``.py`` file or a package directory by path, under a private name derived from its content.

    The name depends on the code, not on where the archive was unpacked, so programs converted from
    it (which record module names) come out the same on every build. The same code at another path
    is imported afresh under the same name."""
    path = path.resolve()
    code = path / "__init__.py" if path.is_dir() else path
    if not code.is_file():
        raise ArchiveError(f"model source {path.name!r} is not a Python file or package in the archive")
    name = f"_archive_model_{_content_hash(path)[:16]}"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(loaded.__file__ or "").resolve() == code:
        return loaded
    return import_path(path, name)


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*.py")) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path.parent).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def resolve_attribute(module: ModuleType, dotted: str) -> Any:
    """``"Net"`` or ``"submodule.Net"`` inside an imported source, importing submodules as needed."""
    target: Any = module
    for part in dotted.split("."):
        if not hasattr(target, part) and inspect.ismodule(target) and hasattr(target, "__path__"):  # a package: a submodule?
            name = f"{target.__name__}.{part}"
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name != name:  # the submodule exists and its own import failed
                    raise ArchiveError(f"spec.model.class {dotted!r}: importing {part!r} failed: {err}") from err
        if not hasattr(target, part):
            raise ArchiveError(f"spec.model.class {dotted!r}: no {part!r} in the model source")
        target = getattr(target, part)
    return target
