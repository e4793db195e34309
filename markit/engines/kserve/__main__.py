"""``python -m markit.engines.kserve --model-store model_store``: serve a store of ``.mar`` archives on the KServe runtime.

Options mirror what ``serve.sh`` gives TorchServe: the token in ``key_file.json`` (TorchServe's format),
a trust policy, deploy-time serving settings. Exit 0 after SIGTERM/SIGINT, 2 when the store or an archive
is refused (named on stderr), 3 when ``--processes`` children kept dying right after their start (a crash
loop; a child that dies otherwise is replaced, see ``processes.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from ...core.limits import REQUEST_BYTES
from ...errors import MarkitError, report
from ...ops.launch import WORKER_ENVIRONMENT

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.engines.kserve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-store", type=Path, required=True, help="a directory of .mar archives built by build_mar.sh")
    parser.add_argument("--host", default="127.0.0.1", help="the address both listeners bind (0.0.0.0 in a container)")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--grpc-port", type=int, default=8081)
    parser.add_argument("--key-file", type=Path, default=Path("key_file.json"),
                        help="the token file: read if present, else written with a new token (default ./key_file.json)")
    parser.add_argument("--no-auth", action="store_true", help="no token check (only behind a mesh or proxy that authenticates)")
    parser.add_argument("--open-metrics", action="store_true",
                        help="GET /metrics without the token (model names, per-model traffic), for a scraper on a network you trust")
    parser.add_argument("--trust", type=Path, metavar="POLICY", help="serve only archives this trust policy admits (config/trust.yaml)")
    parser.add_argument("--pins", type=Path, metavar="FILE", help="serve only archives pinned in this file (config/pins.json) "
                        "or signed by a key the trust policy names (markit.archive.pins)")
    parser.add_argument("--settings", type=Path, metavar="MODELS_YAML", help="deploy-time serving settings (config/models.yaml)")
    parser.add_argument("--max-request-bytes", type=int, default=REQUEST_BYTES,
                        help="a larger REST request body is refused with 413 before it is read (default 10 MiB, "
                             "as TorchServe's max_request_size in config/config.properties)")
    parser.add_argument("--processes", type=int, default=1,
                        help="processes serving the store on the same ports, each archive's workers shared among them (default 1)")
    parser.add_argument("--http-socket", type=int, help=argparse.SUPPRESS)  # one of --processes' children: the shared REST socket
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.processes > 1 and args.http_socket is None:
        from .processes import supervise

        return supervise(_without_processes(arguments), args.processes, args.host, args.http_port,
                         None if args.no_auth else args.key_file)
    for name, value in WORKER_ENVIRONMENT.items():  # what TorchServe's workers get (markit.ops.launch), before torch loads
        os.environ.setdefault(name, value)
    # the event loop shares the GIL with the batch threads: hand it over every 1 ms, not 5, so answers and new
    # requests do not wait behind a batch's Python work (benchmarks engines)
    sys.setswitchinterval(0.001)
    from .server import Options, serve  # kserve is imported here, after this command's own arguments are read

    options = Options(model_store=args.model_store, host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                      key_file=None if args.no_auth else args.key_file, trust=args.trust, pins=args.pins, settings=args.settings,
                      processes=args.processes, http_socket=args.http_socket, max_request_bytes=args.max_request_bytes,
                      open_metrics=args.open_metrics)
    try:
        return _run(serve(options))
    except MarkitError as err:
        return report("markit.engines.kserve", err)


def _without_processes(arguments: list[str]) -> list[str]:
    """The command line without ``--processes N`` (the children get their own)."""
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--processes":
            skip = True
        elif not argument.startswith("--processes="):
            kept.append(argument)
    return kept


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop's event loop where it is installed (kserve's own server picks it the same way), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    sys.exit(main())
