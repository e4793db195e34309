"""Build time: YAML spec -> staged files -> converted, verified model -> manifest -> ``.mar``, then the
archive opened as an engine opens it and its golden examples replayed (``pipeline``). Each task's own
build step is its folder's ``build.py`` (``markit.tasks``); nothing here is shipped inside archives."""

from .. import __version__
from .errors import BuildError, SpecError, VerificationError
from .pipeline import BuildResult, build_archive, verify_golden
from .spec import Spec, load_spec, parse_spec

__all__ = [
    "BuildError",
    "BuildResult",
    "Spec",
    "SpecError",
    "VerificationError",
    "__version__",
    "build_archive",
    "load_spec",
    "parse_spec",
    "verify_golden",
]
