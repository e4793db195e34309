"""A health probe that works while token authorization is on.

``/ping`` sits behind TorchServe's inference token, so an HTTP probe without the token gets 400.
This probe runs beside the server (container HEALTHCHECK, Kubernetes exec probe), reads the
addresses from the server's config and the token from its key file, renews an expired token
with the file's API key (an expired token is useless to every client, and the renewed one is
written back to the file), and exits 0 only when the server says it is healthy::

    python -m markit.client.health [--config config.properties] [--key-file key_file.json] [--ready]

``--ready`` also requires every registered model to have a READY worker (a readiness probe).
Exit codes: 0 healthy, 1 not healthy (one line on stderr says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ..errors import MarkitError
from .client import Reply, TorchServeClient, has_ready_worker
from .tokens import TokenError

__all__ = ["Probe", "Unhealthy", "main"]

DEFAULT_CONFIG = "config/config.properties"


class Unhealthy(MarkitError):
    """The server is down, refuses the probe, or a model has no READY worker."""


@dataclass(frozen=True)
class Probe:
    """Health questions asked through the token-aware client (which renews an expired token)."""

    client: TorchServeClient

    @classmethod
    def from_config(cls, config: Path, key_file: Path | None = None, timeout: float = 5.0) -> Probe:
        key_file = (key_file or Path("key_file.json")).absolute()
        return cls(TorchServeClient.from_config(config, key_file, timeout))

    def healthy(self) -> str:
        body = self._answer(f"{self.client.inference_url}/ping", self.client.ping)
        if body.get("status") != "Healthy":
            raise Unhealthy(f"/ping says {body}")
        return "healthy"

    def ready(self) -> str:
        self.healthy()
        listed = self._answer(f"{self.client.management_url}/models", self.client.list_models)
        names = sorted({m["modelName"] for m in listed.get("models", [])})
        if not names:
            raise Unhealthy("no model is registered")
        waiting = [name for name in names if not has_ready_worker(self._call(self.client.status, name))]
        if waiting:
            raise Unhealthy(f"no READY worker yet for {', '.join(waiting)}")
        return f"ready: {len(names)} model(s) with READY workers ({', '.join(names)})"

    def _answer(self, what: str, call: Callable[[], Reply]) -> Any:
        reply = self._call(call)
        if reply.status != 200:
            text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            raise Unhealthy(f"{what}: HTTP {reply.status}: {text.strip()[:300]}")
        return reply.body

    @staticmethod
    def _call(call: Callable[..., Reply], *args: Any) -> Reply:
        try:
            return call(*args)
        except TokenError as err:
            raise Unhealthy(str(err)) from err
        except requests.RequestException as err:
            raise Unhealthy(f"{type(err).__name__}: {err}") from err


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.client.health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("TS_CONFIG_FILE", DEFAULT_CONFIG)),
                        help="the server's config.properties (default: $TS_CONFIG_FILE or config/config.properties)")
    parser.add_argument("--key-file", type=Path, help="the server's key_file.json (default: ./key_file.json)")
    parser.add_argument("--ready", action="store_true", help="also require a READY worker for every model")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP call (default 5)")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        print(f"unhealthy: config {args.config} not found (pass --config or set TS_CONFIG_FILE)", file=sys.stderr)
        return 1
    try:
        probe = Probe.from_config(args.config, args.key_file, args.timeout)
        print(probe.ready() if args.ready else probe.healthy())
    except (MarkitError, OSError) as err:
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
