"""The bad-input matrix of the reliability report: what a hostile or careless client sends, per task.

Each ``Probe`` is one request body and its content type. Every task gets the protocol-level probes (empty,
undecodable, too deep, KServe requests gone wrong) and its own (images that are not images or are too
large, texts that are empty or too long, rows with missing or non-finite features, ...). A correct server
answers each with a 4xx whose JSON body names the problem, and answers the good requests sent in the same
batch exactly as it answers them alone.
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import zlib
from dataclasses import dataclass

__all__ = ["Probe", "many_tensors", "png_claiming", "probes"]

JSON = "application/json"
TASKS = ("image_classification", "convention", "text_embedding", "text_classification", "regression", "seq2seq", "object_detection",
         "semantic_segmentation", "pipeline")


@dataclass(frozen=True)
class Probe:
    task: str
    kind: str
    body: bytes
    content_type: str


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 greyscale PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    from PIL import Image

    small = io.BytesIO()
    Image.new("L", (1, 1)).save(small, format="PNG")
    data = bytearray(small.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (240, 240, 240)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _protocol(v2: dict[str, object]) -> list[tuple[str, bytes, str]]:
    """What any task refuses: broken bodies and KServe requests gone wrong. ``v2``: the task's first declared input
    as its v2 metadata lists it, so each v2 probe passes every check before the one it is named for."""
    declared, inner = v2["datatype"], [1 if size == -1 else size for size in list(v2["shape"])[1:]]

    def tensor(name: object = v2["name"], datatype: object = declared, shape: list[int] | None = None) -> dict[str, object]:
        """One instance's tensor (``shape``: another shape, its data still one instance's)."""
        return {"name": name, "shape": shape or [1, *inner], "datatype": datatype,
                "data": ["a" if datatype == "BYTES" else 1] * math.prod(inner)}

    return [
        ("empty body", b"", "application/octet-stream"),
        ("JSON nested 1,100 deep", _nested(1100), JSON),
        ("JSON nested 40 deep", _nested(40), JSON),
        ("invalid JSON", b'{"instances": [1, 2', JSON),
        ("JSON with a lone surrogate", b'"\\ud800"', JSON),
        ("JSON number 1e999", b"1e999", JSON),
        ("KServe v1, instances not a list", _json({"instances": "x"}), JSON),
        ("KServe v1, no instances", _json({"instances": []}), JSON),
        ("KServe v1, an unknown key", _json({"instances": [1], "signature": "x"}), JSON),
        ("KServe v2, inputs not a list", _json({"inputs": {"name": v2["name"]}}), JSON),
        ("KServe v2, a bad datatype", _json({"inputs": [tensor(datatype="FP128")]}), JSON),
        ("KServe v2, another datatype than declared", _json({"inputs": [tensor(datatype="FP32" if declared == "BYTES" else "BYTES")]}),
         JSON),
        ("KServe v2, an undeclared input", _json({"inputs": [tensor(name="not_an_input")]}), JSON),
        ("KServe v2, shape and data disagree", _json({"inputs": [tensor(shape=[2, *inner])]}), JSON),
        ("KServe v2, a request parameter", _json({"inputs": [tensor()], "parameters": {"sequence_id": 7}}), JSON),
        ("bytes declared as XML", b"<request><image/></request>", "application/xml"),
        ("JSON null", b"null", JSON),
        ("JSON true", b"true", JSON),
        ("a form with an unknown field", b'--XyZ\r\nContent-Disposition: form-data; name="picture"\r\n\r\nabc\r\n--XyZ--\r\n',
         "multipart/form-data; boundary=XyZ"),
        ("a form with two inputs", b'--XyZ\r\nContent-Disposition: form-data; name="data"\r\n\r\nabc\r\n'
                                   b'--XyZ\r\nContent-Disposition: form-data; name="body"\r\n\r\nabc\r\n--XyZ--\r\n',
         "multipart/form-data; boundary=XyZ"),
        ("3 MB of zeros", bytes(3 * 1024 * 1024), "application/octet-stream"),
        ("KServe v2, 100,000 input tensors", many_tensors(100_000), JSON),
    ]


def many_tensors(count: int) -> bytes:
    """A v2 request of ``count`` one-number tensors (6.5 MB for 10^5): once minutes of a quadratic check."""
    return _json({"inputs": [{"name": f"x{i}", "shape": [1], "datatype": "FP32", "data": [1.0]} for i in range(count)]})


def _image(task: str) -> list[tuple[str, bytes, str]]:
    jpeg = _jpeg()
    probes = [
        ("not an image", b"GIF89a but not really" * 10, "application/octet-stream"),
        ("a truncated JPEG", jpeg[: len(jpeg) // 2], "image/jpeg"),
        ("a 30000x30000 PNG header", png_claiming(30000, 30000), "image/png"),
        ("a 9000x9000 PNG header", png_claiming(9000, 9000), "image/png"),
        ("an empty PNG file", b"\x89PNG\r\n\x1a\n", "image/png"),
    ]
    if task in ("object_detection", "semantic_segmentation"):
        probes += _placing(task, base64.b64encode(jpeg).decode())
    elif task == "image_classification":
        probes += [
            ("base64 that is not base64", _json({"image": "%%%not base64%%%"}), JSON),
            ("top_k 0", _json({"image": base64.b64encode(jpeg).decode(), "top_k": 0}), JSON),
            ("top_k not a number", _json({"image": base64.b64encode(jpeg).decode(), "top_k": "five"}), JSON),
            ("a misspelt option", _json({"image": base64.b64encode(jpeg).decode(), "topk": 3}), JSON),
            ("a JSON list of images", _json([base64.b64encode(jpeg).decode()]), JSON),
            ("text instead of an image", b"a photo of a cat", "text/plain"),
            ("a JPEG declared as text", jpeg, "text/plain"),
            ("an SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>', "image/svg+xml"),
        ]
    else:
        probes += [
            ("an ink array of the wrong shape", _json([[0] * 8] * 7), JSON),
            ("an ink array of strings", _json([["x"] * 8] * 8), JSON),
            ("ink out of range", _json([[99] * 8] * 8), JSON),
            ("an ink array holding NaN", b"[" + b",".join([b"[" + b",".join([b"NaN"] * 8) + b"]"] * 8) + b"]", JSON),
        ]
    return probes


def _placing(task: str, photo: str) -> list[tuple[str, bytes, str]]:
    """What a detector or a segmenter refuses: photos below its minimum side, options beyond its bounds."""
    small = [
        ("a 1x300 sliver", _png(1, 300), "image/png"),
        ("a 2x2 photo, below the model's minimum side", _png(2, 2), "image/png"),
    ]
    if task == "semantic_segmentation":
        return [
            *small,
            ("probability_of naming no label", _json({"image": photo, "probability_of": "no_such_label"}), JSON),
            ("probability_side 0", _json({"image": photo, "probability_side": 0}), JSON),
            ("probability_side over the archive's bound", _json({"image": photo, "probability_side": 100_000}), JSON),
            ("a misspelt segmentation option", _json({"image": photo, "probability": "x"}), JSON),
        ]
    return [
        *small,
        ("threshold below the archive's lowest", _json({"image": photo, "threshold": 0.0}), JSON),
        ("threshold above 1", _json({"image": photo, "threshold": 1.5}), JSON),
        ("threshold not a number", _json({"image": photo, "threshold": "high"}), JSON),
        ("max_detections 0", _json({"image": photo, "max_detections": 0}), JSON),
        ("max_detections over the archive's limit", _json({"image": photo, "max_detections": 100_000}), JSON),
        ("classes naming no label", _json({"image": photo, "classes": "no_such_label"}), JSON),
        ("classes as a number", _json({"image": photo, "classes": 7}), JSON),
        ("a misspelt detection option", _json({"image": photo, "treshold": 0.3}), JSON),
    ]


def _text(task: str) -> list[tuple[str, bytes, str]]:
    probes = [
        ("an empty text", b"", "text/plain"),
        ("only whitespace", b"   \n\t ", "text/plain"),
        ("invalid UTF-8", b"caf\xe9 \xff\xfe", "text/plain"),
        ("65 texts (budget 64)", _json(["a sentence"] * 65), JSON),
        ("a text of 1,500,000 characters (budget 1,000,000)", ("word " * 300_000).encode(), "text/plain"),
        ("a list holding a number", _json(["fine", 42]), JSON),
        ("an empty list", _json([]), JSON),
        ("a JSON object", _json({"text": "hello"}), JSON),
        ("a binary body", bytes(range(256)), "application/octet-stream"),
        ("a list of lists", _json([["nested"]]), JSON),
        ("a JSON number", b"42", JSON),
        ("text declared as an image", b"a sentence", "image/png"),
    ]
    if task == "text_classification":
        probes.append(("a list of empty strings", _json(["", ""]), JSON))
    return probes


def _rows(features: dict[str, list[int]]) -> list[tuple[str, bytes, str]]:
    """``features``: name -> shape of each declared feature (from the archive's manifest)."""
    def row(value: float) -> dict[str, object]:
        return {name: [value] * shape[0] if shape else value for name, shape in features.items()}

    first = next(iter(features))
    good = row(60.0)
    return [
        ("a missing feature", _json({k: v for k, v in good.items() if k != first}), JSON),
        ("an unknown feature", _json({**good, "humidity": 3}), JSON),
        ("a feature of the wrong shape", _json({**good, first: [60.0, 61.0]}), JSON),
        ("strings for numbers", _json({**good, first: "warm"}), JSON),
        ("NaN in a feature", json.dumps({**good, first: [float("nan")] * len(good[first])}
                                        if isinstance(good[first], list) else {**good, first: float("nan")}).encode(), JSON),
        ("a value outside the training range", _json(row(400.0)), JSON),
        ("1,025 rows (budget 1,024)", _json([good] * 1025), JSON),
        ("an empty list of rows", _json([]), JSON),
        ("a list of numbers", _json([1, 2, 3]), JSON),
        ("features as text", b"temperature_history=60", "text/plain"),
        ("booleans for numbers", _json({**good, first: True}), JSON),
        ("Infinity in a feature", json.dumps(row(float("inf"))).encode(), JSON),
        ("a KServe v1 instance missing a feature", _json({"instances": [good, {k: v for k, v in good.items() if k != first}]}), JSON),
    ]


def _sequence() -> list[tuple[str, bytes, str]]:
    """seq2seq (a G2P archive: letters a-z, 32 characters, 64 words, search maxima 32/32/32/2.0)."""
    return [
        ("an empty text", b"", "text/plain"),
        ("only whitespace", b"   \n\t ", "text/plain"),
        ("invalid UTF-8", b"caf\xe9 \xff\xfe", "text/plain"),
        ("letters outside the model's symbols", "naïve".encode(), "text/plain"),
        ("two words in one text", b"two words", "text/plain"),
        ("digits", _json("r2d2"), JSON),
        ("a word of 33 characters (budget 32)", b"a" * 33, "text/plain"),
        ("65 words (budget 64)", _json(["word"] * 65), JSON),
        ("64 words at beam_width 32, max_length 32 (over budgets.beam_steps)",
         _json({"text": ["word"] * 64, "beam_width": 32, "max_length": 32}), JSON),
        ("beam_width 0", _json({"text": "word", "beam_width": 0}), JSON),
        ("beam_width above its maximum", _json({"text": "word", "beam_width": 33}), JSON),
        ("num_candidates above beam_width", _json({"text": "word", "beam_width": 2, "num_candidates": 3}), JSON),
        ("max_length above its maximum", _json({"text": "word", "max_length": 10_000}), JSON),
        ("a negative length_penalty", _json({"text": "word", "length_penalty": -1}), JSON),
        ("beam_width as a word", _json({"text": "word", "beam_width": "wide"}), JSON),
        ("a misspelt option", _json({"text": "word", "beam": 4}), JSON),
        ("an object without text", _json({"beam_width": 4}), JSON),
        ("a list holding a number", _json(["fine", 42]), JSON),
        ("a binary body", bytes(range(256)), "application/octet-stream"),
    ]


def _pipeline() -> list[tuple[str, bytes, str]]:
    """What any pipeline's first node refuses, whatever its input: the step or the function reading the request names
    the problem, and the pipeline answers with the node's status (docs/pipelines.md)."""
    jpeg = _jpeg()
    return [
        ("not an image", b"GIF89a but not really" * 10, "application/octet-stream"),
        ("a truncated JPEG", jpeg[: len(jpeg) // 2], "image/jpeg"),
        ("a 30000x30000 PNG header", png_claiming(30000, 30000), "image/png"),
        ("a JSON list where one input is expected", _json(["one", "two"]), JSON),
        ("a binary body", bytes(range(256)), "application/octet-stream"),
    ]


def probes(task: str, features: dict[str, list[int]] | None = None, v2: dict[str, object] | None = None) -> list[Probe]:
    """Every probe for one task (``features``: a regression archive's declared features and their shapes; ``v2``: its
    first declared input as the v2 metadata lists it, by default the task's own declaration)."""
    if task in ("image_classification", "convention", "object_detection", "semantic_segmentation"):
        own = _image(task)
    elif task in ("text_embedding", "text_classification"):
        own = _text(task)
    elif task == "regression":
        own = _rows(features or {})
    elif task == "seq2seq":
        own = _sequence()
    elif task == "pipeline":
        own = _pipeline()
    else:
        raise ValueError(f"no probes for task {task!r}")
    v2 = v2 or declared_input(task, features or {})
    return [Probe(task, kind, body, content_type) for kind, body, content_type in [*_protocol(v2), *own]]


def declared_input(task: str, features: dict[str, list[int]]) -> dict[str, object]:
    """A task's first declared v2 input, as its metadata lists it: a regression archive's first feature, else the
    task class's own declaration (a convention model may declare others: ``reliability.targets_in`` asks it)."""
    if task == "regression" and features:
        name, shape = next(iter(features.items()))
        return {"name": name, "datatype": "FP32", "shape": [-1, *shape]}
    from markit.tasks import handler_class  # the registry, imported only when probes are made

    return next(item.metadata() for item in handler_class(task).takes if item.required)
