"""The manifest's JSON Schema, shipped as package data (``manifest.schema.json``); read by markit.builder.manifest."""
