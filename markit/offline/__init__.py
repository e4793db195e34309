"""Running an archive without a server: opened as every engine opens it (``markit.archive.open``) and
answered by its own core, as the KServe runtime answers it. Imports nothing from TorchServe.

Used by the builder (conversion examples, golden checks) and by ``scripts/predict.sh``.
"""

from .local_archive import ArchiveLoadError, LocalArchive, LocalRequest, LocalResponse
from .predict import PredictionLine, predict

__all__ = ["ArchiveLoadError", "LocalArchive", "LocalRequest", "LocalResponse", "PredictionLine", "predict"]
