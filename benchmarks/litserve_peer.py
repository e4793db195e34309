"""LitServe 0.2.19 serving the same graph as our archives: a benchmark peer for images and for text.

The peer runs from a venv of its own (``.bench/litserve-venv``, created once like the stock venv) holding
``litserve==0.2.19`` and the same releases of torch (2.13.0 CPU, installed in the same pip call so nothing
pulls a CUDA build), onnxruntime, Pillow, numpy and tokenizers as the project's, so a difference measured is
the server's, not a library's. Its servers are the scripts in ``benchmarks/peers/``, ordinary ``LitAPI`` code
that reads what it needs from the unpacked archive:

- ``litserve_image.py``: the archive's ONNX graph (``model/model.onnx``) in onnxruntime, Pillow preprocessing
  with the manifest's resize, crop, interpolation, mean and std, softmax and top-k with the archive's labels;
- ``litserve_text.py``: the archive's ``torch.export`` program (its fallback beside the AOTInductor package),
  tokenized by ``tokenizers`` with the archive's tokenizer, max length, padding, pooling and normalization.

Both take the body our archive takes (``image_body``: ``{"data": base64}``; ``text_body``: a JSON string) and
run with the archive's serving section: workers (``workers_per_device``), batch size and delay
(``max_batch_size``, ``batch_timeout``), threads. LitServe's API key is on (``LIT_SERVER_API_KEY``): a client
sends it as ``X-API-Key`` (``LitServePeer.headers``), as ours is sent a bearer token.

:func:`verify_litserve` compares its answer with our archive's own (in process) before anything is measured::

    with start_litserve("image", archive, root) as peer:
        print(verify_litserve(peer, archive, image_body()))
        run_wrk(peer.url, body.data, body.content_type, peer.token, headers=peer.headers, connections=8, seconds=10)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks.bodies import Body, coffee_jpeg, json_base64, json_text
from benchmarks.servers import REPO, THREAD_VARIABLES
from markit.errors import MarkitError, report
from markit.ops.load.cpu import PROC, CpuWatch
from markit.ops.load.stats import LoadResult

__all__ = ["API_KEY_HEADER", "Agreement", "KINDS", "LITSERVE_VENV", "PACKAGES", "SENTENCE", "LitServeError", "LitServePeer", "PeerSettings",
           "body_for", "compare_classifications", "compare_embeddings", "ensure_litserve_venv", "group_pids", "image_body",
           "kind_of", "main", "peer_settings", "server_command", "start_litserve", "text_body", "verify_litserve"]

LITSERVE_VENV = REPO / ".bench" / "litserve-venv"
# torch first and pinned: litserve needs no torch, and nothing else may resolve one (a bare torch is a CUDA build);
# the others at the project's own releases (deploy/container/constraints.txt)
PACKAGES = ("torch==2.13.0", "litserve==0.2.19", "onnxruntime==1.32.0", "pillow==13.0.0", "numpy==2.4.6",
            "tokenizers==0.23.3")
PEERS = Path(__file__).resolve().parent / "peers"
KINDS = {"image": "image_classification", "text": "text_embedding"}  # kind -> the archive task it serves
SCRIPTS = {"image": PEERS / "litserve_image.py", "text": PEERS / "litserve_text.py"}
API_KEY_HEADER = "X-API-Key"  # LitServe's api_key_auth (litserve/server.py)
PREDICT_PATH = "/predict"  # LitAPI's default api_path
SENTENCE = "A man is eating a piece of bread at the table."  # benchmarks/text_model.py's first short text
TOLERANCE = 1e-3  # images: |probability difference| per label
MIN_COSINE = 0.9999  # text: cosine similarity of the two embeddings
READY_TIMEOUT = 300.0  # s: a busy machine loading torch in several processes
STOP_TIMEOUT = 10.0  # s: after SIGTERM, before SIGKILL of the whole group


class LitServeError(MarkitError):
    """The LitServe venv could not be made, its server did not start, or its answer differs from our archive's."""


