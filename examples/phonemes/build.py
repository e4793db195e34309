"""Build the phonemes pipeline from the g2p archive in a store, into that store.

    python examples/phonemes/build.py --store DIR

DIR must hold g2p_en.mar (examples/g2p_en/port.py --output DIR). Its identity is read from the archive, after the
checks a server makes, and pinned in the pipeline (steps.g2p.identity). The dictionary table is written from
pronouncing's cmudict-0.7b (dictionary.py). The golden example is a sentence with words of the dictionary, whose
expected pronunciations are read from the dictionary file here, and words it lacks, expected from the g2p step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from markit.archive.verify import verify_mar
from markit.builder import BuildError, build_archive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dictionary import dictionary, write_table
from pipeline import words

HERE = Path(__file__).resolve().parent
GOLDEN = "Kubernetes and quinoa, read aloud."  # kubernetes and quinoa are newer than cmudict-0.7b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="holds g2p_en.mar; the pipeline is built into it")
    args = parser.parse_args(argv)
    mar = args.store / "g2p_en.mar"
    if not mar.is_file():
        raise SystemExit(f"{mar} does not exist: python examples/g2p_en/port.py --output {args.store}")
    count = write_table(HERE / "build" / "cmudict.json")
    overrides = [f"steps.g2p.archive={mar.resolve()}", f"steps.g2p.identity={verify_mar(mar)}",
                 "golden=" + json.dumps([write_golden(HERE / "build" / "golden")])]
    try:
        result = build_archive(HERE / "spec.yaml", args.store, progress=lambda _: None, overrides=overrides)
    except BuildError as err:
        raise SystemExit(f"phonemes: {err}") from None
    print(f"built {result.path} identity {result.manifest['identity'][:19]}…, a table of {count} words, step g2p = "
          f"{result.manifest['spec']['steps']['g2p']['identity'][:19]}…")
    return 0


def write_golden(directory: Path) -> dict:
    """The golden sentence: each word's source, and the dictionary's first pronunciation for those it has."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sentence.txt").write_text(GOLDEN, encoding="utf-8")
    table = dictionary()
    expected = [{"word": word, "source": "dictionary", "pronunciation": table[word][0]} if word in table
                else {"word": word, "source": "g2p"} for word in words(GOLDEN)]
    return {"input": "build/golden/sentence.txt", "expected": {"words": expected}}


if __name__ == "__main__":
    sys.exit(main())
