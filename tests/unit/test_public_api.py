"""The packages' public surface is explicit, and the manifest schema is itself a valid JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

import harness
import markit.builder
import markit.client
import markit.core
import markit.offline
from markit.builder.manifest import SCHEMA_PATH


@pytest.mark.parametrize(
    ("package", "names"),
    [
        (markit.core, {"NO_METRICS", "Metrics", "Request", "Response", "Served", "UnpackedArchive", "ArchiveError", "BadInput",
                       "BatchCore", "Decoded", "Failed", "HandlerError", "LoadedModel", "PayloadTooLarge", "TaskHandler",
                       "UnprocessableInput", "UnsupportedMediaType", "configure_threads", "create_handler"}),
        (markit.builder, {"BuildError", "BuildResult", "Spec", "SpecError", "VerificationError", "__version__", "build_archive",
                   "load_spec", "parse_spec", "verify_golden"}),
        (markit.offline, {"ArchiveLoadError", "LocalArchive", "LocalRequest", "LocalResponse", "PredictionLine", "predict"}),
        (markit.client, {"KeyFile", "Reply", "TokenError", "TorchServeClient"}),
        (harness, {"KServeRuntimeProcess", "ServerError", "TorchServeProcess", "free_port"}),
    ],
)
def test_exports(package, names):
    assert set(package.__all__) == names
    assert all(hasattr(package, name) for name in names)


def test_errors_map_to_http_statuses():
    run = markit.core
    classes = (run.HandlerError, run.BadInput, run.PayloadTooLarge, run.UnsupportedMediaType, run.UnprocessableInput, run.ArchiveError)
    assert [cls.status for cls in classes] == [500, 400, 413, 415, 422, 500]
    assert issubclass(run.PayloadTooLarge, run.BadInput)
    assert issubclass(markit.builder.SpecError, markit.builder.BuildError)
    assert issubclass(markit.builder.VerificationError, markit.builder.BuildError)


def test_manifest_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))
