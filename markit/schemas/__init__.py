"""The manifest's JSON Schema, shipped as package data (``manifest.schema.json``), generated from the manifest's
types by ``python -m markit.schemas`` (``generate.py``)."""
