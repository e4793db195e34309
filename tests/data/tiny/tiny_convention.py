"""Tiny convention models for the tests: real nn.Modules that bring their own preprocess/postprocess."""

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Scorer(nn.Module):
    """Input: a JSON list of 4 numbers (or their UTF-8 text), or a v2 row of 4 (a numpy array). Output: {"score", "scale"}."""

    v2_inputs = ({"name": "x", "datatype": "FP32", "shape": [4], "description": "4 numbers"},)

    def __init__(self, artifacts, offset: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.scale = json.loads(Path(artifacts["scale"]).read_text())["scale"]
        self.label = artifacts["label"]
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.offset

    def preprocess(self, raw):
        if isinstance(raw, bytes):
            raw = json.loads(raw.decode("utf-8"))  # a JSONDecodeError is a ValueError: the client's fault
        if isinstance(raw, str) and raw == "crash":
            raise RuntimeError("a bug in preprocess")  # not a ValueError: the handler's 500
        if not isinstance(raw, (list, np.ndarray)) or len(raw) != 4:
            raise ValueError(f"expected a list of 4 numbers, got {raw!r}")
        return torch.tensor(raw, dtype=torch.float32) * self.scale

    def postprocess(self, row: torch.Tensor) -> dict:
        return {"score": round(float(row[0]), 6), "label": self.label}


class BatchSensitive(Scorer):
    """Answers differently for a batch of one: tracing bakes in one branch, which the builder must catch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return out * 2 if x.shape[0] > 1 else out


class NoPostprocess(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(x)

    def preprocess(self, raw):
        return torch.tensor(raw, dtype=torch.float32)
