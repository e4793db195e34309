"""The engines that serve an archive, each a thin adapter over ``markit.core``: ``torchserve`` (the
handler TorchServe's worker runs; it travels inside every archive) and ``kserve`` (this project's KServe
runtime, ``python -m markit.engines.kserve``, in the wheel only). Nothing is imported here."""
