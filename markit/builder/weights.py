"""Turning a state_dict file (.pth/.pt/.bin or .safetensors) into the archive's safetensors weights.

PyTorch checkpoints are read with ``torch.load(weights_only=True)``, which refuses arbitrary
pickled objects; the archive then only carries safetensors, which cannot execute code at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file

from .errors import BuildError

__all__ = ["write_safetensors"]


def write_safetensors(source: Path, target: Path) -> None:
    """Copy or convert ``source`` to ``target`` (safetensors); BuildError if it is not a state_dict."""
    if source.suffix == ".safetensors":
        shutil.copyfile(source, target)
        return
    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad or unsafe pickle
        raise BuildError(f"model.weights: {source} cannot be loaded as plain tensors (weights_only=True): {err}") from err
    state = loaded.get("state_dict", loaded) if isinstance(loaded, Mapping) else loaded
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BuildError(f"model.weights: {source} does not hold a state_dict (a mapping of names to tensors)")
    # clone: tied or sliced tensors share storage, which safetensors refuses to write
    save_file({name: tensor.detach().clone().contiguous() for name, tensor in state.items()}, str(target))
