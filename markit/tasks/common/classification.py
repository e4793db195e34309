"""Pure postprocessing for classifiers: logits -> top-k ``{label, index, probability}`` above a threshold; the
manifest sections it reads (``labels``, ``postprocess``), shared by the classification tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from pydantic import Field

from ...core.errors import ArchiveError
from ...core.section import Section

__all__ = ["Classification", "Labels", "Postprocess", "some_labels", "top_k"]


class Labels(Section):
    """The archive's labels file (``index_to_name.json``: {"0": label, ...}) and how many it holds."""

    file: str
    count: Annotated[int, Field(ge=1)]


class Postprocess(Section):
    """How logits become an answer: the ``top_k`` most probable labels whose probability reaches ``threshold``."""

    top_k: Annotated[int, Field(ge=1, description="the most labels an answer holds; a request may ask for fewer")] = 5
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.0


@dataclass(frozen=True)
class Classification:
    """What the archive declares about turning logits into answers (``spec.postprocess`` + labels)."""

    labels: tuple[str, ...]
    top_k: int
    threshold: float = 0.0

    @classmethod
    def of(cls, labels: Sequence[str], postprocess: Postprocess) -> Classification:
        return cls(labels=tuple(labels), top_k=postprocess.top_k, threshold=postprocess.threshold)


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


def some_labels(labels: Sequence[str], count: int = 8) -> str:
    """The first ``count`` labels, quoted, for a message that names what a request may ask for."""
    shown = ", ".join(repr(label) for label in labels[:count])
    return shown + (f", ... {len(labels)} in all" if len(labels) > count else "")
