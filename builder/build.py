"""spec -> staged files -> manifest -> .mar (torch-model-archiver) -> golden check -> published.

The archive is made and verified in a temporary directory and moved into the output directory
only when its golden examples pass, so a failed build never leaves an archive behind.
"""

from __future__ import annotations

import json
import mimetypes
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from model_archiver.model_archiver_config import ModelArchiverConfig
from model_archiver.model_archiver_error import ModelArchiverError
from model_archiver.model_packaging import generate_model_archive

from handlers.manifest import MANIFEST_NAME

from .errors import BuildError, VerificationError
from .golden import differences
from .local import LocalArchive, LocalRequest
from .manifest import compose_manifest
from .spec import Spec, load_spec
from .staging import MODEL_CONFIG_FILE, stage

__all__ = ["BuildResult", "build_archive"]

Progress = Callable[[str], None]


class BuildResult:
    def __init__(self, path: Path, manifest: dict[str, Any], seconds: float) -> None:
        self.path = path
        self.manifest = manifest
        self.seconds = seconds


def build_archive(spec_path: Path, output_dir: Path, progress: Progress = print, overrides: Sequence[str] = ()) -> BuildResult:
    """Build ``output_dir/NAME.mar`` from the spec (with ``key=value`` overrides); raise BuildError, leaving the output dir untouched."""
    started = time.monotonic()
    step = _Steps(progress, 5)
    with step("validating spec"):
        spec = load_spec(spec_path, overrides)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"build-{spec.name}-", dir=output_dir) as tmp:
        staging, out = Path(tmp) / "staging", Path(tmp) / "out"
        staging.mkdir()
        with step("staging handler code, model, weights (-> safetensors), labels, golden inputs"):
            staged = stage(spec, staging)
        with step("hashing files and writing the manifest"):
            manifest = compose_manifest(staging, staged.section, dict(spec.references))
            (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        with step("packing with torch-model-archiver"):
            mar = _pack(spec, staging, staged.entry, out)
        with step(f"verifying {len(spec.golden)} golden example(s) through the handler, in process"):
            verify_golden(mar, spec)
        final = output_dir / mar.name
        os.replace(mar, final)
    return BuildResult(final, manifest, time.monotonic() - started)


def _pack(spec: Spec, staging: Path, entry: str, out: Path) -> Path:
    out.mkdir()
    config = ModelArchiverConfig(
        model_name=spec.name,
        handler=str(staging / entry),
        version=spec.version,
        extra_files=str(staging),
        config_file=str(staging / MODEL_CONFIG_FILE),
        export_path=str(out),
        force=True,
    )
    try:
        generate_model_archive(config)
    except (ModelArchiverError, OSError) as err:
        raise BuildError(f"torch-model-archiver failed: {err}") from err
    return out / f"{spec.name}.mar"


def verify_golden(mar: Path, spec: Spec) -> None:
    """Run every golden example through the packaged handler; VerificationError with a diff on mismatch."""
    with LocalArchive(mar) as archive:
        golden = archive.describe()["spec"]["golden"]
        requests = [LocalRequest.raw(path.read_bytes(), _content_type(path)) for path in (g.input for g in spec.golden)]
        responses = archive.predict(requests)
    report = []
    for example, response, packaged in zip(spec.golden, responses, golden, strict=True):
        if response.status != 200:
            report.append(f"{packaged['input']}: status {response.status}: {response.body}")
            continue
        lines = differences(example.expected, response.body, example.tolerance)
        report += [f"{packaged['input']}: {line}" for line in lines]
    if report:
        raise VerificationError(
            "golden examples do not reproduce; no archive was written:\n  " + "\n  ".join(report)
        )


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class _Steps:
    """Prints ``[2/5] staging ... done in 1.2 s`` for each slow step."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.count = progress, total, 0

    def __call__(self, title: str) -> _Step:
        self.count += 1
        return _Step(self.progress, f"[{self.count}/{self.total}] {title}")


class _Step:
    def __init__(self, progress: Progress, title: str) -> None:
        self.progress, self.title = progress, title

    def __enter__(self) -> None:
        self.started = time.monotonic()
        self.progress(f"{self.title} ...")

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.progress(f"      done in {time.monotonic() - self.started:.1f} s")
