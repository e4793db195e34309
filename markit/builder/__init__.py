"""Build-time package: YAML spec -> verified, self-describing .mar. Never shipped inside archives."""

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
