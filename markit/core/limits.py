"""Limits shared by the builder, both engines and the deploy files: one number each, said once.

``REQUEST_BYTES`` is TorchServe's ``max_request_size`` in config/config.properties (its frontend refuses a
larger body before a worker sees it); the KServe runtime refuses the same, and an archive's
``budgets.request_bytes`` defaults to it. tests/unit/test_limits.py checks the deploy files agree."""

REQUEST_BYTES = 10 * 1024 * 1024
