"""The ``echo`` task at run time: mounted as ``markit.tasks.echo`` at build, copied into the archive's tasks."""

from __future__ import annotations

from typing import Any

import torch

from ...core.errors import BadInput
from ...core.handler import Decoded, TaskHandler
from ...core.payload import decode_json_bytes


class EchoHandler(TaskHandler):
    task = "echo"

    def decode(self, payload: Any, metrics: Any) -> Decoded:
        name = next(iter(payload.fields), "body")
        value = decode_json_bytes(name, payload.fields.get(name), payload.content_types.get(name, ""))
        if not isinstance(value, list) or len(value) != 4 or not all(isinstance(x, (int, float)) for x in value):
            raise BadInput(f"expected a JSON list of 4 numbers, got {str(value)[:40]!r}")
        return Decoded(torch.tensor(value, dtype=torch.float32))

    def postprocess(self, output: torch.Tensor, item: Decoded) -> Any:
        return {"score": round(float(output[0]), 6), "reply": self.archive.spec.echo.reply}


HANDLER = EchoHandler
