"""TorchServe's entry point for every archive built by this project (copied to the archive root).

It is deliberately tiny and imports nothing from this project by name: at ``initialize`` it loads
the archive's own copy of the run-time package (``runtime/`` beside this file) under a private
module name, so an installed copy of this project, of whatever version, can never shadow the code
that was verified when the archive was built. Nothing happens at import.
"""

import hashlib
import importlib.util
import sys
from pathlib import Path

RUNTIME_PACKAGE = "runtime"


def load_runtime(archive_dir):
    """Import ``archive_dir/runtime`` as a package named after that path."""
    package_dir = (Path(archive_dir) / RUNTIME_PACKAGE).resolve()
    name = "_archive_runtime_" + hashlib.sha256(str(package_dir).encode()).hexdigest()[:16]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


class ArchiveHandler:
    """Delegates TorchServe's ``initialize``/``handle`` to the archive's task handler, through its TorchServe adapter."""

    def __init__(self):
        self._handler = None

    def initialize(self, context):
        model_dir = Path(context.system_properties["model_dir"])
        runtime = load_runtime(model_dir)
        self._handler = runtime.TorchServeAdapter(runtime.create_handler(model_dir))

    def handle(self, data, context):
        return self._handler.handle(data, context)
