"""Task ``convention``: the model's own class brings ``preprocess(raw) -> tensor`` and
``postprocess(output_row) -> JSON`` (docs/convention.md); the handler calls them around a batched forward.

``handler.py`` serves it (travels in archives); ``build.py`` builds it (build time only)."""
