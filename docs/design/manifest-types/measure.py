"""Import and parse cost of the manifest's typed readers in a fresh process, as a worker pays them.

python measure.py MANIFEST.json... : medians over fresh interpreters (imports) and over repeated parses.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = Path(sys.argv[1])
MANIFESTS = [Path(p) for p in sys.argv[2:]]
RUNS = 21

IMPORTS = {
    "python -c pass": "pass",
    "json": "import json",
    "jsonschema (+ validator of the 1.x schema)":
        f"import json, jsonschema; jsonschema.Draft202012Validator(json.load(open({str(SCHEMA)!r})))",
    "msgspec": "import msgspec",
    "pydantic": "import pydantic; from pydantic import BaseModel",
    "msgspec + the manifest's types + decoder": "import ms_types",
    "pydantic + the manifest's types": "import pd_types",
}


def fresh(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=HERE)
    return time.perf_counter() - start


def imports() -> None:
    base = None
    for label, code in IMPORTS.items():
        fresh(code)  # warm the file cache
        median = statistics.median(fresh(code) for _ in range(RUNS)) * 1000
        base = median if base is None else base
        print(f"  {label:45s} {median:7.1f} ms   (+{median - base:5.1f} over python -c pass)")


def first_parse() -> None:
    """Import + first parse of one manifest, in a fresh interpreter (what a worker pays once)."""
    data = MANIFESTS[0]
    for label, code in {
        "json.loads": f"import json; json.loads(open({str(data)!r},'rb').read())",
        "jsonschema": f"import json, jsonschema; v=jsonschema.Draft202012Validator(json.load(open({str(SCHEMA)!r}))); "
                      f"assert not list(v.iter_errors(json.loads(open({str(data)!r},'rb').read())))",
        "msgspec": f"import ms_types; ms_types.parse(open({str(data)!r},'rb').read())",
        "pydantic": f"import pd_types; pd_types.parse(open({str(data)!r},'rb').read())",
    }.items():
        fresh(code)
        median = statistics.median(fresh(code) for _ in range(RUNS)) * 1000
        print(f"  {label:45s} {median:7.1f} ms")


def parses() -> None:
    sys.path.insert(0, str(HERE))
    import jsonschema
    import ms_types
    import pd_types

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    readers = {
        "json.loads": json.loads,
        "json.loads + jsonschema (1.x schema)": lambda b: list(validator.iter_errors(json.loads(b))),
        "msgspec decode": ms_types.parse,
        "pydantic model_validate_json": pd_types.parse,
    }
    blobs = [path.read_bytes() for path in MANIFESTS]
    for label, read in readers.items():
        times = []
        for blob in blobs:
            for _ in range(5):
                read(blob)
            runs = []
            for _ in range(200):
                start = time.perf_counter()
                read(blob)
                runs.append(time.perf_counter() - start)
            times.append(statistics.median(runs) * 1e6)
        print(f"  {label:45s} median {statistics.median(times):8.1f} µs, max over manifests {max(times):8.1f} µs")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}; {len(MANIFESTS)} manifests, {RUNS} fresh interpreters per import figure")
    print("import (fresh interpreter, median):")
    imports()
    print("import + first parse of", MANIFESTS[0].name, "(fresh interpreter, median):")
    first_parse()
    print("parse + validate, warm (median of 200 per manifest):")
    parses()
