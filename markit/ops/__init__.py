"""Running TorchServe on these archives: Java as the container's foreground process (``launch``), a
private, isolated TorchServe process for tests, the demo and benchmarks (``server``, ``ports``), the
workers-x-threads capacity check (``capacity``), the KServe storage layout (``kserve_layout``) and the
reader of a ``.mar`` file's manifest and config without unpacking it (``mar_file``)."""

from .ports import free_port
from .server import ServerError, TorchServeProcess

__all__ = ["ServerError", "TorchServeProcess", "free_port"]
