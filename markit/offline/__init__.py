"""Running an archive without a server: the same handler code path a TorchServe worker uses.

Used by the builder (golden checks, conversion examples) and by ``scripts/predict.sh``.
"""

from .local_archive import ArchiveLoadError, LocalArchive, LocalRequest, LocalResponse
from .predict import PredictionLine, predict

__all__ = ["ArchiveLoadError", "LocalArchive", "LocalRequest", "LocalResponse", "PredictionLine", "predict"]
