"""Converting an eager model to TorchScript, torch.export, an AOTInductor package or ONNX, and proving
the conversion changed nothing.

The example batch is what the packed handler itself makes of the golden inputs (its own decode and
preprocess), so the converted program is traced on real inputs. The conversion is refused when
any output differs from the eager model's by more than ``model.tolerance``, on the whole golden
batch and on its first input alone (a program that only works for one batch size is refused too).

``aoti`` exports the model (dynamic batch dimension) and compiles it ahead of time to native code
with AOTInductor. It is compiled for a portable instruction set rather than the build machine's own
(``-march=native`` would tie the archive to this CPU model): on x86-64, the x86-64-v3 level with
256-bit vectors, which every AVX2 CPU runs. ``Conversion.requires`` records what the program needs.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from markit.core.compiled import load_package
from markit.core.compiled import target as machine_target
from markit.core.onnx_program import RUNTIME, OnnxProgram, runtime_version

from .errors import BuildError, VerificationError

__all__ = ["PROGRAM_FILES", "Conversion", "batch_dim", "compare_outputs", "convert", "load_program", "portable_target"]

MAX_BATCH = 1024
PROGRAM_FILES = {"torchscript": "model.pt", "export": "model.pt2", "aoti": "model.aoti.pt2", "onnx": "model.onnx"}
PRIVATE_MODULE = re.compile(r"_archive_model_[0-9a-f]+")


@dataclass(frozen=True)
class Conversion:
    format: str
    max_abs_diff: float
    tolerance: float
    examples: int
    requires: dict[str, str] | None = None  # aoti: the torch release and CPU it needs; onnx: the onnxruntime release

    def record(self, origin: str = "eager") -> dict:
        return {"from": origin, "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance, "examples": self.examples}

    def section(self, file: str, origin: str = "eager") -> dict:
        """The manifest's ``spec.model`` keys for the converted program (aoti, onnx: with what it requires)."""
        keys = {"format": self.format, "file": file, "conversion": self.record(origin)}
        if self.requires:
            keys["requires"] = dict(self.requires)
        return keys


def batch_dim() -> torch.export.Dim:
    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def convert(eager: torch.nn.Module, batch: torch.Tensor | tuple[torch.Tensor, ...], fmt: str, target: Path, tolerance: float,
            dynamic: tuple[dict[int, torch.export.Dim], ...] | None = None) -> Conversion:
    """Write ``eager`` as ``fmt`` to ``target`` and check it against the eager outputs on ``batch``.

    ``batch`` is one input tensor or a tuple of them (passed as arguments); ``dynamic`` gives each
    input's dynamic dimensions for torch.export (default: dimension 0 of every input, the batch)."""
    inputs = batch if isinstance(batch, tuple) else (batch,)
    requires: dict[str, str] | None = None  # aoti and onnx only
    if dynamic is None:
        shared = batch_dim()
        dynamic = tuple({0: shared} for _ in inputs)
    eager = eager.eval()
    traced_on = tuple(x if x.shape[0] >= 2 else torch.cat([x, x]) for x in inputs)  # batch size 1 would be specialised
    try:
        with torch.inference_mode(False), torch.no_grad():
            if fmt == "torchscript":
                torch.jit.trace(eager, traced_on, check_trace=False).save(str(target))
                _drop_debug_info(target)
            elif fmt == "export":
                program = torch.export.export(eager, traced_on, dynamic_shapes=dynamic)
                torch.export.save(_without_build_paths(program), str(target))
            elif fmt == "aoti":
                requires = _compile(torch.export.export(eager, traced_on, dynamic_shapes=dynamic), target)
            elif fmt == "onnx":
                requires = _export_onnx(eager, traced_on, dynamic, target)
            else:
                raise BuildError(f"model.format: cannot convert to {fmt!r}")
    except BuildError:
        raise
    except Exception as err:  # tracing/export/compile failures come in many types
        raise BuildError(f"model.format: converting to {fmt} failed: {type(err).__name__}: {err}") from err
    converted = load_program(fmt, target)
    first = tuple(x[:1] for x in inputs)
    diff = max(compare_outputs(eager, converted, inputs), compare_outputs(eager, converted, first))
    if diff > tolerance:
        target.unlink()
        raise VerificationError(
            f"the {fmt} conversion differs from the eager model by {diff:.3g} on the golden inputs, more than "
            f"model.tolerance {tolerance:g}; not shipping it (ship format: eager, or fix the model)"
        )
    return Conversion(format=fmt, max_abs_diff=diff, tolerance=tolerance, examples=int(inputs[0].shape[0]), requires=requires)


