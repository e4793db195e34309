"""Build-time errors: every message names the spec key or file and what to do about it.

    BuildError            -- the build cannot go on (a tool failed, a file is unreadable): exit 1
    ├── SpecError         -- the YAML spec is wrong: unknown key, bad type or value, missing file: exit 2
    └── VerificationError -- the packaged model does not reproduce its golden examples: exit 1

``BuildError`` is a ``markit.errors.MarkitError``; the builder raises nothing else (causes chained).
"""

from __future__ import annotations

from ..errors import EXIT_USAGE, MarkitError

__all__ = ["BuildError", "SpecError", "VerificationError"]


class BuildError(MarkitError):
    """Root of every error the builder raises on purpose."""


class SpecError(BuildError):
    """The spec is invalid; the message starts with the dotted key, e.g. ``preprocess.mean: ...``."""

    exit_code = EXIT_USAGE


class VerificationError(BuildError):
    """Golden examples did not reproduce; the message holds a readable diff."""
