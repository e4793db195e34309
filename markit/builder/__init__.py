"""Build-time package: YAML spec -> verified, self-describing .mar. Never shipped inside archives."""

from .errors import BuildError, SpecError, VerificationError
from .pipeline import BuildResult, build_archive, verify_golden
from .spec import Spec, load_spec, parse_spec

__version__ = "0.1.0"

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
