"""A ``.mar`` file before any engine sees it: ``zip_layout`` (one reading of its bytes), ``mar_file``
(what it declares), ``verify`` (hashes and identity from its bytes), ``signing`` (OpenSSF model signing and
the trust policy), ``pins`` (the lockfile of identities) and ``unpack`` (checked, unpacked, checked again:
what an engine is handed). Wheel only; the archive checks its own files again at start (``markit.core.manifest``)."""
