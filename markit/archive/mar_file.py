"""What a built .mar declares about serving it, read from the archive in one pass.

TorchServe's ``MAR-INF/MANIFEST.json`` names the model, its version, runtime and the
``model-config.yaml`` holding workers and batching; this project's ``manifest.json`` holds the
spec's ``serving.torch_threads``. The KServe layout and the capacity check both start here.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .zip_layout import MarFileError, check_layout

__all__ = ["SERVING_SETTINGS", "MarFileError", "MarInfo", "read_mar"]

# model-config.yaml keys TorchServe's snapshot restore requires (ModelManager.registerAndUpdateModel)
SERVING_SETTINGS = ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout")


@dataclass(frozen=True)
class MarInfo:
    name: str  # MANIFEST.json model.modelName
    version: str  # MANIFEST.json model.modelVersion ("1.0" if absent)
    mar_name: str  # the archive's file name
    runtime: str  # MANIFEST.json runtime ("python" if absent)
    settings: dict[str, int]  # SERVING_SETTINGS from model-config.yaml
    torch_threads: int  # manifest.json spec.serving.torch_threads (1 if absent)
    model_format: str = "eager"  # manifest.json spec.model.format; "none" for a pipeline (its steps have theirs)

    def serving_summary(self) -> str:
        """``workers 2, batch 4, delay 5 ms, timeout 60 s`` (``workers 1-3`` when min and max differ)."""
        low, high, settings = self.settings["minWorkers"], self.settings["maxWorkers"], self.settings
        workers = str(high) if low == high else f"{low}-{high}"
        return (f"workers {workers}, batch {settings['batchSize']}, delay {settings['maxBatchDelay']} ms, "
                f"timeout {settings['responseTimeout']} s")


def read_mar(path: Path) -> MarInfo:
    """Name, version, runtime, serving settings and torch threads of the .mar at ``path``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            check_layout(handle, path.name)  # every reader of a .mar refuses one whose two readings differ
            archive = zipfile.ZipFile(handle)  # on the open file: closed with it
            manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
            config_file = manifest["model"].get("configFile")
            config = yaml.safe_load(archive.read(config_file)) if config_file else None
            ours = json.loads(archive.read("manifest.json")) if "manifest.json" in archive.namelist() else {}
            name = manifest["model"]["modelName"]
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, yaml.YAMLError) as err:
        raise MarFileError(f"{path.name}: not a readable model archive: {type(err).__name__}: {err}") from err
    if config_file is None:
        raise MarFileError(f"{path.name}: MANIFEST.json names no model-config.yaml (configFile), which holds its workers "
                           "and batching; build archives with scripts/build_mar.sh")
    missing = [key for key in SERVING_SETTINGS if not isinstance((config or {}).get(key), int)]
    if missing:
        raise MarFileError(f"{path.name}: {config_file} has no integer {', '.join(missing)}; set them in the spec's serving")
    threads = ours.get("spec", {}).get("serving", {}).get("torch_threads", 1)
    return MarInfo(name=name, version=str(manifest["model"].get("modelVersion") or "1.0"), mar_name=path.name,
                       runtime=manifest.get("runtime", "python"), settings={key: config[key] for key in SERVING_SETTINGS},
                       torch_threads=int(threads), model_format=_model_format(ours.get("spec", {})))


def _model_format(spec: dict) -> str:
    """``spec.model.format``; "none" for an archive without a model of its own (a pipeline); "eager" when unsaid."""
    if "task" in spec and "model" not in spec:
        return "none"
    return str(spec.get("model", {}).get("format", "eager"))
