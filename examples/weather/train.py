"""Train one temperature forecaster per city on vega_datasets' hourly 2010 temperatures, then build
its archive with what it can do, how good it is and its guards (seed 003's weather story).

    python examples/weather/train.py [--output model_store]

Train on January-October, measure on November-December against persistence (the last reading),
refuse to package a model that does not beat it, and record both MAEs in the manifest's metadata.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from markit.builder import BuildError, build_archive  # noqa: E402

CITIES = {"seattle": ("seattle-temps.csv", "Seattle"), "sf": ("sf-temps.csv", "San Francisco")}
HISTORY, HORIZONS, SPLIT_DAY = 24, 3, 304  # November 1st is day 305 of 2010
SEED = 0


def load_temperatures(file: str) -> torch.Tensor:
    data = Path(importlib.util.find_spec("vega_datasets").submodule_search_locations[0]) / "_data" / file
    with data.open(encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["date"])
    return torch.tensor([float(row["temp"]) for row in rows])


def windows(temps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    starts = range(len(temps) - HISTORY - HORIZONS + 1)
    x = torch.stack([temps[i:i + HISTORY] for i in starts])
    y = torch.stack([temps[i + HISTORY:i + HISTORY + HORIZONS] for i in starts])
    return x, y


def train_city(key: str, output: Path) -> dict:
    file, area = CITIES[key]
    temps = load_temperatures(file)
    split = SPLIT_DAY * 24
    x_train, y_train = windows(temps[:split])
    x_test, y_test = windows(temps[split - HISTORY:])
    module = _model_module()
    torch.manual_seed(SEED)
    model = module.TemperatureForecaster(HISTORY, HORIZONS)
    model.mean.fill_(float(temps[:split].mean()))
    model.std.fill_(float(temps[:split].std()))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        optimizer.zero_grad()
        loss = torch.nn.functional.l1_loss(model(x_train), y_train)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        mae = float((model(x_test) - y_test).abs().mean())
    persistence = float((x_test[:, -1:] - y_test).abs().mean())
    print(f"{area}: held-out MAE {mae:.3f} degF vs persistence {persistence:.3f} degF (Nov-Dec 2010, {len(y_test)} windows)")
    if mae >= persistence:
        raise SystemExit(f"{area}: the model does not beat persistence; not packaging it")
    build = HERE / "build" / key
    build.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(build / "weights.safetensors"))
    sample = x_test[100]
    (build / "golden.json").write_text(json.dumps({"temperature_history": [round(float(v), 1) for v in sample]}))
    with torch.no_grad():
        expected = model(torch.tensor(json.loads((build / "golden.json").read_text())["temperature_history"])[None])[0]
    low, high = round(float(temps[:split].min()), 1), round(float(temps[:split].max()), 1)
    overrides = [
        f"name=weather_{key}",
        f"model.weights=build/{key}/weights.safetensors",
        f"metadata.capabilities.area=[{area}]",
        f"metadata.quality={{mae: {mae:.4f}, persistence_mae: {persistence:.4f}, unit: degF, "
        f"measured_on: 'Nov-Dec 2010 held out, {len(y_test)} windows'}}",
        f"guards=[{{feature: temperature_history, min: {low}, max: {high}, policy: reject}}]",
        f"golden=[{{input: build/{key}/golden.json, tolerance: 0.01, expected: {{prediction: "
        f"{{temperature_plus_1h: {float(expected[0]):.4f}, temperature_plus_2h: {float(expected[1]):.4f}, "
        f"temperature_plus_3h: {float(expected[2]):.4f}}}}}}}]",
    ]
    result = build_archive(HERE / "spec.yaml", output, progress=lambda _: None, overrides=overrides)
    print(f"built {result.path}: guard temperature_history in [{low}, {high}] degF (reject)")
    return {"area": area, "mae": mae, "persistence_mae": persistence}


def _model_module():
    spec = importlib.util.spec_from_file_location("weather_model", HERE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "model_store")
    args = parser.parse_args(argv)
    try:
        for key in CITIES:
            train_city(key, args.output)
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
