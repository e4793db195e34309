"""Build the forecast pipeline from the weather archives in a store, into that store.

    python examples/forecast/build.py --store DIR

DIR must hold weather_seattle.mar and weather_sf.mar (examples/weather/train.py --output DIR). Their identities
are read from the archives, after the checks a server makes, and pinned. Each golden request is a forecaster's
own golden input sent for its area, expected to be answered by that forecaster with that forecaster's own
golden answer (read from its manifest).
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

from markit.archive.verify import verify_mar
from markit.builder import BuildError, build_archive

HERE = Path(__file__).resolve().parent
STEPS = {"seattle": "weather_seattle.mar", "sf": "weather_sf.mar"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="holds the weather archives; the pipeline is built into it")
    args = parser.parse_args(argv)
    overrides, golden = [], []
    for step, file in STEPS.items():
        mar = args.store / file
        if not mar.is_file():
            raise SystemExit(f"{mar} does not exist: python examples/weather/train.py --output {args.store}")
        overrides += [f"steps.{step}.archive={mar.resolve()}", f"steps.{step}.identity={verify_mar(mar)}"]
        golden.append(golden_request(step, mar, HERE / "build" / "golden"))
    overrides.append("golden=" + json.dumps(golden))
    try:
        result = build_archive(HERE / "spec.yaml", args.store, progress=lambda _: None, overrides=overrides)
    except BuildError as err:
        raise SystemExit(f"forecast: {err}") from None
    print(f"built {result.path} identity {result.manifest['identity'][:19]}…, steps " +
          ", ".join(f"{name} = {step['name']}" for name, step in result.manifest["spec"]["steps"].items()))
    return 0


def golden_request(step: str, mar: Path, directory: Path) -> dict:
    """The forecaster's first golden input, sent for its own area, and its own golden answer expected."""
    with zipfile.ZipFile(mar) as archive:
        spec = json.loads(archive.read("manifest.json"))["spec"]
        example = spec["golden"][0]
        features = json.loads(archive.read(example["input"]))
    area = spec["metadata"]["capabilities"]["area"][0]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{step}.json").write_text(json.dumps({"area": area, "features": features}), encoding="utf-8")
    return {"input": f"build/golden/{step}.json", "tolerance": example["tolerance"],
            "expected": {"area": area, "forecaster": step, "forecast": example["expected"]}}


if __name__ == "__main__":
    sys.exit(main())
