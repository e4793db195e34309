"""Answer many inputs with an archive's own handler code, without a server.

    python -m markit.offline ARCHIVE INPUT... [--batch-size 16] [--workers 2] [--output results.jsonl]

INPUT is a file, a directory (its files, recursively, in sorted order) or a ``.jsonl`` file (one
JSON request body per line). Inputs are read by a ``torch.utils.data.DataLoader`` (``--workers``
processes) and answered in batches through the archive's handler exactly as a TorchServe worker
would; one JSON line per input, in input order: ``{"input": ..., "status": ..., "response": ...}``,
where ``response`` is the body TorchServe would send.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from torch.utils.data import DataLoader, Dataset

from ..errors import MarkitError, UsageError, report
from .local_archive import LocalArchive, LocalRequest

__all__ = ["PredictionLine", "expand_inputs", "predict"]


@dataclass(frozen=True)
class InputRef:
    """One input: a file, or line ``line`` of a JSONL file."""

    path: Path
    line: int | None = None

    @property
    def name(self) -> str:
        return str(self.path) if self.line is None else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class PredictionLine:
    input: str
    status: int
    response: Any

    def to_json(self) -> str:
        return json.dumps({"input": self.input, "status": self.status, "response": self.response}, ensure_ascii=False)


class _Inputs(Dataset):
    def __init__(self, refs: Sequence[InputRef]) -> None:
        self.refs = list(refs)

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> tuple[str, LocalRequest]:
        ref = self.refs[index]
        if ref.line is not None:
            text = ref.path.read_text(encoding="utf-8").splitlines()[ref.line - 1]
            return ref.name, LocalRequest.raw(text.encode("utf-8"), "application/json")
        return ref.name, LocalRequest.from_file(ref.path)


def expand_inputs(inputs: Sequence[Path]) -> list[InputRef]:
    """Files as given, directories recursively in sorted order, JSONL files line by line."""
    refs: list[InputRef] = []
    for path in inputs:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            refs += [InputRef(p) for p in files]
        elif path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            refs += [InputRef(path, number) for number, text in enumerate(lines, 1) if text.strip()]
        elif path.is_file():
            refs.append(InputRef(path))
        else:
            raise FileNotFoundError(f"input {path} does not exist")
    return refs


def predict(archive: Path, refs: Sequence[InputRef], batch_size: int = 16, workers: int = 0) -> Iterator[PredictionLine]:
    """Yield one line per input, in input order."""
    loader = DataLoader(_Inputs(refs), batch_size=batch_size, num_workers=workers, collate_fn=list, shuffle=False)
    with LocalArchive(archive, batch_size=batch_size) as local:
        for batch in loader:
            responses = local.predict([request for _, request in batch])
            for (name, _), response in zip(batch, responses, strict=True):
                yield PredictionLine(name, response.status, response.body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="predict.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, help="a .mar built by build_mar.sh")
    parser.add_argument("inputs", type=Path, nargs="+", help="files, directories or .jsonl files")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader processes reading inputs (default 0: in process)")
    parser.add_argument("--output", type=Path, help="JSONL file to write (default: standard output)")
    args = parser.parse_args(argv)
    try:
        refs = _inputs(args.inputs)
        with _output(args.output) as out:
            return _write(predict(args.archive, refs, args.batch_size, args.workers), len(refs), out)
    except MarkitError as err:
        return report("predict", err)


def _inputs(paths: Sequence[Path]) -> list[InputRef]:
    try:
        return expand_inputs(paths)
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(str(err)) from err


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        out = path.open("w", encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from err
    with out:
        yield out


def _write(lines: Iterator[PredictionLine], total: int, out: TextIO) -> int:
    started, failed = time.monotonic(), 0
    for done, line in enumerate(lines, 1):
        out.write(line.to_json() + "\n")
        failed += line.status != 200
        if done % 16 == 0 or done == total:
            rate = done / max(time.monotonic() - started, 1e-9)
            print(f"\r  {done}/{total} inputs · {failed} refused · {rate:.1f}/s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return 0 if failed == 0 else 1
