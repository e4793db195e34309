"""Converting an eager model to TorchScript or torch.export, and proving the conversion changed nothing.

The example batch is what the packed handler itself makes of the golden inputs (its own decode and
preprocess), so the converted program is traced on real inputs. The conversion is refused when
any output differs from the eager model's by more than ``model.tolerance``, on the whole golden
batch and on its first input alone (a program that only works for one batch size is refused too).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import BuildError, VerificationError

__all__ = ["Conversion", "compare_outputs", "convert"]

MAX_BATCH = 1024


@dataclass(frozen=True)
class Conversion:
    format: str
    max_abs_diff: float
    tolerance: float
    examples: int

    def record(self) -> dict:
        return {"from": "eager", "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance, "examples": self.examples}


def convert(eager: torch.nn.Module, batch: torch.Tensor, fmt: str, target: Path, tolerance: float) -> Conversion:
    """Write ``eager`` as ``fmt`` to ``target`` and check it against the eager outputs on ``batch``."""
    eager = eager.eval()
    trace_batch = batch if batch.shape[0] >= 2 else torch.cat([batch, batch])  # batch size 1 would be specialised
    try:
        with torch.inference_mode(False), torch.no_grad():
            if fmt == "torchscript":
                torch.jit.trace(eager, trace_batch, check_trace=False).save(str(target))
            elif fmt == "export":
                batch_dim = torch.export.Dim("batch", min=1, max=MAX_BATCH)
                program = torch.export.export(eager, (trace_batch,), dynamic_shapes=({0: batch_dim},))
                torch.export.save(program, str(target))
            else:
                raise BuildError(f"model.format: cannot convert to {fmt!r}")
    except BuildError:
        raise
    except Exception as err:  # tracing/export failures come in many types
        raise BuildError(f"model.format: converting to {fmt} failed: {type(err).__name__}: {err}") from err
    converted = torch.jit.load(str(target)) if fmt == "torchscript" else torch.export.load(str(target)).module()
    diff = max(compare_outputs(eager, converted, batch), compare_outputs(eager, converted, batch[:1]))
    if diff > tolerance:
        target.unlink()
        raise VerificationError(
            f"the {fmt} conversion differs from the eager model by {diff:.3g} on the golden inputs, more than "
            f"model.tolerance {tolerance:g}; not shipping it (ship format: eager, or fix the model)"
        )
    return Conversion(format=fmt, max_abs_diff=diff, tolerance=tolerance, examples=int(batch.shape[0]))


def compare_outputs(eager: torch.nn.Module, converted: torch.nn.Module, batch: torch.Tensor) -> float:
    """Largest absolute difference between the two models' outputs on ``batch``."""
    with torch.no_grad():
        expected, actual = eager(batch), converted(batch)
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        shape = tuple(actual.shape) if isinstance(actual, torch.Tensor) else type(actual).__name__
        raise VerificationError(f"the converted model returned {shape}, the eager model {tuple(expected.shape)}")
    return float((expected.float() - actual.float()).abs().max())
