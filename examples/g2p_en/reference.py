"""g2p-en's own numpy decoder, run without importing g2p_en (its import downloads NLTK data).

The class ``G2p`` is read from the installed package's ``g2p.py`` and compiled with only the methods that
load the checkpoint and decode (``load_variables``, ``sigmoid``, ``grucell``, ``gru``, ``encode``,
``predict``) and its ``__init__`` without the lines that need NLTK (its CMUdict copy, the homograph table):
the original code, byte for byte, as the reference the port must reproduce.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CHECKPOINT", "original", "package_dir"]

CHECKPOINT = "checkpoint20.npz"
METHODS = {"__init__", "load_variables", "sigmoid", "grucell", "gru", "encode", "predict"}
NEEDS_NLTK = ("cmudict", "homograph")


def package_dir() -> Path:
    """Where pip installed g2p_en (``pip install --no-deps g2p-en==2.1.0``), found without importing it."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("g2p-en is not installed: ./scripts/setup.sh installs it (pip install --no-deps g2p-en==2.1.0)")
    return Path(next(iter(spec.submodule_search_locations)))


def original() -> Any:
    """An instance of g2p-en's ``G2p`` with its own checkpoint, vocabularies and ``predict``."""
    directory = package_dir()
    tree = ast.parse((directory / "g2p.py").read_text(encoding="utf-8"))
    [cls] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "G2p"]
    cls.body = [node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name in METHODS]
    for method in cls.body:
        if method.name == "__init__":
            method.body = [line for line in method.body if not any(word in ast.unparse(line) for word in NEEDS_NLTK)]
    namespace: dict[str, Any] = {"np": np, "os": __import__("os"), "dirname": str(directory)}
    exec(compile(ast.Module(body=[cls], type_ignores=[]), str(directory / "g2p.py"), "exec"), namespace)
    return namespace["G2p"]()
