"""Task ``text_embedding``: texts in, one vector each out, with the model's own tokenizer (docs/text.md).

``handler.py`` serves it (travels in archives); ``build.py`` builds it (build time only)."""
