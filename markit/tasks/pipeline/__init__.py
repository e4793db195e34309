"""Task ``pipeline``: several archives composed by a declared graph into one archive, served in one worker.

``handler.py`` serves it, with ``steps.py`` (loading each step archive by its own run-time code), ``graph.py``
(the nodes over a batch) and ``glue.py`` (travel in archives); ``build.py`` builds it (build time only)."""
