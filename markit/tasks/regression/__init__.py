"""Task ``regression``: named feature rows in, named numbers with units out, with guards on the inputs (docs/metadata.md).

``handler.py`` serves it (travels in archives); ``build.py`` builds it (build time only)."""
