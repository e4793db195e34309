"""LitServe serving an image-classification archive's ONNX graph, with the archive's own preprocessing and labels.

Run by the LitServe venv's python (``benchmarks/litserve_peer.py`` starts it)::

    python litserve_image.py --archive-dir DIR --port 8000 --workers 2 --batch-size 2 --batch-timeout-ms 1

``DIR`` is the unpacked archive: ``manifest.json`` says the model file, the preprocessing (resize, crop,
interpolation, mean, std), the labels file, top-k and torch_threads (the session's intra-op threads). A request
is ``{"data": "<base64 of the image file>"}``; the answer ``{"predictions": [{"label", "index", "probability"}]}``.
The API key is LitServe's own: ``LIT_SERVER_API_KEY`` in the environment, sent as ``X-API-Key``.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import litserve as ls
import numpy as np
import onnxruntime as ort
from litserve_main import serve
from PIL import Image, ImageOps


class ImageClassifierAPI(ls.LitAPI):
    def __init__(self, archive_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.archive_dir = Path(archive_dir)

    def setup(self, device: str) -> None:
        spec = json.loads((self.archive_dir / "manifest.json").read_text(encoding="utf-8"))["spec"]
        if spec["model"]["format"] != "onnx":
            raise ValueError(f"spec.model.format is {spec['model']['format']!r}; this server runs an ONNX graph")
        options = ort.SessionOptions()
        options.intra_op_num_threads = spec["serving"]["torch_threads"]
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(self.archive_dir / spec["model"]["file"]), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        pre = spec["preprocess"]
        self.color_mode, self.resize, self.crop = pre["color_mode"], pre.get("resize"), pre.get("center_crop")
        self.resample = Image.Resampling[pre.get("interpolation", "bilinear").upper()]
        self.mean = np.array(pre["mean"], dtype=np.float32)
        self.std = np.array(pre["std"], dtype=np.float32)
        names = json.loads((self.archive_dir / spec["labels"]["file"]).read_text(encoding="utf-8"))
        self.labels = [names[str(i)] for i in range(len(names))]
        self.top_k = spec["postprocess"]["top_k"]
        self.threshold = spec["postprocess"].get("threshold", 0.0)

    def decode_request(self, request) -> np.ndarray:  # unannotated: LitServe reads an annotation as the request type
        image = Image.open(io.BytesIO(base64.b64decode(request["data"])))
        image = ImageOps.exif_transpose(image).convert(self.color_mode)
        if self.resize:
            image = image.resize(self._resized(image.size), self.resample)
        if self.crop:
            height, width = self.crop
            left, top = round((image.width - width) / 2), round((image.height - height) / 2)
            image = image.crop((left, top, left + width, top + height))
        pixels = (np.asarray(image, dtype=np.float32) / 255.0 - self.mean) / self.std
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)

    def _resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """The shorter side to ``resize`` (torchvision's rule), or [height, width] as given."""
        if isinstance(self.resize, list):
            return self.resize[1], self.resize[0]
        width, height = size
        if width <= height:
            return self.resize, int(self.resize * height / width)
        return int(self.resize * width / height), self.resize

    def predict(self, x: np.ndarray) -> np.ndarray:
        single = x.ndim == 3  # max_batch_size 1: one image, no batch dimension
        logits = self.session.run(None, {self.input_name: x[None] if single else x})[0]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        return probabilities[0] if single else probabilities

    def encode_response(self, probabilities: np.ndarray) -> dict:
        best = np.argsort(-probabilities)[: self.top_k]
        return {"predictions": [{"label": self.labels[i], "index": int(i), "probability": float(probabilities[i])}
                                for i in best if probabilities[i] >= self.threshold]}


def main() -> None:
    serve(ImageClassifierAPI, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
