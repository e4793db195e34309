"""Lay out a model store the way KServe's TorchServe runtime expects it.

KServe downloads an InferenceService's ``storageUri`` to ``/mnt/models`` and starts TorchServe with
``--model-store /mnt/models/model-store --ts-config /mnt/models/config/config.properties``. Its
wrapper (pytorch/serve ``kubernetes/kserve/kserve_wrapper``) reads the same config: TorchServe's
inference and management addresses and ``grpc_inference_port``, and ``model_snapshot``, the models
to serve. TorchServe restores models from that snapshot *instead of* reading workers, batch size,
batch delay and response timeout from each archive's ``model-config.yaml``, so the snapshot
carries exactly those values, read from each archive::

    python -m markit.ops.torchserve_on_kserve MODEL_STORE OUT_DIR

writes ``OUT_DIR/config/config.properties`` and unpacks each ``MODEL_STORE/NAME.mar`` into the directory
``OUT_DIR/model-store/NAME.mar/`` after checking it (``markit.archive.unpack``; ``--trust POLICY`` applies a
trust policy), a directory TorchServe serves as it would the ``.mar``: the pod's TorchServe never parses
a zip, so what was checked here is what runs there. Exit codes: 0 laid out; 2 a problem with the inputs
or a refused archive (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..archive.mar_file import MarFileError, MarInfo, read_mar
from ..archive.signing import TrustPolicy
from ..archive.unpack import unpack_store
from ..core.limits import REQUEST_BYTES
from ..errors import MarkitError, report

__all__ = ["CONFIG_TEMPLATE", "LayoutError", "config_text", "lay_out", "main", "model_snapshot", "snapshot_entry"]

# No comment line holds an equals sign: older kserve_wrapper versions read comment lines as keys too.
CONFIG_TEMPLATE = """\
# TorchServe configuration for KServe's TorchServe runtime, written by scripts/kserve_layout.sh
# (markit/ops/torchserve_on_kserve.py) from the archives in model-store/. See docs/deployment.md.
#
# KServe's wrapper listens on 8080 (HTTP) and 8081 (gRPC) and forwards to TorchServe, which
# therefore serves inference and management together on 8085. Everything listens on 127.0.0.1: only
# the wrapper, in the same pod, calls TorchServe. Token authorization is off because the wrapper
# sends no token (its readiness check and every request would be refused) and cannot read one.
inference_address=http://127.0.0.1:8085
management_address=http://127.0.0.1:8085
metrics_address=http://127.0.0.1:8082
grpc_inference_address=127.0.0.1
grpc_management_address=127.0.0.1
grpc_inference_port=7070
grpc_management_port=7071
disable_token_authorization=true
# Registering or deleting models over HTTP is off: the models are the snapshot below.
enable_model_api=false
allowed_urls=^file:///mnt/models/model-store/[A-Za-z0-9_.\\\\-]+\\\\.mar$
model_store=/mnt/models/model-store
# KServe sets TS_SERVICE_ENVELOPE, which would wrap the handlers in TorchServe's envelopes (they
# are not batch-safe); with environment configuration off it has no effect. The handlers
# understand KServe's v1 and v2 requests themselves.
enable_envvars_config=false
install_py_dep_per_model=false
# Requests and responses larger than 10 MiB are refused with 413.
max_request_size={limit}
max_response_size={limit}
job_queue_size=100
default_response_timeout=120
metrics_mode=prometheus
enable_metrics_api=true
model_metrics_auto_detect=true
# The frontend's JVM compiles with its quick C1 compiler only (docs/serving.md).
vmargs=-XX:TieredStopAtLevel=1
# The models to serve, with the workers and batching each archive declares in its model-config.yaml.
""".replace("{limit}", str(REQUEST_BYTES))


class LayoutError(MarFileError):
    """An input that cannot be laid out: no archives, an unreadable archive, a name clash, a full folder."""


def snapshot_entry(model: MarInfo) -> dict[str, Any]:
    """One archive's entry in ``model_snapshot``: its .mar (unpacked, a directory of that name), its serving settings,
    its runtime."""
    return {"defaultVersion": True, "marName": model.mar_name, **model.settings, "runtimeType": model.runtime}


def model_snapshot(models: Sequence[MarInfo]) -> dict[str, Any]:
    """TorchServe's snapshot of ``models``: ``{"name", "modelCount", "models": {name: {version: entry}}}``."""
    entries: dict[str, dict[str, Any]] = {}
    archives: dict[str, str] = {}
    for model in models:
        if model.name in entries:
            raise LayoutError(f"{archives[model.name]} and {model.mar_name} both serve model {model.name!r}; "
                              "KServe routes by model name")
        entries[model.name] = {model.version: snapshot_entry(model)}
        archives[model.name] = model.mar_name
    return {"name": "startup.cfg", "modelCount": len(models), "models": entries}


def config_text(models: Sequence[MarInfo]) -> str:
    return CONFIG_TEMPLATE + "model_snapshot=" + json.dumps(model_snapshot(models), separators=(",", ":")) + "\n"


def lay_out(model_store: Path, out_dir: Path, policy: TrustPolicy | None = None) -> list[MarInfo]:
    """Write ``out_dir/config/config.properties`` and the store's archives, checked and unpacked, to ``out_dir/model-store``."""
    if not Path(model_store).is_dir():
        raise LayoutError(f"model store {model_store} is not a directory")
    archives = sorted(Path(model_store).glob("*.mar"))
    if not archives:
        raise LayoutError(f"model store {model_store} holds no .mar archive")
    if Path(out_dir).exists() and any(Path(out_dir).iterdir()):
        raise LayoutError(f"{out_dir} is not empty; lay out into a new directory")
    models = [read_mar(path) for path in archives]
    text = config_text(models)  # raises on a name clash before anything is written
    try:
        (out_dir / "config").mkdir(parents=True, exist_ok=True)
        unpack_store(model_store, out_dir / "model-store", policy)
        (out_dir / "config" / "config.properties").write_text(text, encoding="utf-8")
    except OSError as err:
        raise LayoutError(f"cannot write the layout into {out_dir}: {err.strerror or err}") from err
    return models


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.ops.torchserve_on_kserve", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_store", type=Path, help="folder of .mar archives")
    parser.add_argument("out_dir", type=Path, help="new folder to write config/ and model-store/ into")
    parser.add_argument("--trust", type=Path, metavar="POLICY", help="a trust policy (config/trust.yaml) every archive must satisfy")
    args = parser.parse_args(argv)
    try:
        models = lay_out(args.model_store, args.out_dir, TrustPolicy.load(args.trust) if args.trust else None)
    except MarkitError as err:
        return report("kserve_layout", err)
    for model in models:
        print(f"{model.name} {model.version} ({model.mar_name}): {model.serving_summary()}")
    print(f"wrote {args.out_dir / 'config' / 'config.properties'} and {len(models)} checked archive(s), unpacked, in "
          f"{args.out_dir / 'model-store'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
