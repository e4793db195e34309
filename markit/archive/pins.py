"""The pin file: each model's identity, recorded when it was built or first served, like a lockfile.

An archive edited consistently (a file changed, its hash and the identity recomputed) passes every check an
archive can make of itself; only something kept outside it can refuse it. ``config/pins.json`` is that
something, by default::

    {"identities": {"efficientnet_lite0": "sha256:...", "digits": "sha256:..."}}

- ``build_mar.sh`` (``--pins``) and ``build_examples.sh`` pin what they build;
- ``serve.sh start``, ``serve_kserve.sh`` and the container's entrypoint pin every model of the store at the
  first start, when the file does not exist yet (``python -m markit.archive.pins STORE --first-start``), and from
  then on (``markit.archive.unpack --pins``, the KServe runtime's ``--pins``) refuse an archive whose model is not
  pinned or whose identity is not the pinned one, unless a key the trust policy names signed it;
- ``./scripts/pin.sh ARCHIVE...`` (``python -m markit.archive.pins``) re-pins archives a person has decided to
  serve, after checking them.

The stronger policy is a signature (``serve.sh start --trust POLICY``, ``markit.archive.signing``): the pin file
says "what was here before", a trusted key says "who made it".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MarkitError, UsageError, report
from .mar_file import read_mar
from .verify import verify_mar
from .zip_layout import MarFileError

__all__ = ["DEFAULT_PINS", "PinError", "Pins", "main"]

DEFAULT_PINS = Path("config/pins.json")
KEY = "identities"


class PinError(MarFileError):
    """An archive whose model is not pinned, or pinned to another identity, and not signed by a trusted key: exit 2."""


@dataclass(frozen=True)
class Pins:
    """Model name -> the identity it is pinned to, read from (and written to) ``path``."""

    path: Path
    identities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, must_exist: bool = False) -> Pins:
        """The pins in ``path`` (none when it does not exist, unless ``must_exist``); UsageError naming what is wrong."""
        path = Path(path)
        if not path.exists():
            if must_exist:
                raise UsageError(f"pin file {path} does not exist; pin the archives you serve first: ./scripts/pin.sh STORE")
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UsageError(f"pin file {path}: cannot be read: {err}") from err
        pins = data.get(KEY) if isinstance(data, dict) else None
        if not isinstance(pins, dict) or set(data) != {KEY} or not all(
                isinstance(value, str) and value.startswith("sha256:") for value in pins.values()):
            raise UsageError(f"pin file {path}: expected {{\"{KEY}\": {{model name: \"sha256:...\"}}}}; "
                             "rewrite it with ./scripts/pin.sh")
        return cls(path, dict(pins))

    def check(self, mar: str, model: str, identity: str, signed: bool) -> str:
        """What the pins say of ``mar`` serving ``model`` with ``identity``: "pinned", or "unpinned" when ``signed``;
        PinError when it is neither pinned to that identity nor ``signed`` by a trusted key."""
        pinned = self.identities.get(model)
        if pinned == identity:
            return "pinned"
        if signed:
            return "unpinned"
        said = f"is pinned to {pinned}" if pinned else "is not pinned"
        raise PinError(f"{mar}: model {model!r} {said} in {self.path}, and this archive's identity is {identity}: refusing "
                       f"an archive nobody pinned or signed. If you built it or trust it, pin it: ./scripts/pin.sh {mar} "
                       "(or sign it with a key config/trust.yaml names)")

    def with_identities(self, identities: Mapping[str, str]) -> Pins:
        return Pins(self.path, {**self.identities, **identities})

    def save(self) -> None:
        """Write the file whole (a temporary file renamed over it), keys sorted, so that a diff shows what changed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({KEY: dict(sorted(self.identities.items()))}, indent=2) + "\n"
        try:
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=".pins-", delete=False, encoding="utf-8") as handle:
                handle.write(text)
            os.replace(handle.name, self.path)
        except OSError as err:
            raise UsageError(f"pin file {self.path}: cannot be written: {err.strerror or err}") from err


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pin.sh", description="Pin the identity of checked archives (see docs/deployment.md).")
    parser.add_argument("paths", type=Path, nargs="+", help="model stores (their *.mar) or .mar files")
    parser.add_argument("--pins", type=Path, default=DEFAULT_PINS, help=f"the pin file (default: {DEFAULT_PINS})")
    parser.add_argument("--first-start", action="store_true", help="only when the pin file does not exist yet (what the "
                        "serving scripts run before they start)")
    args = parser.parse_args(argv)
    if args.first_start and args.pins.exists():
        return 0
    archives = [mar for path in args.paths for mar in (sorted(path.glob("*.mar")) if path.is_dir() else [path])]
    try:
        pins = Pins.load(args.pins)
        checked = {read_mar(mar).name: (mar, verify_mar(mar)) for mar in archives}
        pins.with_identities({name: identity for name, (_, identity) in checked.items()}).save()
    except MarkitError as err:
        return report("pin", err)
    for name, (mar, identity) in checked.items():
        before = pins.identities.get(name)
        change = "unchanged" if before == identity else (f"was {before}" if before else "new")
        print(f"{mar.name}: {name} pinned to {identity} ({change}) in {args.pins}")
    if args.first_start:
        print(f"first start: {len(checked)} model(s) pinned in {args.pins}; from now on a changed archive is refused unless "
              "re-pinned (./scripts/pin.sh) or signed by a key the trust policy names", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
