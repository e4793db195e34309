"""What an application imports to talk to a TorchServe serving these archives: the token-aware HTTP
client (``client``), its CLI (``python -m markit.client``), the key file and config readers
(``tokens``, ``properties``), model choice by capability (``catalog``) and the health probe that works
with token auth on (``python -m markit.client.health``). Imports neither torch nor the builder."""

from .client import Reply, TorchServeClient
from .tokens import KeyFile, TokenError

# markit.client.health is not imported here: it runs as `python -m markit.client.health`, which warns when
# the package has already imported the module it is about to run.
__all__ = ["KeyFile", "Reply", "TokenError", "TorchServeClient"]
