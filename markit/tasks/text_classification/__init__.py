"""Task ``text_classification``: zero-shot topics. Texts in, labels with probabilities out, by similarity to
descriptions of the labels embedded at build with the same encoder (docs/text.md).

``handler.py`` serves it (travels in archives); ``build.py`` builds it (build time only)."""