def ensure_litserve_venv(venv: Path = LITSERVE_VENV, progress: Callable[[str], None] = print) -> Path:
    """The LitServe venv's directory, created and installed the first time (the stamp makes it once)."""
    stamp = venv / ".bench-packages"
    want = "\n".join(PACKAGES) + "\n"
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == want:
        return venv
    progress(f"creating {venv} with {' '.join(PACKAGES)} (once) ...")
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
    if not python.exists():
        _run([base, "-m", "venv", str(venv)], "creating the LitServe venv")
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES], "installing the LitServe venv")
    stamp.write_text(want, encoding="utf-8")
    return venv


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LitServeError(f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def kind_of(archive: Path) -> str:
    """``image`` or ``text``: the peer that serves ``archive``'s task (read from its manifest.json)."""
    try:
        with zipfile.ZipFile(archive) as mar:
            task = json.loads(mar.read("manifest.json"))["spec"]["task"]
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        raise LitServeError(f"{archive}: no readable manifest.json spec.task ({type(err).__name__}: {err})") from err
    for kind, served in KINDS.items():
        if served == task:
            return kind
    raise LitServeError(f"{archive.name}: task {task!r} has no LitServe peer; the peers serve {sorted(KINDS.values())}")


@dataclass(frozen=True)
class PeerSettings:
    """What the LitServe server is told: inference workers, batch size, batch timeout (ms), and whether its queue
    is ZeroMQ (``fast_queue``, which LitServe's docs suggest above 100 requests/s)."""

    workers: int
    batch_size: int
    batch_timeout_ms: float
    fast_queue: bool = False


def peer_settings(serving: Mapping[str, Any], *, workers: int | None = None, batch_size: int | None = None,
                  batch_timeout_ms: float | None = None, fast_queue: bool = False) -> PeerSettings:
    """The archive's serving section (manifest ``spec.serving``) with any of its values replaced."""
    chosen = PeerSettings(workers if workers is not None else int(serving["workers"]),
                          batch_size if batch_size is not None else int(serving["batch_size"]),
                          batch_timeout_ms if batch_timeout_ms is not None else float(serving["max_batch_delay"]), fast_queue)
    for name, least in (("workers", 1), ("batch_size", 1), ("batch_timeout_ms", 0)):
        if getattr(chosen, name) < least:
            raise LitServeError(f"{name}={getattr(chosen, name)}: expected at least {least}")
    return chosen


def server_command(kind: str, python: Path, archive_dir: Path, port: int, settings: PeerSettings) -> list[str]:
    """The command that runs ``kind``'s LitServe server on ``port`` for the unpacked archive at ``archive_dir``."""
    if kind not in SCRIPTS:
        raise LitServeError(f"kind {kind!r}: expected one of {sorted(SCRIPTS)}")
    return [str(python), str(SCRIPTS[kind]), "--archive-dir", str(archive_dir), "--port", str(port),
            "--workers", str(settings.workers), "--batch-size", str(settings.batch_size),
            "--batch-timeout-ms", f"{settings.batch_timeout_ms:g}", *(["--fast-queue"] if settings.fast_queue else [])]


def group_pids(group: int, proc: Path = PROC) -> list[int]:
    """The live processes of process group ``group`` (the LitServe server, its API servers and workers), zombies not."""
    pids = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):  # ended meanwhile
                continue
            if int(fields[2]) == group and fields[0] != "Z":  # after the command: state, ppid, pgrp; zombies are gone
                pids.append(int(entry.name))
    return sorted(pids)


