"""An ONNX program run by ONNX Runtime, called like the torch programs the handlers hold.

ONNX Runtime is what makes ``format: onnx`` fast on CPU (EfficientNet-Lite0 at one thread: 1.6x the
AOTInductor package, ``python -m benchmarks.image_model``). It is an optional dependency of the
worker: the archive records the release it was verified with (``spec.model.requires``) and ships the
model it was exported from as its fallback, so a worker without onnxruntime, or with an older one,
still serves (``markit.core.loading``).

The session uses this process's torch thread count (the archive's ``serving.torch_threads``, set
before the model loads) for its own intra-op threads, and never spins waiting for work, so a
worker's threads do not take cores from the other workers between batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["RUNTIME", "OnnxProgram", "runtime_version", "unmet_requirement"]

RUNTIME = "onnxruntime"


def runtime_version() -> str | None:
    """The installed onnxruntime release, or None when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def unmet_requirement(requires: Mapping[str, Any], installed: str | None = None) -> str | None:
    """None when this worker has an onnxruntime at least as new as the one the archive was verified with."""
    installed = installed if installed is not None else runtime_version()
    needed = str(requires.get(RUNTIME))
    if installed is None:
        return f"the ONNX program needs {RUNTIME} {needed} or newer, which this worker does not have installed"
    if _release(installed) < _release(needed):
        return f"the ONNX program was verified with {RUNTIME} {needed}, this worker has {installed}"
    return None


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("+", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class OnnxProgram:
    """``program(*tensors)`` -> a tensor (or a tuple of them, for several outputs), on the CPU."""

    def __init__(self, path: str, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its warnings about unused initializers are not the user's
        self._session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self._inputs = [node.name for node in self._session.get_inputs()]
        self.threads = options.intra_op_num_threads

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(inputs) != len(self._inputs):
            raise TypeError(f"the ONNX program takes {len(self._inputs)} input(s) {self._inputs}, got {len(inputs)}")
        feed = {name: np.ascontiguousarray(x.detach().cpu().numpy()) for name, x in zip(self._inputs, inputs, strict=True)}
        outputs = [torch.from_numpy(array) for array in self._session.run(None, feed)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
