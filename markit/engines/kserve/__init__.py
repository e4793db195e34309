"""The KServe runtime: the same ``.mar`` archives served in process by the ``kserve`` package, without Java.

``python -m markit.engines.kserve --model-store model_store`` (``scripts/serve_kserve.sh``) checks every
archive in the store as ``serve.sh`` does for TorchServe (hashes, identity, signature under a trust
policy), unpacks it, loads the archive's own copy of the run-time package and replays its golden examples;
a model is ready only when they reproduce. It is then served over the Open Inference Protocol (v2 REST and
gRPC), KServe v1 and TorchServe's ``/predictions`` route, with health, metadata and Prometheus metrics.

Data flows: ``archives`` (store -> opened archives) -> ``batching`` (requests -> batches, as TorchServe's
frontend batches for a worker) -> the archive's ``BatchCore.answer``; ``rest`` and ``model`` (gRPC) are the
thin adapters between kserve's wire types and ``exchange.Request``/``Response``; ``auth`` checks the bearer
token, ``limits`` the body size and ``http_limits`` the headers and read times; ``http_errors`` answers
kserve's own routes' errors; ``server`` wires them; ``processes`` runs and supervises several copies on one port.
Nothing here knows a task; nothing in the run-time core knows this engine.

This package imports ``kserve`` (the ``kserve`` extra); nothing is imported at import time.
"""
