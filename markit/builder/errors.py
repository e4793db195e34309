"""Build-time errors: every message names the spec key or file and what to do about it.

    BuildError            -- the build cannot go on (a tool failed, a file is unreadable)
    ├── SpecError         -- the YAML spec is wrong: unknown key, bad type or value, missing file
    └── VerificationError -- the packaged model does not reproduce its golden examples
"""

from __future__ import annotations

__all__ = ["BuildError", "SpecError", "VerificationError"]


class BuildError(Exception):
    """Root of every error the builder raises on purpose."""


class SpecError(BuildError):
    """The spec is invalid; the message starts with the dotted key, e.g. ``preprocess.mean: ...``."""


class VerificationError(BuildError):
    """Golden examples did not reproduce; the message holds a readable diff."""
