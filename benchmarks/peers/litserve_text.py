"""LitServe serving a text-embedding archive's torch.export program, with the archive's own tokenizer and pooling.

Run by the LitServe venv's python (``benchmarks/litserve_peer.py`` starts it)::

    python litserve_text.py --archive-dir DIR --port 8000 --workers 1 --batch-size 16 --batch-timeout-ms 10

``DIR`` is the unpacked archive: ``manifest.json`` names the exported program (the model itself, or the fallback
beside an AOTInductor package), the tokenizer file, its max length and pad id, the pooling, the normalization and
torch_threads. A request is a JSON string (the text); the answer ``{"embedding": [...]}``. Texts of a batch are
padded to the longest one. The API key is LitServe's own: ``LIT_SERVER_API_KEY``, sent as ``X-API-Key``.
"""

from __future__ import annotations

import json
from pathlib import Path

import litserve as ls
import torch
from fastapi import HTTPException
from litserve_main import serve
from tokenizers import Tokenizer


class TextEmbeddingAPI(ls.LitAPI):
    def __init__(self, archive_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.archive_dir = Path(archive_dir)

    def setup(self, device: str) -> None:
        spec = json.loads((self.archive_dir / "manifest.json").read_text(encoding="utf-8"))["spec"]
        torch.set_num_threads(spec["serving"]["torch_threads"])
        model = spec["model"] if spec["model"]["format"] == "export" else spec["model"].get("fallback", {})
        if model.get("format") != "export":
            raise ValueError("the archive ships no torch.export program (spec.model or spec.model.fallback)")
        self.model = torch.export.load(str(self.archive_dir / model["file"])).module()
        section = spec["tokenizer"]
        self.tokenizer = Tokenizer.from_file(str(self.archive_dir / section["file"]))
        self.tokenizer.enable_truncation(section["max_length"])
        self.tokenizer.enable_padding(pad_id=section["pad_id"])  # to the longest text of the batch
        self.pooling, self.normalize = spec["text"]["pooling"], spec["text"]["normalize"]

    def decode_request(self, request) -> str:  # unannotated: LitServe reads an annotation as the request type
        if not isinstance(request, str):
            raise HTTPException(status_code=400, detail="send the text as a JSON string")
        return request

    def predict(self, texts: str | list[str]) -> torch.Tensor:
        single = isinstance(texts, str)  # max_batch_size 1: one text
        encodings = self.tokenizer.encode_batch([texts] if single else list(texts))
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        with torch.inference_mode():
            vectors = self._pool(self.model(ids, mask), mask)
        return vectors[0] if single else vectors

    def _pool(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            vectors = tokens[:, 0]
        elif self.pooling == "max":
            vectors = tokens.masked_fill(mask[..., None] == 0, float("-inf")).max(dim=1).values
        else:
            weights = mask[..., None].to(tokens.dtype)
            vectors = (tokens * weights).sum(dim=1) / weights.sum(dim=1)
        return torch.nn.functional.normalize(vectors, dim=-1) if self.normalize else vectors

    def encode_response(self, vector: torch.Tensor) -> dict:
        return {"embedding": vector.tolist()}


def main() -> None:
    serve(TextEmbeddingAPI, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
