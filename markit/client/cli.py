"""``python -m markit.client``: predictions, archive descriptions and model management from a shell.

    python -m markit.client list
    python -m markit.client predict tiny cat.png [--version 2.0]      # FILE, - (stdin), --json or --json-file
    python -m markit.client describe tiny [--version 2.0]             # the archive's manifest
    python -m markit.client status tiny [--version 2.0|all]
    python -m markit.client register tiny-2.0.mar [--name N] [--workers N] [--batch-size N] [--max-batch-delay MS]
    python -m markit.client unregister tiny [--version 1.0]
    python -m markit.client scale tiny --min 2 [--max 4] [--version 2.0]
    python -m markit.client set-default tiny 2.0

The server's addresses come from --config (default: config/config.properties when it exists) or
--inference/--management, which override it; the tokens from --key-file (default: ./key_file.json,
which TorchServe writes into its working directory). TorchServe's JSON answer is printed on stdout.
Exit codes: 0 TorchServe answered 2xx; 1 it answered with an error (its message on stderr, as it
is); 2 a usage error, a missing config or key file, or no connection (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

from ..errors import EXIT_FAILED, EXIT_OK, MarkitError, UsageError, report
from .client import NoManifest, Reply, TorchServeClient, connection_problem, manifest_of
from .properties import DEFAULT_ADDRESSES
from .tokens import APIS, KeyFile, TokenError

__all__ = ["DEFAULT_CONFIG", "DEFAULT_KEY_FILE", "build_parser", "connect", "error_line", "main"]

PROG = "tsctl"  # scripts/tsctl.sh runs this module
DEFAULT_CONFIG = Path("config") / "config.properties"
DEFAULT_KEY_FILE = Path("key_file.json")
EXIT_HTTP_ERROR = EXIT_FAILED  # TorchServe answered with an error


# -- commands: each returns TorchServe's reply ------------------------------------------------
def _predict(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    given = [source for source in (args.file, args.json, args.json_file) if source is not None]
    if len(given) != 1:
        raise UsageError("predict needs exactly one input: FILE, - (stdin), --json '{...}' or --json-file PATH")
    if args.json is not None:
        return client.predict_json(args.model, _parse_json(args.json, "--json"), args.version)
    if args.json_file is not None:
        return client.predict_json(args.model, _parse_json(_read(args.json_file).decode("utf-8"), str(args.json_file)), args.version)
    data = sys.stdin.buffer.read() if args.file == "-" else _read(Path(args.file))
    return client.predict_bytes(args.model, data, args.content_type or content_type_for(args.file), args.version)


def _describe(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    if args.version == "all":
        raise UsageError("describe needs one version: TorchServe sends no manifest for 'all'")
    reply = client.status(args.model, args.version, customized=True)
    if not reply.ok:
        return reply
    try:
        return Reply(reply.status, manifest_of(reply), reply.headers)
    except NoManifest as err:
        raise NoManifest(f"{args.model}: {err}") from err


def _list(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    return client.list_models(args.limit, args.page_token)


def _status(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    return client.status(args.model, args.version)


def _register(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    return client.register(args.url, model_name=args.name, initial_workers=args.workers, batch_size=args.batch_size,
                           max_batch_delay=args.max_batch_delay, synchronous=not args.no_wait)


def _unregister(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    return client.unregister(args.model, args.version)


def _scale(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    return client.scale(args.model, args.min, args.max, args.version, synchronous=not args.no_wait)


def _set_default(client: TorchServeClient, args: argparse.Namespace) -> Reply:
    return client.set_default(args.model, args.version)


# -- arguments --------------------------------------------------------------------------------
def _connection_options() -> argparse.ArgumentParser:
    """Accepted before or after the command; SUPPRESS keeps a subcommand from resetting what came before it."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection")
    group.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                       help=f"TorchServe's config.properties, for its addresses (default: {DEFAULT_CONFIG} if it exists)")
    group.add_argument("--inference", default=argparse.SUPPRESS, metavar="URL", help="inference API, overrides the config")
    group.add_argument("--management", default=argparse.SUPPRESS, metavar="URL", help="management API, overrides the config")
    group.add_argument("--key-file", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                       help=f"TorchServe's token file, in its working directory (default: ./{DEFAULT_KEY_FILE})")
    group.add_argument("--timeout", type=float, default=argparse.SUPPRESS, metavar="SECONDS", help="seconds per HTTP call (default 60)")
    return options


