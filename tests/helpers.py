"""Test helpers: a tiny real model archive built from a spec written on the fly."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny"


def complete_spec(partial: dict[str, Any]) -> dict[str, Any]:
    """A manifest's spec for a handler made without a build: ``partial`` (the task's sections, what the test is about)
    with the sections every archive has filled in where it gives none, so it reads as a built one's would."""
    common = {"name": "test", "version": "1.0",
              "model": {"format": "eager", "source": "model/model.py", "class": "Model", "weights": "model/weights.safetensors"},
              "serving": {"workers": 1, "batch_size": 1, "max_batch_delay": 100, "response_timeout": 120, "torch_threads": 1},
              "metadata": {}, "golden": [{"input": "golden/0_in.json", "expected": None, "tolerance": 0.001}],
              "budgets": {"request_bytes": 1 << 20}}
    return {**common, **partial}


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def train_example(example: Path, output: Path) -> str:
    """Run an example's ``train.py --output OUTPUT`` (its build/ goes there); what it printed. Fails the test on a
    non-zero exit, with its output."""
    run = subprocess.run([sys.executable, str(example / "train.py"), "--output", str(output)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def import_file(path: Path, name: str) -> ModuleType:
    """Import a Python file that is not on sys.path (test data, example scripts)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_model(seed: int = 0) -> torch.nn.Module:
    """The eager TinyNet with deterministic weights, imported straight from the test data file."""
    module = import_file(TINY / "tiny_model.py", "tiny_model_for_tests")
    torch.manual_seed(seed)
    return module.TinyNet().eval()


TINY_PREPROCESS = {"color_mode": "RGB", "resize": 16, "center_crop": 16, "interpolation": "bilinear",
                   "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def write_tiny_spec(directory: Path, expected: Any = None, seed: int = 0, **overrides: Any) -> Path:
    """Lay out a complete tiny spec (source, .pth weights of ``tiny_model(seed)``, labels, golden PNG) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TINY / "tiny_model.py", directory / "tiny_model.py")
    shutil.copyfile(TINY / "labels.txt", directory / "labels.txt")
    torch.save(tiny_model(seed).state_dict(), directory / "weights.pth")
    (directory / "red.png").write_bytes(png_bytes((220, 20, 30)))
    spec: dict[str, Any] = {
        "name": "tiny",
        "version": "1.0",
        "task": "image_classification",
        "model": {"source": "tiny_model.py", "class": "TinyNet", "weights": "weights.pth"},
        "preprocess": dict(TINY_PREPROCESS),
        "labels": "labels.txt",
        "postprocess": {"top_k": 3},
        "serving": {"workers": 1, "batch_size": 4, "max_batch_delay": 100},
        "metadata": {"description": "tiny test model", "capabilities": ["testing"]},
        "golden": [{"input": "red.png", "expected": expected if expected is not None else reference_answer(seed), "tolerance": 1e-4}],
    }
    spec.update(overrides)
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def reference_answer(seed: int = 0) -> dict[str, Any]:
    """The golden answer for red.png computed independently: eager ``tiny_model(seed)`` + numpy preprocessing, no handler code."""
    import numpy as np

    array = np.full((16, 16, 3), (220, 20, 30), dtype=np.float32) / 255.0  # a flat image stays flat
    tensor = torch.from_numpy(((array - 0.5) / 0.25).transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        probabilities = torch.softmax(tiny_model(seed)(tensor)[0], dim=0)
    order = torch.argsort(probabilities, descending=True).tolist()
    labels = ["red", "green", "blue"]
    return {"predictions": [{"label": labels[i], "probability": round(float(probabilities[i]), 6)} for i in order]}


def write_convention_spec(directory: Path, cls: str = "Scorer", **model: Any) -> Path:
    """A convention spec around tests/data/tiny/tiny_convention.py with a scale artifact and golden inputs."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TINY / "tiny_convention.py", directory / "tiny_convention.py")
    (directory / "scale.json").write_text('{"scale": 0.5}')
    torch.manual_seed(0)
    torch.save({f"linear.{k}": v for k, v in torch.nn.Linear(4, 1).state_dict().items()}, directory / "weights.pth")
    (directory / "a.json").write_text("[1, 2, 3, 4]")
    (directory / "b.json").write_text("[0, 0, 1, 0]")
    spec: dict[str, Any] = {
        "name": "scorer",
        "version": "1",
        "task": "convention",
        "model": {"source": "tiny_convention.py", "class": cls, "weights": "weights.pth",
                  "artifacts": {"scale": {"file": "scale.json"}, "label": {"value": "tiny-score"}}, **model},
        "golden": [{"input": "a.json", "expected": {"result": {"label": "tiny-score"}}},
                   {"input": "b.json", "expected": {"result": {"label": "tiny-score"}}}],
    }
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def concurrently(calls: list) -> list:
    """Send requests at the same time, so TorchServe batches them; their replies, in call order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def quiet(_: str) -> None:
    """A build's progress, discarded."""


def json_request(value: Any) -> Any:
    """A JSON body as a local request (markit.offline.LocalRequest), as a client posts it."""
    from markit.offline import LocalRequest

    return LocalRequest.raw(json.dumps(value).encode(), "application/json")


def build_formats(spec: Path, root: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """The same spec built once per ``model.format``: {format: NAME.mar}."""
    from markit.builder import build_archive

    return {fmt: build_archive(spec, root / fmt, progress=quiet, overrides=[f"model.format={fmt}"]).path for fmt in formats}


def mar_manifest(mar: Path) -> dict:
    """The manifest.json inside a .mar."""
    with zipfile.ZipFile(mar) as archive:
        return json.loads(archive.read("manifest.json"))


def unpacked(mar: Path, root: Path) -> Path:
    """The .mar extracted into ``root``, as a worker's model directory."""
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(root)
    return root


SERVING = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 4, "maxBatchDelay": 100, "responseTimeout": 120}


def stand_in_mar(path: Path, name: str = "tiny", version: str = "1.0", torch_threads: int = 1, **settings: int | None) -> Path:
    """A .mar holding only what markit.ops reads (MAR-INF/MANIFEST.json, model-config.yaml, manifest.json):
    for unit tests of the tooling, which need no model. tests/build checks the builder writes the same."""
    config = {key: value for key, value in {**SERVING, **settings}.items() if value is not None}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("MAR-INF/MANIFEST.json", json.dumps(
            {"runtime": "python", "model": {"modelName": name, "modelVersion": version, "configFile": "model-config.yaml"}}))
        archive.writestr("model-config.yaml", yaml.safe_dump(config))
        archive.writestr("manifest.json", json.dumps({"spec": {"name": name, "serving": {"torch_threads": torch_threads}}}))
    return path


def tamper(source: Path, target: Path, name: str, data: bytes) -> None:
    """A copy of the archive ``source`` at ``target`` with the member ``name`` replaced by ``data``."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as changed:
        for info in original.infolist():
            changed.writestr(info, data if info.filename == name else original.read(info.filename))


class RowSum(torch.nn.Module):
    """Each row's inputs summed: a model whose regression answers are easy to check by hand."""

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.sum(dim=1, keepdim=True)


class Counted:
    """An ``exchange.Metrics`` that remembers what was counted."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, dict[str, str]]] = []

    def count(self, name: str, dimensions) -> None:
        self.counted.append((name, dict(dimensions)))


def write_key(directory: Path, name: str, key=None) -> tuple[Path, Path]:
    """A private key (PEM, PKCS#8) and its public key (PEM) in ``directory``."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def dev_tool(name: str) -> str:
    """A command-line tool the dev extra installs beside this interpreter (hadolint, shellcheck, kubectl)."""
    bin_dir = Path(sys.executable).parent
    path = shutil.which(name, path=str(bin_dir))
    assert path, f"{name} is not installed in {bin_dir}: pip install -e '.[dev]'"
    return path


def docker_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]



SEQ_INPUTS = ["<pad>", "</s>", "a", "b", "c", "d"]
SEQ_OUTPUTS = ["<s>", "</s>", "A", "B", "C", "D"]
SEQ_SEARCH = {"beam_width": 3, "num_candidates": 2, "max_length": 6, "length_penalty": 0.0,
              "maxima": {"beam_width": 6, "num_candidates": 6, "max_length": 8, "length_penalty": 2.0}}


def tiny_seq2seq(seed: int = 0) -> torch.nn.Module:
    """The eager TinySeq2Seq with deterministic weights."""
    module = import_file(TINY / "tiny_seq2seq.py", "tiny_seq2seq_for_tests")
    torch.manual_seed(seed)
    return module.TinySeq2Seq().eval()


def greedy_reference(model: torch.nn.Module, text: str, max_length: int) -> str:
    """Greedy decoding written out independently of the handler (argmax over all but <s>, stop at </s>)."""
    ids = [SEQ_INPUTS.index(c) for c in text] + [1]
    with torch.inference_mode():
        state = model.encode(torch.tensor([ids]), torch.tensor([len(ids)]))
        previous, found = torch.tensor([0]), []
        for _ in range(max_length):
            logits, state = model.decode_step(previous, state)
            logits[0, 0] = float("-inf")
            symbol = int(logits[0].argmax())
            if symbol == 1:
                break
            found.append(SEQ_OUTPUTS[symbol])
            previous = torch.tensor([symbol])
    return " ".join(found)


def write_seq2seq_spec(directory: Path, seed: int = 0, **overrides: Any) -> Path:
    """A seq2seq spec around tests/data/tiny/tiny_seq2seq.py: symbol tables, a search, greedy golden answers."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TINY / "tiny_seq2seq.py", directory / "tiny_seq2seq.py")
    model = tiny_seq2seq(seed)
    torch.save(model.state_dict(), directory / "weights.pth")
    (directory / "inputs.json").write_text(json.dumps(SEQ_INPUTS))
    (directory / "outputs.json").write_text(json.dumps(SEQ_OUTPUTS))
    words = ["abc", "dcba", "b", "cab"]
    (directory / "greedy.json").write_text(json.dumps({"text": words, "beam_width": 1, "num_candidates": 1}))
    expected = {"results": [{"input": w, "candidates": [{"output": greedy_reference(model, w, 6)}]} for w in words]}
    spec: dict[str, Any] = {
        "name": "tiny_seq2seq",
        "version": "1.0",
        "task": "seq2seq",
        "model": {"source": "tiny_seq2seq.py", "class": "TinySeq2Seq", "weights": "weights.pth"},
        "symbols": {"input": {"file": "inputs.json", "pad": "<pad>", "end": "</s>", "lowercase": True, "map": {"-": "</s>"}},
                    "output": {"file": "outputs.json", "start": "<s>", "end": "</s>", "never": ["<s>"], "join": " "}},
        "search": json.loads(json.dumps(SEQ_SEARCH)),
        "budgets": {"texts": 8, "text_chars": 12},
        "serving": {"workers": 1, "batch_size": 4, "max_batch_delay": 100},
        "metadata": {"description": "tiny seq2seq test model"},
        "golden": [{"input": "greedy.json", "expected": expected}],
    }
    spec.update(overrides)
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def read_properties_text(text: str) -> dict[str, str]:
    """``key=value`` lines as KServe's wrapper reads them: split at the first '=', no escapes."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def install_echo_task(root: Path) -> Path:
    """The throwaway ``echo`` task (tests/data/echo_task) as an installed package registering it by entry point:
    the folder and one registration, under ``root``; returns the directory to put on ``sys.path``."""
    site = root / "site"
    shutil.copytree(Path(__file__).parent / "data" / "echo_task", site / "echo_task")
    info = site / "echo_task-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-task\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[markit.tasks]\necho = echo_task\n")
    return site


def write_echo_spec(directory: Path) -> Path:
    """A spec of task ``echo`` around tests/data/tiny/echo_model.py, with a golden input."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TINY / "echo_model.py", directory / "echo_model.py")
    torch.manual_seed(0)
    torch.save({f"linear.{k}": v for k, v in torch.nn.Linear(4, 1).state_dict().items()}, directory / "weights.pth")
    (directory / "a.json").write_text("[1, 2, 3, 4]")
    spec = {"name": "echo", "version": "1", "task": "echo", "echo": {"reply": "hi"},
            "model": {"source": "echo_model.py", "class": "Linear4", "weights": "weights.pth"},
            "golden": [{"input": "a.json", "expected": {"reply": "hi"}}]}
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def write_pipeline_spec(directory: Path, name: str, steps: dict[str, Path], graph: list[dict[str, Any]], output: dict[str, str],
                        golden: list[tuple[str, bytes, Any]], **extra: Any) -> Path:
    """A pipeline spec over built step archives (each pinned to its identity as verify_mar reads it), with the tiny
    pipelines' functions as its source and ``golden``: (file name, its bytes, expected)."""
    from markit.archive.verify import verify_mar

    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TINY / "tiny_pipeline.py", directory / "tiny_pipeline.py")
    for file, data, _ in golden:
        (directory / file).write_bytes(data)
    spec: dict[str, Any] = {
        "name": name, "version": "1.0", "task": "pipeline",
        "steps": {step: {"archive": str(mar), "identity": verify_mar(mar)} for step, mar in steps.items()},
        "source": "tiny_pipeline.py", "graph": graph, "output": output,
        "serving": {"workers": 1, "batch_size": 4, "max_batch_delay": 100},
        "golden": [{"input": file, "expected": expected} for file, _, expected in golden],
        **extra,
    }
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def started(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``python -c code args`` with this checkout importable, and the first line it prints (once it has)."""
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=REPO,
                               env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)})
    return process, process.stdout.readline().strip()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL, as the OOM killer or a worker's response timeout ends a process: nothing of it runs after."""
    process.send_signal(signal.SIGKILL)
    process.wait()
