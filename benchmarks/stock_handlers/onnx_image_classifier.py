"""TorchServe's stock ``image_classifier``, subclassed only to run an ONNX graph in ONNX Runtime.

What a user writes who keeps the stock handler and swaps its model for the ``.onnx`` file: the model is
loaded with ``onnxruntime.InferenceSession`` instead of TorchScript, and the batch tensor goes through it as
numpy and comes back as a torch tensor, so the stock postprocess (softmax, top 5, label names) works as it
is. Everything else is the stock handler's: its preprocessing is its own transform (Resize 256, CenterCrop
224, and ImageNet's mean and std, not the model's own constants, as the TorchScript peer normalizes too).
Not set up, as the stock ``initialize`` would: Captum explanations, and lifting PIL's pixel limit.

The session runs ``OMP_NUM_THREADS`` intra-op threads (1 when unset), the same variable that sets the
TorchScript peer's torch threads, one inter-op thread and sequential execution. The stock base handler's own
ONNX path would take every core (``psutil.cpu_count``), and its ``inference`` cannot call a session.

Written into the stock archive with ``torch-model-archiver --handler`` (benchmarks/stock_onnx.py); it imports
TorchServe and torchvision, so it runs in the stock venv only. TorchServe takes the one class it defines.
"""

import os

import onnxruntime
import torch
from ts.handler_utils.timer import timed
from ts.torch_handler.image_classifier import ImageClassifier
from ts.utils.util import load_label_mapping

THREADS = "OMP_NUM_THREADS"


def ort_session(path: str) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on the CPU: ``OMP_NUM_THREADS`` (else 1) intra-op threads, 1 inter-op, sequential."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get(THREADS) or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxImageClassifier(ImageClassifier):
    """The stock image classifier with its model in ONNX Runtime."""

    def initialize(self, context):
        model_dir = context.system_properties.get("model_dir")
        self.manifest = context.manifest
        self.map_location, self.device = "cpu", torch.device("cpu")
        self.model = ort_session(os.path.join(model_dir, self.manifest["model"]["serializedFile"]))
        self.input_name = self.model.get_inputs()[0].name
        self.mapping = load_label_mapping(os.path.join(model_dir, "index_to_name.json"))
        self.initialized = True

    @timed
    def inference(self, data, *args, **kwargs):
        logits = self.model.run(None, {self.input_name: data.numpy()})[0]
        return torch.from_numpy(logits)