def _command(commands: argparse._SubParsersAction, name: str, run: Callable, help_text: str,
             common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = argparse.ArgumentParser(prog="python -m markit.client", parents=[common],
                                     description="Predictions, archive descriptions and model management on a running TorchServe.",
                                     epilog="exit codes: 0 success, 1 TorchServe answered with an error, 2 usage or connection error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_reading_commands(commands, common)
    _add_changing_commands(commands, common)
    return parser


def _add_reading_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    predict = _command(commands, "predict", _predict, "send an input to a model and print its answer", common)
    predict.add_argument("model")
    predict.add_argument("file", nargs="?", metavar="FILE|-", help="the request body; content type from the file name")
    predict.add_argument("--json", metavar="JSON", help="send this JSON document instead of a file")
    predict.add_argument("--json-file", type=Path, metavar="PATH", help="send this file's JSON document")
    predict.add_argument("--content-type", help="override the content type guessed from FILE (stdin: application/octet-stream)")
    predict.add_argument("--version", help="ask this version, not the default one")
    describe = _command(commands, "describe", _describe, "print the archive's manifest", common)
    describe.add_argument("model")
    describe.add_argument("--version", help="default: the default version")
    listing = _command(commands, "list", _list, "list registered models (one entry per name)", common)
    listing.add_argument("--limit", type=int, help="at most this many (TorchServe's default is 100)")
    listing.add_argument("--page-token", help="the nextPageToken of the previous page")
    status = _command(commands, "status", _status, "print a model's status and workers", common)
    status.add_argument("model")
    status.add_argument("--version", help="one version, or 'all' (default: the default version)")


def _add_changing_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    register = _command(commands, "register", _register, "register an archive from the model store (or an allowed URL)", common)
    register.add_argument("url", help="a .mar file name in the model store, or an allowed URL")
    register.add_argument("--name", help="register under this model name instead of the archive's")
    register.add_argument("--workers", type=int, help="initial workers (the archive's serving.workers wins if it sets them)")
    register.add_argument("--batch-size", type=int)
    register.add_argument("--max-batch-delay", type=int, metavar="MS")
    register.add_argument("--no-wait", action="store_true", help="return before the workers are started")
    unregister = _command(commands, "unregister", _unregister, "unregister a version of a model", common)
    unregister.add_argument("model")
    unregister.add_argument("--version", help="default: the default version (refused while other versions are registered)")
    scale = _command(commands, "scale", _scale, "set a model version's number of workers", common)
    scale.add_argument("model")
    scale.add_argument("--min", type=int, required=True, metavar="N")
    scale.add_argument("--max", type=int, metavar="N", help="default: the same as --min (TorchServe's default)")
    scale.add_argument("--version", help="default: the default version")
    scale.add_argument("--no-wait", action="store_true", help="return before the workers are started or stopped")
    set_default = _command(commands, "set-default", _set_default, "make VERSION the one /predictions/MODEL answers from", common)
    set_default.add_argument("model")
    set_default.add_argument("version")


# -- connection and output --------------------------------------------------------------------
def connect(args: argparse.Namespace) -> TorchServeClient:
    """The client for --config/--inference/--management/--key-file; UsageError when a file is missing."""
    config: Path | None = getattr(args, "config", None)
    if config is not None and not config.is_file():
        raise UsageError(f"config file not found: {config}")
    if config is None and DEFAULT_CONFIG.is_file():
        config = DEFAULT_CONFIG
    key_file = getattr(args, "key_file", DEFAULT_KEY_FILE)
    timeout = getattr(args, "timeout", 60.0)
    base = (TorchServeClient.from_config(config, key_file, timeout) if config is not None
            else TorchServeClient(DEFAULT_ADDRESSES["inference"], DEFAULT_ADDRESSES["management"], key_file, timeout))
    client = TorchServeClient(getattr(args, "inference", base.inference_url), getattr(args, "management", base.management_url),
                              base.key_file, timeout)
    if client.key_file is not None:
        _check_key_file(client.key_file)
    return client


def _check_key_file(path: Path) -> None:
    """Read before any call, so a missing file is named (absolute: the server's working directory matters)."""
    try:
        for api in APIS:
            KeyFile(path.absolute()).token(api)
    except TokenError as err:
        raise UsageError(str(err)) from err


def content_type_for(name: str) -> str:
    """From the file name, as ``markit.offline.local_archive.content_type_for`` (not imported: it loads torch)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from err


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise UsageError(f"{source} is not valid JSON: {err}") from err


def _print_all(reply: Reply) -> int:
    """``_print``; when the reader stops early (``| head``) the exit code still says what TorchServe answered."""
    try:
        code = _print(reply)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        code = EXIT_OK if reply.ok else EXIT_HTTP_ERROR
    return code


# TorchServe 0.12 answers this one message both when the model's queue is full and when it has no worker
NO_WORKER = "has no worker to serve inference request"
NO_WORKER_HINT = ("TorchServe says this when the model's queue is full (job_queue_size) as well as when it has no READY "
                  "worker; the client retried for up to 20 s. See 'status MODEL' for its workers; add workers in "
                  "config/models.yaml or raise job_queue_size, or send fewer requests at once")


def _print(reply: Reply) -> int:
    if reply.ok:
        print(reply.body if isinstance(reply.body, str) else json.dumps(reply.body, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(error_line(reply), file=sys.stderr)
    return EXIT_HTTP_ERROR


def error_line(reply: Reply) -> str:
    """``HTTP 404 ModelNotFoundException: Model not found: nope``: TorchServe's message as it is, and for its
    503 "no worker", what it leaves out."""
    body = reply.body
    if isinstance(body, dict) and "message" in body:
        kind = f" {body['type']}" if body.get("type") else ""
        hint = f" ({NO_WORKER_HINT})" if reply.status == 503 and NO_WORKER in str(body["message"]) else ""
        return f"HTTP {reply.status}{kind}: {body['message']}{hint}"
    return f"HTTP {reply.status}: {body if isinstance(body, str) else json.dumps(body)}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _print_all(args.run(connect(args), args))
    except MarkitError as err:
        return report(PROG, err)
    except requests.RequestException as err:
        return report(PROG, UsageError(connection_problem(err)))
