"""spec -> staged files -> manifest -> .mar (torch-model-archiver) -> golden check -> published.

When the spec asks for a converted format, the eager archive is made and verified first, then its
model is converted on the handler's own preprocessing of the golden inputs, compared with eager,
and the archive is made and verified again with the converted program in place of the weights
(beside them for an ``aoti`` or ``onnx`` program: the eager model is its fallback).

The archive is made and verified in a temporary directory and moved into the output directory
only when its golden examples pass, so a failed build never leaves an archive behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from model_archiver.model_archiver_config import ModelArchiverConfig
from model_archiver.model_archiver_error import ModelArchiverError
from model_archiver.model_packaging import generate_model_archive

from markit.archive.signing import SigningError, sign_mar
from markit.core.loading import PROGRAM_RUNTIMES
from markit.core.manifest import MANIFEST_NAME
from markit.offline import ArchiveLoadError, LocalArchive, LocalRequest

from .convert import PROGRAM_FILES, convert
from .errors import BuildError, VerificationError
from .manifest import compose_manifest
from .spec import Spec, load_spec
from .staging import MODEL_CONFIG_FILE, Staged, stage
from .tasks import TASKS

__all__ = ["BuildResult", "build_archive"]

Progress = Callable[[str], None]


class BuildResult:
    def __init__(self, path: Path, manifest: dict[str, Any], seconds: float) -> None:
        self.path = path
        self.manifest = manifest
        self.seconds = seconds


def build_archive(spec_path: Path, output_dir: Path, progress: Progress = print, overrides: Sequence[str] = (),
                  sign_key: Path | None = None) -> BuildResult:
    """Build ``output_dir/NAME.mar`` from the spec (with ``key=value`` overrides), signed with ``sign_key``
    (an ECDSA private key in PEM, markit.archive.signing) when given.

    Raises BuildError, and only BuildError (anything else that goes wrong is chained as its cause), and
    leaves the output directory untouched when anything fails."""
    try:
        return _build(spec_path, output_dir, progress, overrides, sign_key)
    except BuildError:
        raise
    except Exception as err:  # a fault of the builder or of the environment: still a BuildError, cause chained
        raise BuildError(f"unexpected {type(err).__name__}: {err} (python -m markit.builder --traceback shows where)") from err


def _build(spec_path: Path, output_dir: Path, progress: Progress, overrides: Sequence[str], sign_key: Path | None) -> BuildResult:
    started = time.monotonic()
    spec = load_spec(spec_path, overrides)
    converted = spec.model is not None and spec.model.converted
    said = f"model format {spec.model.format}" if spec.model is not None else "no model of its own"
    progress(f"spec {spec_path} is valid: {spec.name} {spec.version}, task {spec.task}, {said}")
    step = _Steps(progress, (8 if converted else 4) + (sign_key is not None))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BuildError(f"--output {output_dir}: cannot be the output directory ({err.strerror}); give a directory") from err
    with tempfile.TemporaryDirectory(prefix=f"build-{spec.name}-", dir=output_dir) as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        with step("staging handler code, model, weights (-> safetensors), labels, artifacts, golden inputs"):
            staged = stage(spec, staging)
            check_model_class(spec, staging, staged.section.get("model"))
        mar, manifest = _pack_and_verify(spec, staging, staged, Path(tmp) / "eager", step)
        if converted:
            with step(f"converting the eager model to {spec.model.format}, comparing outputs on the golden inputs"):
                staged = _convert(mar, spec, staging, staged)
            mar, manifest = _pack_and_verify(spec, staging, staged, Path(tmp) / "converted", step)
        if sign_key is not None:
            with step(f"signing every member with {Path(sign_key).name} (model-signing)"):
                _sign(mar, sign_key)
        final = output_dir / mar.name
        os.replace(mar, final)
    return BuildResult(final, manifest, time.monotonic() - started)


def _sign(mar: Path, key: Path) -> None:
    try:
        sign_mar(mar, key)
    except SigningError as err:
        raise BuildError(str(err)) from err


def _pack_and_verify(spec: Spec, staging: Path, staged: Staged, out: Path, step: _Steps) -> tuple[Path, dict[str, Any]]:
    with step("hashing files and writing the manifest"):
        manifest = compose_manifest(staging, staged.section, dict(spec.references))
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    with step("packing with torch-model-archiver"):
        mar = _pack(spec, staging, staged.entry, out)
    with step(f"verifying {len(spec.golden)} golden example(s) through the handler, in process"):
        verify_golden(mar)
    return mar, manifest


def _convert(mar: Path, spec: Spec, staging: Path, staged: Staged) -> Staged:
    """Replace the staged eager weights with the converted program(s); return the updated staging."""
    fmt = spec.model.format
    with _loaded(mar) as local:
        if TASKS[spec.task].program_examples is None:
            batch = local.example_batch(golden_requests(spec))
            file = f"model/{PROGRAM_FILES[fmt]}"
            program = convert(local.task_handler.model, batch, fmt, staging / file, spec.model.tolerance).section(file)
        else:
            program = _convert_methods(local, spec, staging)
    eager = dict(staged.section["model"])
    if fmt in PROGRAM_RUNTIMES:  # the eager source and weights stay, as the fallback where the program cannot run
        model = {**program, "fallback": eager}
    else:
        (staging / eager.pop("weights")).unlink()
        model = {**eager, **program}
    return replace(staged, section={**staged.section, "model": model})


def _convert_methods(local: LocalArchive, spec: Spec, staging: Path) -> dict[str, Any]:
    """A model served as several programs: each method the task calls converted on its own and checked against
    the eager method (``spec.model.programs``: method -> file and conversion record)."""
    fmt = spec.model.format
    examples = TASKS[spec.task].program_examples(spec, local.task_handler, local.decoded(golden_requests(spec)))
    programs: dict[str, Any] = {}
    section: dict[str, Any] = {"format": fmt}
    for method, example in examples.items():
        file = f"model/{method}.{PROGRAM_FILES[fmt].split('.', 1)[1]}"
        conversion = convert(example.module, example.inputs, fmt, staging / file, spec.model.tolerance, dynamic=example.dynamic)
        programs[method] = {"file": file, "conversion": conversion.record()}
        if conversion.requires:
            section["requires"] = dict(conversion.requires)
    return {**section, "programs": programs}


def check_model_class(spec: Spec, staging: Path, model: dict[str, Any] | None) -> None:
    """The task's check of the staged archive (the convention task refuses a class without preprocess/postprocess)."""
    TASKS[spec.task].check_staged(spec, staging, model or {})


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
        with _private_tempdir(out.parent / "archiver-tmp"):
            generate_model_archive(config)
    except (ModelArchiverError, OSError) as err:
        raise BuildError(f"torch-model-archiver failed: {err}") from err
    return out / f"{spec.name}.mar"


