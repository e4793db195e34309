"""Running TorchServe on these archives: Java as the container's foreground process (``launch``), a
private, isolated TorchServe process for tests, the demo and benchmarks (``server``, ``ports``), and a
private KServe runtime beside it (``kserve_process``), the
workers-x-threads capacity check (``capacity``), the KServe storage layout (``kserve_layout``) and the
reader of a ``.mar`` file's manifest and config without unpacking it (``mar_file``)."""

from .kserve_process import KServeRuntimeProcess
from .ports import free_port
from .server import ServerError, TorchServeProcess

__all__ = ["KServeRuntimeProcess", "ServerError", "TorchServeProcess", "free_port"]