class LitServePeer:
    """A started LitServe server: where to send, what to send with it, and which processes it runs."""

    token = None  # no bearer token: LitServe's key goes in ``headers``

    def __init__(self, kind: str, process: subprocess.Popen, port: int, api_key: str, settings: PeerSettings, log: Path) -> None:
        self.kind, self.process, self.port, self.api_key, self.settings, self.log = kind, process, port, api_key, settings, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREDICT_PATH}"

    @property
    def headers(self) -> dict[str, str]:
        return {API_KEY_HEADER: self.api_key}

    @property
    def group(self) -> int:
        """The server's process group (started in a session of its own): ``markit.ops.load.cpu.CpuWatch(group)``."""
        return self.process.pid

    @property
    def pids(self) -> list[int]:
        """The server's processes now: main, its manager, its API servers and inference workers."""
        return group_pids(self.group)

    def watched(self, run: Callable[[], LoadResult]) -> LoadResult:
        """``run()``'s result with the cores the server, the generator and other processes kept busy meanwhile."""
        with CpuWatch(self.group) as watch:
            result = run()
        return dataclasses.replace(result, cores=dataclasses.replace(watch.share, frontend=None))  # no Java frontend

    def log_tail(self, characters: int = 4000) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return text[-characters:]


@contextmanager
def start_litserve(kind: str, archive: Path, root: Path, *, workers: int | None = None, batch_size: int | None = None,
                   batch_timeout_ms: float | None = None, fast_queue: bool = False, venv: Path = LITSERVE_VENV,
                   env: Mapping[str, str] | None = None, ready_timeout: float = READY_TIMEOUT) -> Iterator[LitServePeer]:
    """LitServe serving ``archive`` (checked and unpacked under ``root``) on a free loopback port, with the
    archive's serving section unless a setting is given; ready (``/health`` answers 200) when yielded, and its
    whole process group killed on exit. ``env`` adds to the server's environment (thread variables are not
    inherited from this one)."""
    from markit.archive.unpack import unpack_verified
    from markit.ops.ports import free_port

    unpacked = unpack_verified(Path(archive), Path(root) / "archive").directory
    spec = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))["spec"]
    if KINDS.get(kind) != spec["task"]:
        raise LitServeError(f"kind {kind!r} serves {KINDS.get(kind)}, but {Path(archive).name} is {spec['task']!r}; "
                            f"use kind {kind_of(Path(archive))!r}")
    settings = peer_settings(spec["serving"], workers=workers, batch_size=batch_size, batch_timeout_ms=batch_timeout_ms,
                             fast_queue=fast_queue)
    port, api_key = free_port(), secrets.token_urlsafe(24)
    environment = {name: value for name, value in os.environ.items() if name not in THREAD_VARIABLES}
    environment.update({**(env or {}), "LIT_SERVER_API_KEY": api_key})
    python, log = Path(venv) / "bin" / "python", Path(root) / "litserve.log"
    if not python.exists():
        raise LitServeError(f"{python} does not exist: ensure_litserve_venv({str(venv)!r}) creates the LitServe venv")
    with log.open("wb") as output:
        process = subprocess.Popen(server_command(kind, python, unpacked, port, settings), cwd=root,
                                   env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    peer = LitServePeer(kind, process, port, api_key, settings, log)
    try:
        _wait_ready(peer, ready_timeout)
        yield peer
    finally:
        _stop(process)


def _wait_ready(peer: LitServePeer, timeout: float) -> None:
    """Until ``/health`` answers 200 (every worker set up); LitServeError with the log if it exits or times out."""
    deadline = time.monotonic() + timeout
    health = f"http://127.0.0.1:{peer.port}/health"
    while time.monotonic() < deadline:
        if peer.process.poll() is not None:
            raise LitServeError(f"LitServe exited with {peer.process.returncode} before it was ready; its log:\n{peer.log_tail()}")
        with suppress(requests.RequestException):
            if requests.get(health, headers=peer.headers, timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise LitServeError(f"LitServe not ready after {timeout:.0f} s ({health}); its log:\n{peer.log_tail()}")


def _stop(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the server's whole process group, and SIGKILL to what is left of it after ``timeout``."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process.poll()  # reaps the main process once it exits
            if not group_pids(process.pid):  # (a zombie is not listed: reap it)
                process.wait(timeout=timeout)
                return
            time.sleep(0.1)
    raise LitServeError(f"LitServe's processes {group_pids(process.pid)} outlived SIGKILL for {timeout:.0f} s")


def image_body(photo: Body | None = None) -> Body:
    """``{"data": base64}`` of the photo (default: the benchmarks' coffee JPEG): the body both servers take."""
    return json_base64(photo or coffee_jpeg())


def text_body(text: str = SENTENCE) -> Body:
    """The text as a JSON string: the body both servers take (ours also takes text/plain, LitServe only JSON)."""
    return json_text(text)


def body_for(kind: str) -> Body:
    """The benchmark body for ``kind``: the coffee photo, or the short sentence."""
    if kind not in KINDS:
        raise LitServeError(f"kind {kind!r}: expected one of {sorted(KINDS)}")
    return image_body() if kind == "image" else text_body()


@dataclass(frozen=True)
class Agreement:
    """How closely LitServe's answer matched our archive's: ``measure`` is ``value``; ``detail`` says the rest."""

    measure: str
    value: float
    detail: str
    shown: str = ".2e"  # the value's format in ``summary``

    def summary(self) -> str:
        return f"{self.measure} {self.value:{self.shown}}; {self.detail}"


def compare_classifications(ours: Mapping[str, Any], theirs: Mapping[str, Any], tolerance: float = TOLERANCE) -> Agreement:
    """Same top-1 label, and every label of ours in theirs with a probability within ``tolerance``."""
    mine, other = _predictions(ours, "our archive"), _predictions(theirs, "LitServe")
    if mine[0]["label"] != other[0]["label"]:
        raise LitServeError(f"top-1 differs: ours {mine[0]['label']!r} ({mine[0]['probability']:.4f}), "
                            f"LitServe {other[0]['label']!r} ({other[0]['probability']:.4f})")
    found = {item["label"]: float(item["probability"]) for item in other}
    missing = [item["label"] for item in mine if item["label"] not in found]
    if missing:
        raise LitServeError(f"LitServe's top {len(other)} lacks {missing} of ours: {[item['label'] for item in other]}")
    worst = max(abs(float(item["probability"]) - found[item["label"]]) for item in mine)
    if not worst <= tolerance:
        raise LitServeError(f"probabilities differ by up to {worst:.2e}, more than {tolerance:g}: ours {mine}, LitServe {other}")
    return Agreement("max |probability difference|", worst, f"same top-1 {mine[0]['label']!r} and {len(mine)} labels")


def _predictions(answer: Mapping[str, Any], who: str) -> list[dict[str, Any]]:
    predictions = answer.get("predictions") if isinstance(answer, Mapping) else None
    if not isinstance(predictions, list) or not predictions:
        raise LitServeError(f"{who} answered no predictions: {str(answer)[:300]}")
    return predictions


def compare_embeddings(ours: Mapping[str, Any], theirs: Mapping[str, Any], min_cosine: float = MIN_COSINE) -> Agreement:
    """The two embeddings of one length, with a cosine similarity of at least ``min_cosine``."""
    mine, other = _embedding(ours, "our archive"), _embedding(theirs, "LitServe")
    if len(mine) != len(other):
        raise LitServeError(f"embeddings of different lengths: ours {len(mine)}, LitServe {len(other)}")
    norms = math.sqrt(sum(v * v for v in mine)) * math.sqrt(sum(v * v for v in other))
    cosine = sum(a * b for a, b in zip(mine, other, strict=True)) / norms if norms else 0.0
    if not cosine >= min_cosine:
        raise LitServeError(f"cosine similarity {cosine:.6f} of the embeddings is below {min_cosine}: ours starts "
                            f"{mine[:3]}, LitServe {other[:3]}")
    return Agreement("cosine similarity", cosine, f"{len(mine)} dimensions", ".8f")


def _embedding(answer: Mapping[str, Any], who: str) -> list[float]:
    vector = answer.get("embedding") if isinstance(answer, Mapping) else None
    if not isinstance(vector, list) or not vector:
        raise LitServeError(f"{who} answered no embedding: {str(answer)[:300]}")
    return [float(v) for v in vector]


def verify_litserve(peer: LitServePeer, archive: Path, body: Body, *, tolerance: float = TOLERANCE,
                    min_cosine: float = MIN_COSINE, timeout: float = 120.0) -> Agreement:
    """Send ``body`` to LitServe and to ``archive`` in process (``LocalArchive``, the code path a worker takes);
    LitServeError unless both answer 200 and agree (images: ``compare_classifications``; text:
    ``compare_embeddings``), and unless LitServe refuses the body without its API key."""
    from markit.offline import LocalArchive, LocalRequest

    sent = {"Content-Type": body.content_type}
    refused = requests.post(peer.url, data=body.data, headers=sent, timeout=timeout)
    if refused.status_code not in (401, 403):
        raise LitServeError(f"LitServe answered {refused.status_code} without its {API_KEY_HEADER}: is its API key off?")
    answered = requests.post(peer.url, data=body.data, headers={**sent, **peer.headers}, timeout=timeout)
    if answered.status_code != 200:
        raise LitServeError(f"LitServe answered {answered.status_code}: {answered.text[:500]}\nits log:\n{peer.log_tail()}")
    with LocalArchive(Path(archive), batch_size=1) as local:
        ours = local.predict([LocalRequest.raw(body.data, body.content_type)])[0]
    if ours.status != 200:
        raise LitServeError(f"our archive answered {ours.status} to the same body: {str(ours.body)[:500]}")
    compare = compare_classifications if peer.kind == "image" else compare_embeddings
    limit = tolerance if peer.kind == "image" else min_cosine
    agreement = compare(ours.body, answered.json(), limit)
    return dataclasses.replace(agreement, detail=f"{agreement.detail}; without {API_KEY_HEADER}: {refused.status_code}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.litserve_peer", description=__doc__.splitlines()[0] + (
        ": set up its venv, serve the archive, check its answer against the archive's, and one short closed loop"))
    parser.add_argument("--archive", type=Path, required=True, help="an image_classification or text_embedding .mar")
    parser.add_argument("--kind", choices=sorted(KINDS), help="image or text (default: from the archive's task)")
    parser.add_argument("--venv", type=Path, default=LITSERVE_VENV, help=f"the LitServe venv (default {LITSERVE_VENV})")
    parser.add_argument("--workers", type=int, help="inference workers (default: the archive's serving.workers)")
    parser.add_argument("--batch-size", type=int, help="max_batch_size (default: the archive's serving.batch_size)")
    parser.add_argument("--batch-timeout-ms", type=float, help="batch_timeout in ms (default: serving.max_batch_delay)")
    parser.add_argument("--fast-queue", action="store_true", help="LitServer(fast_queue=True): ZeroMQ queues")
    parser.add_argument("--connections", type=int, default=8, help="wrk's requests in flight (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="the closed loop's length (default 5)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from markit.ops.load.wrk import run_wrk

    args = _parser().parse_args(argv)
    say = _progress
    try:
        kind = args.kind or kind_of(args.archive)
        venv = ensure_litserve_venv(args.venv, progress=say)
        body = body_for(kind)
        with tempfile.TemporaryDirectory(prefix="bench-litserve-") as tmp, \
                start_litserve(kind, args.archive, Path(tmp), workers=args.workers, batch_size=args.batch_size,
                               batch_timeout_ms=args.batch_timeout_ms, fast_queue=args.fast_queue, venv=venv) as peer:
            say(f"LitServe ({kind}) at {peer.url}: {peer.settings}, processes {peer.pids}")
            agreement = verify_litserve(peer, args.archive, body)
            print(f"agrees with {args.archive.name}: {agreement.summary()}")
            result = peer.watched(lambda: run_wrk(peer.url, body.data, body.content_type, peer.token, headers=peer.headers,
                                                  connections=args.connections, seconds=args.seconds))
            print(f"LitServe, {body.label}, {result.generator}, {args.seconds:g} s: {result.summary()}")
    except MarkitError as err:
        return report("litserve_peer", err)
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
