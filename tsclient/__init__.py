"""Talking to and running TorchServe: a small HTTP client that uses TorchServe's token file, and a
process wrapper that starts a private, isolated server (used by the demo and the integration tests)."""

from .client import Reply, TorchServeClient
from .server import ServerError, TorchServeProcess, free_port

__all__ = ["Reply", "ServerError", "TorchServeClient", "TorchServeProcess", "free_port"]
