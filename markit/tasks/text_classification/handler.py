"""Text -> labels by similarity to label descriptions embedded at build (zero-shot classification).

Each text is embedded like ``text_embedding`` does; its cosine similarity to every label's
description embedding (shipped in the archive) divided by ``zero_shot.temperature`` gives the
logits, and softmax -> top-k above the threshold gives ``{label, index, probability, similarity}``.
A single text answers ``{"predictions": [...]}``; a list of N texts answers
``{"results": [{"predictions": [...]}, ...]}`` in order.
"""

from __future__ import annotations

from typing import Any

import torch
from safetensors.torch import load_file

from ...core.errors import ArchiveError
from ...core.handler import Decoded
from ...core.loading import LoadedModel
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput, top_k_outputs
from ..common.classification import Classification, top_k
from ..text_embedding.handler import TextEmbedder

__all__ = ["TextClassifier"]


class TextClassifier(TextEmbedder):
    task = "text_classification"

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        zero_shot = archive.spec["zero_shot"]
        self.rule = Classification.from_manifest(archive.spec["postprocess"], archive.labels())
        try:
            self.label_embeddings = load_file(str(archive.directory / zero_shot["embeddings"]))["embeddings"]
            self.temperature = float(zero_shot["temperature"])
        except (KeyError, OSError, ValueError) as err:
            raise ArchiveError(f"manifest spec.zero_shot is unusable: {err!r}") from err
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
