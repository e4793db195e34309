"""The pronouncing dictionary the pipeline ships as its table: cmudict-0.7b, as the sdist of ``pronouncing`` 0.1.5
ships it (the file examples/g2p_en/lexicon.py measures against), read into ``{word: [pronunciation, ...]}``.

Words are lowercased with their variants folded (``READ(1)`` becomes a second pronunciation of ``read``); only
words of letters and apostrophes are kept, which is what the pipeline's ``words`` function makes of a text.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

__all__ = ["OLD_SHA256", "dictionary", "write_table"]

OLD_DICTIONARY = "cmudict-0.7b"
OLD_SHA256 = "209a8b4cd265013e96f4658632a9878103b0c5abf62b50d4ef3ae1be226b29e4"
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def dictionary() -> dict[str, list[str]]:
    """cmudict-0.7b: word -> its pronunciations, in the file's order."""
    spec = importlib.util.find_spec("pronouncing")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pronouncing is not installed: ./scripts/setup.sh installs it")
    data = (Path(next(iter(spec.submodule_search_locations))) / OLD_DICTIONARY).read_bytes()
    if hashlib.sha256(data).hexdigest() != OLD_SHA256:
        raise SystemExit(f"{OLD_DICTIONARY} is not the file this example was defined on (sha256 differs)")
    table: dict[str, list[str]] = {}
    for line in data.decode("latin-1").splitlines():
        if not line or line.startswith(";;;"):
            continue
        head, pronunciation = line.split("  ", 1)
        word = re.sub(r"\(\d+\)$", "", head).lower()
        if WORD.fullmatch(word):
            table.setdefault(word, []).append(pronunciation.strip())
    return table


def write_table(path: Path) -> int:
    """Write the table as compact JSON, keys sorted; the number of words."""
    table = dictionary()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, sort_keys=True, separators=(",", ":")), encoding="utf-8")
    return len(table)
