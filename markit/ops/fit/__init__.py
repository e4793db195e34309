"""``markit capacity ARCHIVE --p99 MS``: serving settings for this machine in a minute or two, by measuring and
modelling instead of sweeping.

- ``measure``: the archive's own handler timed in process, whole batches at a few sizes and thread counts
  (``costs``: each thread count's line ``t(b) = fixed + per_item x b``, fitted by least squares);
- ``model``: each setting's capacity from those costs, the cores and what the engine adds per request
  (``setting``: workers x threads x batch size x delay, and the ``serving:`` section it ships as);
- ``simulate``: a setting's p99 under an open loop, by replaying the engine's batching rule with the measured costs;
- ``trial`` and ``confirm``: the chosen setting served by TorchServe or the KServe runtime, token authorization on,
  under one short closed loop (its capacity) and one open loop (its p99);
- ``command``: the subcommand that runs them in turn and prints the report.

Nothing is imported here."""
