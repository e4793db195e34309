"""Operating TorchServe: a token-aware HTTP client (and its CLI, ``python -m tsclient``), the
server's key file, a health probe that works with token auth on, and a process wrapper that
starts a private, isolated server (used by the demo and the integration tests)."""

from .client import Reply, TorchServeClient
from .ports import free_port
from .server import ServerError, TorchServeProcess
from .tokens import KeyFile, TokenError

# tsclient.health is not imported here: it runs as `python -m tsclient.health`, which warns when
# the package has already imported the module it is about to run.
__all__ = ["KeyFile", "Reply", "ServerError", "TokenError", "TorchServeClient", "TorchServeProcess", "free_port"]
