"""markit: a YAML spec in, a self-describing, self-verifying ``.mar`` model archive out, served by
TorchServe or by this project's KServe runtime with generic handlers. Packages, in the order data flows:

- ``markit.builder``    build time: spec -> staged files -> converted, verified model -> manifest -> ``.mar``
- ``markit.schemas``    the manifest's JSON Schema (package data)
- ``markit.archive``    a ``.mar`` before any engine sees it: strict zip reading, hashes, signature, pins, unpacking
- ``markit.engines``    the engines, thin adapters: ``torchserve`` (in every archive) and ``kserve`` (the KServe runtime)
- ``markit.protocols``  the wire protocols: KServe v1, Open Inference Protocol v2, Triton's binary tensors
- ``markit.core``       the typed boundary and the batch core every task rests on
- ``markit.tasks``      one folder per task: its handler (run time) and its build step
- ``markit.offline``    running an archive in process, without a server (golden checks, predict.sh)
- ``markit.client``     what an application imports: the token-aware client, catalog, health probe, CLI
- ``markit.ops``        deploying: container launch, capacity check, serving settings, KServe's TorchServe layout;
                        serving settings chosen by measurement (``ops.fit``) and the load that confirms them (``ops.load``)
- ``markit.cli``        the ``markit`` command line (``python -m markit``): ``markit capacity``

An archive carries its own copy of ``core``, ``protocols``, ``tasks`` (without their build steps) and
``engines.torchserve``, and of this file (the one ``__version__``): see ``markit.builder.staging``.
Nothing is imported here: ``import markit.client`` does not load torch or the builder.
"""

__version__ = "0.1.0"
