"""Building a digit model's archive once it is trained: its spec with what training measured set through
overrides (the normalization, the held-out figure, the golden pages and the model's answers on them).
Shared by digit_boxes/train.py and digit_segments/train.py (which loads it by path)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from markit.builder import build_archive

__all__ = ["build_into"]


def build_into(spec: Path, store: Path, build: Path, golden: Sequence[Mapping[str, Any]], metadata: Mapping[str, Any]) -> Path:
    """Build ``spec`` into ``store``; ``build`` must be the spec's own ``build/`` (its files are referenced from
    there); ``golden``: ``{input (a file of build/golden), expected, tolerance}``."""
    if build.resolve() != (spec.parent / "build").resolve():
        raise SystemExit(f"--store builds from {spec.parent / 'build'}: train with the default --output to build an archive")
    normalization = json.loads((build / "normalization.json").read_text(encoding="utf-8"))
    examples = [{**example, "input": f"build/golden/{example['input']}"} for example in golden]
    overrides = [f"preprocess.mean=[{normalization['mean']}]", f"preprocess.std=[{normalization['std']}]",
                 "golden=" + json.dumps(examples), *(f"metadata.{key}={json.dumps(value)}" for key, value in metadata.items())]
    result = build_archive(spec, store, progress=lambda _: None, overrides=overrides)
    print(f"built {result.path} ({result.manifest['spec']['model']['format']}) identity {result.manifest['identity'][:19]}…")
    return result.path
