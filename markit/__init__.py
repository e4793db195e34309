"""markit: a YAML spec in, a self-describing, self-verifying ``.mar`` model archive out, served by
TorchServe (or run in process) with generic handlers. Sub-packages, in the order data flows:

- ``markit.builder``  build time: spec -> staged files -> converted, verified model -> manifest -> ``.mar``
- ``markit.schemas``  the manifest's JSON Schema (package data)
- ``markit.runtime``  run time, copied into every archive: the handlers a TorchServe worker runs
- ``markit.offline``  running an archive in process, without a server (golden checks, predict.sh)
- ``markit.client``   what an application imports: the token-aware client, catalog, health probe, CLI
- ``markit.ops``      running TorchServe: container launch, capacity check, KServe layout, private servers

Nothing is imported here: ``import markit.client`` does not load torch or the builder.
"""

__version__ = "0.1.0"
