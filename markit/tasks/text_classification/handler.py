"""Text -> labels by similarity to label descriptions embedded at build (zero-shot classification).

Each text is embedded like ``text_embedding`` does; its cosine similarity to every label's
description embedding (shipped in the archive) divided by ``zero_shot.temperature`` gives the
logits, and softmax -> top-k above the threshold gives ``{label, index, probability, similarity}``.
A single text answers ``{"predictions": [...]}``; a list of N texts answers
``{"results": [{"predictions": [...]}, ...]}`` in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file

from ...core.errors import ArchiveError
from ...core.handler import Decoded
from ...core.loading import LoadedModel
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput, top_k_outputs
from ..common.classification import Classification, top_k
from ..text_embedding.handler import TextEmbedder
from .manifest import TextClassificationSpec

__all__ = ["TextClassifier"]


class TextClassifier(TextEmbedder):
    task = "text_classification"
    answer_fields: ClassVar[Mapping[str, str]] = {"predictions": "json", "model": "json"}

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: TextClassificationSpec = archive.spec
        self.rule = Classification.of(archive.labels(), spec.postprocess)
        try:
            self.label_embeddings = load_file(str(archive.directory / spec.zero_shot.embeddings))["embeddings"]
        except (KeyError, OSError, ValueError) as err:
            raise ArchiveError(f"manifest spec.zero_shot.embeddings is unusable: {err!r}") from err
        self.temperature = spec.zero_shot.temperature
        if self.label_embeddings.shape[0] != len(self.rule.labels):
            raise ArchiveError(f"{self.label_embeddings.shape[0]} label embeddings for {len(self.rule.labels)} labels")

    def classify(self, vector: torch.Tensor) -> list[dict[str, Any]]:
        similarity = self.label_embeddings @ vector
        predictions = top_k(similarity / self.temperature, self.rule)
        return [{**p, "similarity": round(float(similarity[p["index"]]), 6)} for p in predictions]

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        return top_k_outputs(self.rule.top_k)

    def postprocess(self, output: torch.Tensor, item: Decoded) -> dict[str, Any]:
        results = [{"predictions": self.classify(vector)} for vector in self.embed(output, item)]
        if item.rows is None:
            return {**results[0], "model": self.archive.summary}
        return {"results": results, "model": self.archive.summary}


HANDLER = TextClassifier  # the task's one handler class, found by markit.tasks.handler_class
