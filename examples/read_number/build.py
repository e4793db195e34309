"""Build the read_number pipeline from the step archives in a store, into that store.

    python examples/read_number/build.py --store DIR

DIR must hold digit_boxes.mar (examples/digit_boxes/train.py --store DIR) and digits.mar
(examples/digits/train.py --output DIR). Their identities are read from the archives, after the same checks a
server makes, and pinned in the pipeline (steps.NAME.identity), so the pipeline archive serves exactly these two.

Golden examples: held-out pages with their true numbers. The pipeline reads about three pages in four right
(evaluate.py), so a first build with no expectations reads a dozen candidate pages, and the first three it reads
right become the golden examples of the archive built next, checked at build through the whole pipeline: they
pin that reading down, and the accuracy is what evaluate.py measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from markit.archive.verify import verify_mar
from markit.builder import BuildError, build_archive
from markit.offline import LocalArchive, LocalRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pages import GOLDEN_SEED, held_out_pages, png, true_number

HERE = Path(__file__).resolve().parent
STEPS = {"boxes": "digit_boxes.mar", "digit": "digits.mar"}
GOLDEN_PAGES = 3
CANDIDATES = 12


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="holds digit_boxes.mar and digits.mar; the pipeline is built into it")
    args = parser.parse_args(argv)
    overrides = []
    for step, file in STEPS.items():
        mar = args.store / file
        if not mar.is_file():
            raise SystemExit(f"{mar} does not exist: build the step archives first (see this file's docstring)")
        overrides += [f"steps.{step}.archive={mar.resolve()}", f"steps.{step}.identity={verify_mar(mar)}"]
    try:
        with tempfile.TemporaryDirectory(prefix="read_number-") as scratch:
            candidates = write_candidates(HERE / "build" / "golden")
            first = build_archive(HERE / "spec.yaml", Path(scratch), progress=lambda _: None,
                                  overrides=[*overrides, "golden=" + json.dumps([{"input": candidates[0][0], "expected": {}}])])
            golden = read_right(first.path, candidates)
        result = build_archive(HERE / "spec.yaml", args.store, progress=lambda _: None,
                               overrides=[*overrides, "golden=" + json.dumps(golden)])
    except BuildError as err:
        raise SystemExit(f"read_number: {err}") from None
    steps = result.manifest["spec"]["steps"]
    print(f"built {result.path} identity {result.manifest['identity'][:19]}…, steps " +
          ", ".join(f"{name} = {step['name']} {step['identity'][:19]}…" for name, step in steps.items()))
    return 0


def write_candidates(directory: Path) -> list[tuple[str, str]]:
    """Held-out pages written as PNG: (the file, as the spec names it; its true number)."""
    directory.mkdir(parents=True, exist_ok=True)
    candidates = []
    for index, page in enumerate(held_out_pages(CANDIDATES, GOLDEN_SEED)):
        (directory / f"page_{index}.png").write_bytes(png(page))
        candidates.append((f"build/golden/page_{index}.png", true_number(page)))
    return candidates


def read_right(mar: Path, candidates: list[tuple[str, str]]) -> list[dict]:
    """The first GOLDEN_PAGES candidates the pipeline at ``mar`` reads as their true number, as golden examples."""
    with LocalArchive(mar) as pipeline:
        answers = pipeline.predict([LocalRequest.from_file(HERE / file) for file, _ in candidates])
    right = [{"input": file, "expected": {"number": number}} for (file, number), answer in zip(candidates, answers, strict=True)
             if answer.status == 200 and answer.body["number"] == number]
    if len(right) < GOLDEN_PAGES:
        raise SystemExit(f"read_number: the pipeline read only {len(right)} of {len(candidates)} candidate pages right; "
                         "check the step archives (examples/read_number/evaluate.py)")
    return right[:GOLDEN_PAGES]


if __name__ == "__main__":
    sys.exit(main())