@contextmanager
def _private_tempdir(path: Path) -> Iterator[None]:
    """torch-model-archiver copies the files to ``$TMPDIR/MODEL_NAME``, so two builds of one model name at once
    (two checkouts, a CI matrix) mix their files; it gets a directory of this build's own while it runs."""
    path.mkdir(parents=True, exist_ok=True)
    before, tempfile.tempdir = tempfile.tempdir, str(path)
    try:
        yield
    finally:
        tempfile.tempdir = before


def golden_requests(spec: Spec) -> list[LocalRequest]:
    return [LocalRequest.from_file(example.input) for example in spec.golden]


def verify_golden(mar: Path) -> None:
    """Replay every golden example in the packed archive, as the KServe runtime does before it serves one
    (``markit.archive.open``); VerificationError with a diff on mismatch."""
    with _loaded(mar) as archive:
        report = archive.opened.replay_golden()
    if report:
        raise VerificationError(
            "golden examples do not reproduce; no archive was written:\n  " + "\n  ".join(report)
        )


@contextmanager
def _loaded(mar: Path) -> Iterator[LocalArchive]:
    """The packed archive running in process; its failure to start is a build error."""
    try:
        archive = LocalArchive(mar).__enter__()
    except ArchiveLoadError as err:
        raise BuildError(str(err)) from err
    try:
        yield archive
    finally:
        archive.__exit__(None, None, None)


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
