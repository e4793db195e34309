"""Benchmarks that print figures (never timed tests): load generators, the in-process ceiling, the
stock TorchServe handler for comparison, the serving-settings sweep and the one ``compare`` command.

    python -m benchmarks [compare]                       # every ratio of the speed goals, side by side
    python -m benchmarks sweep --archive NAME.mar        # workers x threads x batch x delay -> serving: section
    python -m benchmarks load --archive NAME.mar --body photo.jpg --content-type image/jpeg
    python -m benchmarks pipelines [--store DIR]         # a pipeline's overhead, a TorchServe workflow (.war) vs ours, a soak

Modules, in the order data flows:

- ``stats``: percentiles and the result of one load run (``LoadResult``)
- ``bodies``: the request bodies (the coffee photo as a 600x400 JPEG, a 12-megapixel JPEG)
- ``wrk``: the closed-loop generator (``wrk`` with a Lua script for a binary POST with a token)
- ``openloop``: the open-loop generator at a fixed arrival rate, timed from each scheduled send
- ``sequential``: one request at a time (unloaded latency)
- ``inprocess``: the archive's own handler without a server, N processes x T threads (the ceiling)
- ``servers``: private TorchServe processes for benchmarks (model API on, token auth on), TorchServe's
  own queue/latency counters
- ``cpu``: who kept the cores busy during a run (the server, the generator, other processes)
- ``stock``: TorchServe's stock ``image_classifier`` in its own venv, with the same network traced
- ``stock_onnx``: the same stock handler subclassed to run our archive's ONNX graph in ONNX Runtime
- ``sweep``: the grid, its runs, the table and the recommended ``serving:`` section
- ``war``, ``war_glue``, ``digit_pages``, ``workflow``: the "read a number" pipeline as a TorchServe workflow
  (``.war``: its spec, its function nodes, the archiver's venv) against our pipeline archive, and the pages sent
- ``report``: the ratio/goal lines and the machine description
- ``compare``: the one command; ``cli``: argument parsing
- ``golden_cost``: what a worker's golden replay adds to its load, per archive, in fresh processes
- ``results``: each report kept in ``docs/results/NAME.md`` with the command, date, commit and machine

Nothing runs at import; ``python -m benchmarks`` is the entry point.
"""
