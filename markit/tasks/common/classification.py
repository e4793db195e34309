"""Pure postprocessing for classifiers: logits -> top-k ``{label, index, probability}`` above a threshold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...core.errors import ArchiveError

__all__ = ["Classification", "top_k"]


@dataclass(frozen=True)
class Classification:
    """What the archive declares about turning logits into answers (``spec.postprocess`` + labels)."""

    labels: tuple[str, ...]
    top_k: int
    threshold: float = 0.0

    @classmethod
    def from_manifest(cls, section: Mapping[str, Any], labels: Sequence[str]) -> Classification:
        try:
            return cls(labels=tuple(labels), top_k=int(section["top_k"]), threshold=float(section.get("threshold", 0.0)))
        except (KeyError, TypeError, ValueError) as err:
            raise ArchiveError(f"manifest spec.postprocess is invalid: {err!r}") from err


def top_k(logits: torch.Tensor, rule: Classification, k: int | None = None) -> list[dict[str, Any]]:
    """One row of logits -> the ``k`` most probable labels whose probability reaches the threshold."""
    if logits.ndim != 1 or logits.shape[0] != len(rule.labels):
        scores = logits.shape[0] if logits.ndim == 1 else tuple(logits.shape)
        raise ArchiveError(
            f"the model returned {scores} scores per input but the archive has "
            f"{len(rule.labels)} labels: labels and model do not match"
        )
    probabilities = torch.softmax(logits.float(), dim=0)
    count = min(k or rule.top_k, rule.top_k, len(rule.labels))
    values, indices = torch.topk(probabilities, count)
    return [
        {"label": rule.labels[i], "index": i, "probability": round(p, 6)}
        for p, i in zip(values.tolist(), indices.tolist(), strict=True)
        if p >= rule.threshold
    ]
