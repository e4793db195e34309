"""The command line both LitServe peers share (run by the LitServe venv's python, beside them on sys.path)."""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls


def serve(api_class: Any, description: str) -> None:
    """Parse ``--archive-dir --port --workers --batch-size --batch-timeout-ms [--fast-queue]`` and run LitServe with
    ``api_class(archive_dir, max_batch_size=..., batch_timeout=...)`` on the CPU."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--archive-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--batch-timeout-ms", type=float, default=0.0)
    parser.add_argument("--fast-queue", action="store_true", help="ZeroMQ between the API servers and the workers")
    args = parser.parse_args()
    api = api_class(args.archive_dir, max_batch_size=args.batch_size, batch_timeout=args.batch_timeout_ms / 1000)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=args.workers, fast_queue=args.fast_queue)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)
