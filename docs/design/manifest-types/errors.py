"""The three readers' messages for the same bad manifests. python errors.py SCHEMA MANIFESTS_DIR"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import jsonschema
import ms_types
import msgspec
import pd_types
import pydantic

schema = json.loads(Path(sys.argv[1]).read_text())
root = Path(sys.argv[2])
image = json.loads((root / "efficientnet_lite0.json").read_text())
seq = json.loads((root / "g2p_en.json").read_text())


def bad(base, edit):
    doc = copy.deepcopy(base)
    edit(doc)
    doc["schema_version"] = "2.0"  # the prototypes read 2.0; jsonschema is given 1.5 back below
    return doc


CASES = {
    "missing key (spec.preprocess.mean removed)": bad(image, lambda m: m["spec"]["preprocess"].pop("mean")),
    "wrong type (spec.serving.workers = \"2\")": bad(image, lambda m: m["spec"]["serving"].__setitem__("workers", "2")),
    "unknown key in a task section (spec.search.maxima.beam_widht)":
        bad(seq, lambda m: m["spec"]["search"]["maxima"].__setitem__("beam_widht", 3)),
    "unknown task (spec.task = \"detection\")": bad(image, lambda m: m["spec"].__setitem__("task", "detection")),
    "out of range (spec.postprocess.top_k = 0)": bad(image, lambda m: m["spec"]["postprocess"].__setitem__("top_k", 0)),
    "a task's section missing (seq2seq without spec.search)": bad(seq, lambda m: m["spec"].pop("search")),
}

validator = jsonschema.Draft202012Validator(schema)
for label, doc in CASES.items():
    print(f"### {label}")
    data = json.dumps(doc).encode()
    try:
        ms_types.parse(data)
        print("msgspec:    (accepted)")
    except msgspec.ValidationError as err:
        print(f"msgspec:    {err}")
    try:
        pd_types.parse(data)
        print("pydantic:   (accepted)")
    except pydantic.ValidationError as err:
        print("pydantic:   " + str(err).replace("\n", "\n            "))
        print("  first, as one line: " + " · ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors(include_url=False)[:1]))
    old = {**doc, "schema_version": "1.5"}
    error = jsonschema.exceptions.best_match(validator.iter_errors(old))
    where = "/".join(str(part) for part in error.absolute_path) if error else ""
    print(f"jsonschema: {where}: {error.message[:300] if error else '(accepted)'}")
    print()
