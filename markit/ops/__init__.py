"""Deploying the archives: Java as the container's foreground process (``launch``), the workers-x-threads
capacity check (``capacity``), per-model serving settings without a rebuild (``settings``), which workers
failed to start (``startup``) and a store laid out for KServe's TorchServe predictor (``torchserve_on_kserve``).

Nothing is imported here, so that ``python -m markit.ops.MODULE`` runs a module this package has not imported."""
