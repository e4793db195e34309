"""A request built from a model's v2 metadata alone, as perf_analyzer, model analyzer and generated SDKs build
one: every input the metadata lists, of its datatype, one instance of its shape. The values come from the
caller by input name, as perf_analyzer's ``--input-data`` gives them (bytes for BYTES, a nested list for
numbers); a numeric input without one is filled with 1. Pure numpy: both the test process (kserve) and the
tritonclient.grpc subprocess use it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

NUMPY = {"BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8,
         "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64, "FP16": np.float16, "FP32": np.float32,
         "FP64": np.float64, "BYTES": np.object_}


def tensors(metadata: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    """``(name, datatype, array)`` for every input of ``metadata`` (REST's, or gRPC's as_json: shapes as strings)."""
    return [(item["name"], item["datatype"], _array(item, values.get(item["name"]))) for item in metadata["inputs"]]


def _array(item: Mapping[str, Any], value: Any) -> np.ndarray:
    shape = [int(n) for n in item["shape"]]
    if shape[0] != -1:
        raise AssertionError(f"input {item['name']!r}: the metadata's first dimension is {shape[0]}, not -1 (the instances)")
    if item["datatype"] == "BYTES":
        array = np.array([value], dtype=np.object_).reshape([1, *[1] * (len(shape) - 1)])
    elif value is None:
        if -1 in shape[1:]:
            raise AssertionError(f"input {item['name']!r} {shape}: a size the metadata leaves open needs a value")
        array = np.ones([1, *shape[1:]], dtype=NUMPY[item["datatype"]])
    else:
        array = np.asarray(value, dtype=NUMPY[item["datatype"]])[None]
    if len(array.shape) != len(shape) or any(want not in (-1, got) for want, got in zip(shape, array.shape, strict=True)):
        raise AssertionError(f"input {item['name']!r}: a value of shape {list(array.shape)} for the metadata's {shape}")
    return array
