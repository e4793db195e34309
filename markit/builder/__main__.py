"""``python -m markit.builder SPEC.yaml [--output DIR] [--sign KEY.pem] [--pins FILE]``: what scripts/build_mar.sh runs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..archive.pins import Pins
from ..errors import UsageError, report
from .errors import BuildError
from .pipeline import build_archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_mar.sh", description="Build a verified .mar from a YAML spec.")
    parser.add_argument("spec", type=Path, help="the model spec (YAML); see docs/spec.md")
    parser.add_argument("--output", type=Path, default=Path("model_store"), help="directory for NAME.mar (default: model_store)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a spec value, e.g. --set serving.workers=2 (repeatable; validated like the file)")
    parser.add_argument("--sign", type=Path, metavar="KEY.pem",
                        help="sign every member with this ECDSA private key (PEM); servers check it with a trust policy")
    parser.add_argument("--pins", type=Path, metavar="FILE",
                        help="pin the new archive's identity in this pin file (build_mar.sh: config/pins.json; markit.archive.pins)")
    parser.add_argument("--traceback", action="store_true", help="on failure, print the traceback too (for reporting a bug)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.sign is not None and not args.sign.is_file():
        return report("build failed", UsageError(f"--sign {args.sign}: no such key file; give an ECDSA private key in PEM "
                                                 "(docs/deployment.md#signed-archives)"))
    try:
        result = build_archive(args.spec, args.output, overrides=args.overrides, sign_key=args.sign)
        if args.pins is not None:
            Pins.load(args.pins).with_identities({result.manifest["spec"]["name"]: result.manifest["identity"]}).save()
    except (BuildError, UsageError) as err:
        return report("build failed", err, with_traceback=args.traceback)
    spec = result.manifest["spec"]
    size = result.path.stat().st_size / 1e6
    print(f"built {result.path} ({size:.1f} MB) in {result.seconds:.1f} s")
    print(f"  {spec['name']} {spec['version']} · task {spec['task']} · identity {result.manifest['identity']}"
          + (f" · signed with {args.sign.name}" if args.sign else "") + (f" · pinned in {args.pins}" if args.pins else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
