"""The phonemes pipeline's own glue (its ``source``): a text's words, and one pronunciation per word."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
TOKEN = re.compile(r"\S+")
MAX_WORDS = 64  # the words of one request: each unknown one is a beam search of the g2p step
MAX_CHARS = 4096  # 64 words of the g2p step's 32 characters at most, with room for spaces and punctuation


def words(text: Any) -> list[str]:
    """The text's words, lowercased, accents dropped, punctuation around them stripped; in order. A token holding a
    digit or another script is refused (a ValueError: the caller's 422 naming it), never silently skipped."""
    if isinstance(text, bytes):  # a KServe v2 BYTES element, or a body of no text content type
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"the text is not UTF-8 (byte {err.start}); send UTF-8 text") from None
    if not isinstance(text, str):
        raise ValueError(f"send the text as text/plain or a JSON string, not {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ValueError(f"the text has {len(text)} characters; send at most {MAX_CHARS} (up to {MAX_WORDS} words)")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    found = []
    for token in TOKEN.findall(plain):
        core = token.strip(".,;:!?\"()[]{}-")
        if not core:
            continue
        if not WORD.fullmatch(core):
            raise ValueError(f"{token[:40]!r} is not a word of letters (spell numbers and symbols out)")
        found.append(core)
    if not found:
        raise ValueError("the text holds no words")
    if len(found) > MAX_WORDS:
        raise ValueError(f"the text holds {len(found)} words; send at most {MAX_WORDS} per request")
    return found


def pronunciations(words: list[str], said: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each word with one pronunciation: the dictionary's first, or the g2p archive's best, and which it was."""
    result = []
    for word, item in zip(words, said, strict=True):
        if item["case"] == "dictionary":
            result.append({"word": word, "pronunciation": item["value"][0], "source": "dictionary"})
        else:
            result.append({"word": word, "pronunciation": item["value"]["candidates"][0]["output"], "source": "g2p"})
    return result