def portable_target() -> tuple[dict[str, object], dict[str, str]]:
    """Inductor options for a portable build on this machine, and the ``requires`` record they mean."""
    here = machine_target()
    if here["machine"] == "x86_64" and here["cpu_capability"] in ("AVX2", "AVX512"):
        return {"cpp.march": "x86-64-v3", "cpp.simdlen": 256}, {**here, "cpu_capability": "AVX2"}
    return {}, here  # elsewhere: this machine's own instruction set, required exactly


def _compile(program: torch.export.ExportedProgram, target_path: Path) -> dict[str, str]:
    options, requires = portable_target()
    with torch._inductor.config.patch(options):
        torch._inductor.aoti_compile_and_package(_without_build_paths(program), package_path=str(target_path))
    _drop_debug_info(target_path)
    return requires


def _export_onnx(eager: torch.nn.Module, inputs: tuple[torch.Tensor, ...], dynamic: tuple[dict[int, torch.export.Dim], ...],
                 target: Path) -> dict[str, str]:
    try:
        import onnx  # build time only (with onnxscript, which the exporter imports); onnxruntime alone runs the result
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise BuildError(f"model.format onnx: exporting needs {err.name}: pip install 'markit[export]'") from err
    installed = runtime_version()
    if installed is None:
        raise BuildError(f"model.format onnx: the build checks the program as {RUNTIME} runs it; pip install {RUNTIME}")
    with _quiet_exporter():
        torch.onnx.export(eager, inputs, str(target), dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False)
    model = onnx.load(str(target))
    for props in (model.graph.metadata_props, *(node.metadata_props for node in model.graph.node)):
        del props[:]  # stack traces with build paths, FX node dumps: debug only, and not reproducible
    onnx.save(model, str(target))
    return {RUNTIME: installed}


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs a warning for each torchvision operator it cannot register when torchvision is
    absent (always beside this project's torch); none is about the user's model."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        yield
    finally:
        registration.setLevel(level)


def load_program(fmt: str, path: Path) -> Callable[..., Any]:
    """The converted program at ``path`` as the build checks it (and as a worker runs it)."""
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    if fmt == "aoti":
        return load_package(str(path))
    if fmt == "onnx":
        return OnnxProgram(str(path))
    return torch.export.load(str(path)).module()


def _without_build_paths(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Drop debug metadata that names the build's temporary directory (source stack traces, the private
    module name derived from that path), so the same inputs give the same bytes, hence the same identity."""
    for node in program.graph.nodes:
        node.meta.pop("stack_trace", None)
        stack = node.meta.get("nn_module_stack")
        if stack:
            node.meta["nn_module_stack"] = {
                key: (path, PRIVATE_MODULE.sub("_archive_model", kind) if isinstance(kind, str) else kind)
                for key, (path, kind) in stack.items()
            }
    return program


def _drop_debug_info(target: Path) -> None:
    """TorchScript's *.debug_pkl records source file paths (the build's temporary directory) and
    .data/serialization_id is random per save; loading needs neither, and without them the same inputs
    give the same bytes (in a fresh process: TorchScript renames a class it has already compiled;
    a compiled AOTInductor library is not byte-for-byte reproducible at all)."""
    with zipfile.ZipFile(target) as original:
        entries = [(info, original.read(info)) for info in original.infolist()
                   if not info.filename.endswith((".debug_pkl", ".data/serialization_id"))]
    with zipfile.ZipFile(target, "w") as rewritten:
        for info, data in entries:
            rewritten.writestr(info, data)


def compare_outputs(eager: torch.nn.Module, converted: Callable[..., Any], inputs: tuple[torch.Tensor, ...]) -> float:
    """Largest absolute difference between the two models' outputs on ``inputs`` (a tensor, or a tuple of
    tensors compared one by one)."""
    with torch.no_grad():
        expected, actual = eager(*inputs), converted(*inputs)
    expected_parts = tuple(expected) if isinstance(expected, (tuple, list)) else (expected,)
    actual_parts = tuple(actual) if isinstance(actual, (tuple, list)) else (actual,)
    if len(actual_parts) != len(expected_parts) or not all(
            isinstance(a, torch.Tensor) and a.shape == e.shape for a, e in zip(actual_parts, expected_parts, strict=True)):
        raise VerificationError(f"the converted model returned {_shapes(actual)}, the eager model {_shapes(expected)}")
    return max(float((e.float() - a.float()).abs().max()) for e, a in zip(expected_parts, actual_parts, strict=True))


def _shapes(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(_shapes(part) for part in value)
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
