"""TorchServe's entry point for every archive built by this project (copied to the archive root).

It is deliberately tiny and imports nothing from this project by name: at ``initialize`` it first
checks every unpacked file against ``manifest.json`` (its sha256, nothing unlisted, no link), with the
standard library only, so no module of the archive runs before the whole archive is verified; then it
loads the archive's own copy of the run-time package (``runtime/`` beside this file) under a private
module name, so an installed copy of this project, of whatever version, can never shadow the code
that was verified when the archive was built; its batch core is made and the archive's golden examples are
replayed through it, so a worker that would answer them wrongly never reports ready. Nothing happens at import.

The run-time package's ``manifest`` module raises its ``ArchiveError`` from the same check.
"""

import hashlib
import importlib
import importlib.util
import json
import sys
from pathlib import Path

RUNTIME_PACKAGE = "runtime"
MANIFEST_NAME = "manifest.json"
UNLISTED = (MANIFEST_NAME, "MAR-INF/MANIFEST.json", "signature.sigstore.json")  # written after the manifest
BYTECODE = "__pycache__"  # what Python writes beside imported modules once a worker has run
_CHUNK = 1 << 20


def file_sha256(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def changed_file(archive_dir, files):
    """The first file ``files`` (name -> sha256) lists that is missing or differs under ``archive_dir``, said; or None."""
    if not isinstance(files, dict) or not files:
        return f"{MANIFEST_NAME}: 'files' must list the sha256 of every packaged file"
    root = Path(archive_dir).resolve()
    for name, expected in sorted(files.items()):
        path = (root / name).resolve()
        if root not in path.parents:
            return f"{MANIFEST_NAME}: file entry {name!r} points outside the archive"
        if not path.is_file():
            return f"archive file {name!r} is missing: the archive is incomplete, refusing to serve it"
        actual = file_sha256(path)
        if actual != expected:
            return (f"archive file {name!r} was modified after build (sha256 {actual[:12]}…, manifest says "
                    f"{str(expected)[:12]}…): refusing to serve a tampered archive")
    return None


def unlisted_file(archive_dir, files):
    """The first file under ``archive_dir`` that ``files`` does not list, or a symbolic link, said; or None."""
    listed = set(files) | set(UNLISTED)
    root = Path(archive_dir).resolve()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if BYTECODE in relative.parts:
            continue
        if path.is_symlink():
            return f"archive entry {relative.as_posix()!r} is a symbolic link; refusing to serve the archive"
        if path.is_file() and relative.as_posix() not in listed:
            return (f"archive file {relative.as_posix()!r} is not listed in {MANIFEST_NAME}: an added file, "
                    "refusing to serve the archive")
    return None


def check_unpacked(archive_dir):
    """Raise RuntimeError naming the first file under ``archive_dir`` that is not exactly what its manifest lists."""
    try:
        files = json.loads((Path(archive_dir) / MANIFEST_NAME).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError) as err:
        raise RuntimeError(f"{MANIFEST_NAME} in {archive_dir} cannot be read ({err}): refusing to serve the archive") from err
    problem = changed_file(archive_dir, files) or unlisted_file(archive_dir, files)
    if problem:
        raise RuntimeError(problem)


def load_runtime(archive_dir):
    """Check every file of the archive at ``archive_dir``, then import its ``runtime`` as a package named after that path."""
    check_unpacked(archive_dir)
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
        runtime = load_runtime(model_dir).__name__
        adapter = importlib.import_module(f"{runtime}.engines.torchserve.adapter")
        service = importlib.import_module(f"{runtime}.core.service")
        core = service.create_handler(model_dir)
        service.check_golden(core)  # a worker that answers its golden examples wrongly never reports ready
        self._handler = adapter.TorchServeAdapter(core)
        service.freeze_loaded_heap()

    def handle(self, data, context):
        return self._handler.handle(data, context)
