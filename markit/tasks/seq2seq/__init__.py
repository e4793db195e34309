"""Task ``seq2seq``: an encoder-decoder model, its symbol tables and its beam search's settings (docs/seq2seq.md).

``handler.py`` serves it (travels in archives); ``build.py`` builds it (build time only)."""
