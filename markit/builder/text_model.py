"""Build time only: a Hugging Face encoder directory -> a program serving can run with torch alone,
plus the tokenizer settings the handler applies.

``transformers`` is imported here (at build) and never in a worker: the encoder's forward becomes a
torch.export (or TorchScript) program, or an AOTInductor-compiled one with the exported program beside
it as its fallback, checked against the original on the golden texts, tokenized by the run-time's own
``TextEncoder``. Defaults come from the model's own configuration files (sentence-transformers'
``sentence_bert_config.json``, ``1_Pooling/config.json``, ``modules.json``, then ``config.json``)
unless the spec sets them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from markit.core.loading import PROGRAM_RUNTIMES
from markit.core.manifest import file_sha256
from markit.tasks.common.text import TextEncoder, pad_batch

from .convert import PROGRAM_FILES, batch_dim, convert
from .errors import BuildError, SpecError

if TYPE_CHECKING:
    from .spec import Spec

__all__ = ["TokenEmbeddings", "stage_encoder", "stage_label_embeddings", "stage_text"]

TOKENIZER_FILE = "tokenizer/tokenizer.json"
POOLING_FLAGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}


class TokenEmbeddings(torch.nn.Module):
    """(input_ids, attention_mask) -> token embeddings (batch, seq, hidden)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def stage_text(spec: Spec, root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copy the tokenizer; return the manifest's ``tokenizer`` and ``text`` sections."""
    model_dir, text = spec.model.transformers, spec.settings.text
    (root / "tokenizer").mkdir()
    shutil.copyfile(text.tokenizer, root / TOKENIZER_FILE)
    max_length, source = (text.max_length, "spec") if text.max_length else _max_length(model_dir)
    tokenizer = {"file": TOKENIZER_FILE, "max_length": max_length, "max_length_from": source,
                 "pad_id": _pad_id(root / TOKENIZER_FILE), "sha256": file_sha256(root / TOKENIZER_FILE)}
    pooling = text.pooling or _pooling(model_dir)
    normalize = text.normalize if text.normalize is not None else _normalizes(model_dir)
    return tokenizer, {"pooling": pooling, "normalize": normalize}


def stage_encoder(spec: Spec, root: Path, tokenizer: dict[str, Any]) -> dict[str, Any]:
    """Convert the encoder on the golden texts; write model/model.pt2 (or .pt); return the model section."""
    try:
        from transformers import AutoModel
    except ImportError as err:
        raise BuildError("model.transformers needs the transformers package at build time (pip install transformers)") from err
    encoder = TextEncoder.from_manifest(root, tokenizer)
    texts = golden_texts(spec)
    batch = pad_batch([t.ids for t in encoder.encode(texts)], encoder.pad_id)
    original = TokenEmbeddings(AutoModel.from_pretrained(str(spec.model.transformers), local_files_only=True)).eval()
    (root / "model").mkdir()
    batch_size, sequence = batch_dim(), torch.export.Dim("sequence", min=2, max=tokenizer["max_length"])
    shapes = ({0: batch_size, 1: sequence}, {0: batch_size, 1: sequence})

    def program(fmt: str) -> dict[str, Any]:
        file = f"model/{PROGRAM_FILES[fmt]}"
        return convert(original, batch, fmt, root / file, spec.model.tolerance, dynamic=shapes).section(file, "transformers")

    if spec.model.format in PROGRAM_RUNTIMES:  # the exported program ships beside it, as its fallback
        return {**program(spec.model.format), "fallback": program("export")}
    return program(spec.model.format)


def stage_label_embeddings(spec: Spec, root: Path, section: dict[str, Any]) -> None:
    """Embed the zero-shot label descriptions with the staged program and tokenizer (the run-time's own
    code path), ship them as labels/label_embeddings.safetensors, and add labels + zero_shot to the section."""
    from safetensors.torch import save_file

    from markit.core.loading import load_model
    from markit.tasks.common.text import pool

    encoder = TextEncoder.from_manifest(root, section["tokenizer"])
    program = load_model(root, section["model"]).forward
    zero_shot, postprocess = spec.settings.zero_shot, spec.settings.postprocess
    names, descriptions = list(zero_shot.labels), list(zero_shot.labels.values())
    tokens = encoder.encode(descriptions)
    with torch.inference_mode():
        output = program(*pad_batch([t.ids for t in tokens], encoder.pad_id))
    text = section["text"]
    matrix = torch.stack([pool(row, len(t.ids), text["pooling"], text["normalize"]) for row, t in zip(output, tokens, strict=True)])
    (root / "labels").mkdir()
    save_file({"embeddings": matrix.contiguous()}, str(root / "labels" / "label_embeddings.safetensors"))
    (root / "index_to_name.json").write_text(json.dumps({str(i): n for i, n in enumerate(names)}, indent=1), encoding="utf-8")
    if postprocess.top_k > len(names):
        raise SpecError(f"postprocess.top_k: {postprocess.top_k} is more than the {len(names)} zero_shot labels")
    section["labels"] = {"file": "index_to_name.json", "count": len(names)}
    section["zero_shot"] = {"embeddings": "labels/label_embeddings.safetensors", "temperature": zero_shot.temperature,
                            "descriptions": dict(zero_shot.labels)}


def golden_texts(spec: Spec) -> list[str]:
    """The texts of the golden inputs (.json: a string or a list of strings; anything else: UTF-8 text)."""
    texts: list[str] = []
    for example in spec.golden:
        raw = example.input.read_text(encoding="utf-8")
        value = json.loads(raw) if example.input.suffix == ".json" else raw
        texts += value if isinstance(value, list) else [value]
    return texts


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _max_length(model_dir: Path) -> tuple[int, str]:
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("config.json", "max_position_embeddings")):
        value = (_read_json(model_dir / name) or {}).get(key)
        if isinstance(value, int) and value > 0:
            return value, f"{name}:{key}"
    raise SpecError("text.max_length: not set and not found in the model's sentence_bert_config.json or config.json")


def _pooling(model_dir: Path) -> str:
    config = _read_json(model_dir / "1_Pooling" / "config.json") or {}
    modes = [mode for flag, mode in POOLING_FLAGS.items() if config.get(flag)]
    if len(modes) != 1:
        raise SpecError("text.pooling: not set, and the model directory declares no single sentence-transformers "
                        "pooling (1_Pooling/config.json); set mean, cls or max")
    return modes[0]


def _normalizes(model_dir: Path) -> bool:
    modules = _read_json(model_dir / "modules.json") or []
    return any(str(module.get("type", "")).endswith(".Normalize") for module in modules)


def _pad_id(tokenizer_file: Path) -> int:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    if tokenizer.padding:
        return int(tokenizer.padding["pad_id"])
    for token in ("[PAD]", "<pad>"):
        if tokenizer.token_to_id(token) is not None:
            return int(tokenizer.token_to_id(token))
    raise SpecError(f"tokenizer: {tokenizer_file.name} defines no padding token ([PAD] or <pad>)")
