"""Image bytes -> top-k labels, using the preprocessing and labels the archive declares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ...core.declared import Input
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import Payload, binary_input, parse_int_option
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput, top_k_outputs
from ..common.classification import Classification, top_k
from .manifest import ImageClassificationSpec

__all__ = ["Asked", "ImageClassifier"]


@dataclass(frozen=True)
class Asked:
    """What one request asked beside its image: how many labels (None: the archive's postprocess.top_k)."""

    top_k: int | None = None


class ImageClassifier(TaskHandler):
    """Accepts a raw image body, a multipart field ``image``/``data``, or ``{"image": base64}`` JSON;
    optional ``top_k`` (query string, form field or JSON key) up to the archive's ``postprocess.top_k``."""

    task = "image_classification"
    input_kind = "image"
    answer_fields: ClassVar[Mapping[str, str]] = {"predictions": "json", "model": "json"}
    takes = (Input("image", "BYTES", (), "an image file's bytes: PNG, JPEG, WebP, ..."),
             Input("top_k", "INT32", (), "how many labels, 1 to the archive's postprocess.top_k", required=False))

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: ImageClassificationSpec = archive.spec
        self.preprocessing = spec.preprocess
        self.rule = Classification.of(archive.labels(), spec.postprocess)

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[Asked]:
        found = binary_input(payload, data_keys=("image",), option_keys=("top_k",))
        asked = Asked()
        if "top_k" in found.options:
            limit = self.rule.top_k
            asked = Asked(parse_int_option("top_k", found.options["top_k"], 1, limit, f"this model's postprocess.top_k is {limit}"))
        return Decoded(tensor=self.preprocessing.apply(found.data, self.budgets.pixels), detail=asked)

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        return top_k_outputs(self.rule.top_k)

    def postprocess(self, output: torch.Tensor, item: Decoded[Asked]) -> dict[str, Any]:
        return {"predictions": top_k(output, self.rule, item.detail.top_k), "model": self.archive.summary}


HANDLER = ImageClassifier  # the task's one handler class, found by markit.tasks.handler_class
