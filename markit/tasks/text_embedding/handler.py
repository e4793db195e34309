"""Text -> sentence embedding, with the archive's own tokenizer, pooling and normalization.

A request is ``text/plain``, a JSON string, or a JSON list of strings. A single text answers
``{"embedding": [...], "tokens": n, "truncated": bool}``; a list of N texts answers, in order,
``{"embeddings": [[...] x N], "tokens": [...], "truncated": [...]}``. ``truncated`` says that the
text was longer than the archive's ``tokenizer.max_length`` tokens and only its start was embedded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from ...core.declared import Input
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import Payload, text_input
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput
from ..common.text import TextEncoder, Tokenized, pad_batch, pool
from .manifest import TextEmbeddingSpec

__all__ = ["TextEmbedder"]

DECIMALS = 6


class TextEmbedder(TaskHandler):
    task = "text_embedding"
    input_kind = "text"
    answer_fields: ClassVar[Mapping[str, str]] = {"embedding": "json", "tokens": "json", "truncated": "json", "model": "json"}
    takes = (Input("text", "BYTES", (), "one text, UTF-8"),)

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: TextEmbeddingSpec = archive.spec
        self.encoder = TextEncoder.of(archive.directory, spec.tokenizer)
        self.pooling, self.normalize = spec.text.pooling, spec.text.normalize

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[tuple[Tokenized, ...]]:
        texts, single = text_input(payload, self.budgets)
        return Decoded(detail=tuple(self.encoder.encode(texts)), rows=None if single else len(texts))

    def preprocess(self, items: Sequence[Decoded[tuple[Tokenized, ...]]]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch([t.ids for item in items for t in item.detail], self.encoder.pad_id)

    def embed(self, output: torch.Tensor, item: Decoded[tuple[Tokenized, ...]]) -> list[torch.Tensor]:
        rows = [output] if item.rows is None else list(output)
        return [pool(row, len(t.ids), self.pooling, self.normalize) for row, t in zip(rows, item.detail, strict=True)]

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        return (TypedOutput("embedding", "FP32", (-1,), lambda answer: answer["embedding"]),)

    def postprocess(self, output: torch.Tensor, item: Decoded[tuple[Tokenized, ...]]) -> dict[str, Any]:
        vectors = [[round(v, DECIMALS) for v in vector.tolist()] for vector in self.embed(output, item)]
        tokens = item.detail
        if item.rows is None:
            return {"embedding": vectors[0], "tokens": len(tokens[0].ids), "truncated": tokens[0].truncated,
                    "model": self.archive.summary}
        return {"embeddings": vectors, "tokens": [len(t.ids) for t in tokens], "truncated": [t.truncated for t in tokens],
                "model": self.archive.summary}


HANDLER = TextEmbedder  # the task's one handler class, found by markit.tasks.handler_class
