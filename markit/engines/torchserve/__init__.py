"""TorchServe's side of an archive: ``entry`` (copied to the archive's root as its handler file: checks
every file, then loads the archive's own code under a private name) and ``adapter`` (TorchServe's batch
and envelopes -> ``markit.core``'s typed requests and back). Travels inside every archive."""
