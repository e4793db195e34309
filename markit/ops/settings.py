"""Deploy-time serving settings: workers, batching and timeouts per model, for this machine, without
rebuilding an archive or breaking its hashes.

An archive's ``model-config.yaml`` carries the serving settings it was built with, and TorchServe 0.12 lets
them win over ``models=`` in config.properties and over the management API's ``response_timeout`` and
worker counts. What it does not override is a ``model_snapshot``: restoring one sets each model's workers,
batch size, batch delay and response timeout from the snapshot. So a deployer writes ``config/models.yaml``::

    models:
      efficientnet_lite0:
        workers: 2             # TorchServe workers (min = max)
        batch_size: 4          # the most requests in one batch
        max_batch_delay: 5     # ms TorchServe waits to fill a batch
        response_timeout: 60   # s before a worker is presumed hung and restarted

and ``serve.sh start`` and the container's entrypoint run::

    python -m markit.ops.settings STORE --config config.properties --models config/models.yaml --out RUN.properties

which validates the file against the store (an unknown model or key, a value out of range: exit 2, naming
it) and writes ``RUN.properties``: the config with a ``model_snapshot`` of every archive in the store, each
with its own settings where ``models.yaml`` says nothing. TorchServe then starts from ``RUN.properties``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..archive.mar_file import MarInfo, read_mar
from ..errors import MarkitError, UsageError, report
from .torchserve_on_kserve import model_snapshot

__all__ = ["SETTINGS", "ServingSettings", "main", "run_config"]

# models.yaml key -> (model-config.yaml / snapshot keys it sets, lowest, highest)
SETTINGS = {
    "workers": (("minWorkers", "maxWorkers"), 1, 64),
    "batch_size": (("batchSize",), 1, 1024),
    "max_batch_delay": (("maxBatchDelay",), 1, 60_000),
    "response_timeout": (("responseTimeout",), 1, 3600),
}


@dataclass(frozen=True)
class ServingSettings:
    """Per model name, the settings ``models.yaml`` changes (by snapshot key)."""

    models: Mapping[str, Mapping[str, int]]

    @classmethod
    def load(cls, path: Path) -> ServingSettings:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise UsageError(f"{path}: cannot be read: {err}") from err
        if not isinstance(data, dict) or set(data) != {"models"} or not isinstance(data["models"], dict):
            raise UsageError(f"{path}: expected one key, models: a mapping of model name -> settings; got {data!r}")
        return cls({str(name): _model(path, str(name), entry) for name, entry in data["models"].items()})

    def apply(self, models: Sequence[MarInfo], source: Path) -> list[MarInfo]:
        """``models`` with their settings changed as the file says; UsageError naming a model the store lacks."""
        names = {model.name for model in models}
        unknown = sorted(set(self.models) - names)
        if unknown:
            raise UsageError(f"{source}: models.{unknown[0]}: no archive in the store serves it (models there: "
                             f"{', '.join(sorted(names)) or 'none'})")
        return [dataclasses.replace(model, settings={**model.settings, **self.models.get(model.name, {})}) for model in models]


def _model(path: Path, name: str, entry: object) -> dict[str, int]:
    if not isinstance(entry, dict) or not entry:
        raise UsageError(f"{path}: models.{name}: expected a mapping of settings ({', '.join(SETTINGS)})")
    changed: dict[str, int] = {}
    for key, value in entry.items():
        if key not in SETTINGS:
            raise UsageError(f"{path}: models.{name}.{key}: unknown setting; the settings are {', '.join(SETTINGS)}")
        targets, low, high = SETTINGS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UsageError(f"{path}: models.{name}.{key}: must be a whole number from {low} to {high}, got {value!r}")
        changed.update(dict.fromkeys(targets, value))
    return changed


def run_config(config: Path, store: Path, settings: ServingSettings, source: Path) -> tuple[str, list[MarInfo]]:
    """The text of ``config`` with a ``model_snapshot`` of the store's archives under ``settings``."""
    archives = sorted(Path(store).glob("*.mar"))
    models = settings.apply([read_mar(path) for path in archives], source)
    try:
        lines = Path(config).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UsageError(f"config {config}: cannot be read: {err.strerror}") from err
    kept = [line for line in lines if not line.strip().startswith("model_snapshot")]
    snapshot = json.dumps(model_snapshot(models), separators=(",", ":"))
    note = f"# written by markit.ops.settings from {Path(config).name} and {source.name}: each model's serving settings"
    return "\n".join([*kept, note, f"model_snapshot={snapshot}", ""]), models


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.ops.settings", description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="the model store (its *.mar)")
    parser.add_argument("--config", type=Path, required=True, help="TorchServe's config.properties")
    parser.add_argument("--models", type=Path, required=True, help="the deploy-time settings (config/models.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the config TorchServe starts with")
    args = parser.parse_args(argv)
    try:
        text, models = run_config(args.config, args.store, ServingSettings.load(args.models), args.models)
        args.out.write_text(text, encoding="utf-8")
    except OSError as err:
        return report("settings", UsageError(f"{args.out}: cannot be written: {err.strerror}"))
    except MarkitError as err:
        return report("settings", err)
    for model in models:
        print(f"{model.name}: {model.serving_summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
