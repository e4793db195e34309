"""What one request may cost: the archive's declared budgets, checked before the expensive step.

Every archive's manifest carries ``spec.budgets``, one integer per kind its task declares (the builder
writes each task's defaults, which a spec's ``budgets:`` section may change); describe shows them. A
request over one is answered 413 naming the budget, before its bytes are decoded, tokenized or run:

- ``request_bytes``: the bytes of one request's input fields as the handler receives them (a body that
  TorchServe already parsed as JSON is bounded by the server's ``max_request_size`` and the budgets below);
- ``instances``: KServe instances in one request;
- ``pixels``: width x height of one image, read from its header before anything is decoded;
- ``texts``: texts in one request; ``text_chars``: characters in one text (only a prefix of a text within
  it is tokenized, see ``text.py``);
- ``rows``: feature rows in one request (also its KServe instances);
- ``beam_steps``: the search work of one seq2seq request, texts x beam_width x max_length (each text's beams
  advance at most max_length steps), summed over a KServe request's instances: checked once the options are
  read, before anything runs, so a request within the other budgets cannot still hold a worker 100x longer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import ArchiveError, PayloadTooLarge
from .payload import Payload

__all__ = ["BUDGET_KINDS", "Budgets", "input_bytes"]

BUDGET_KINDS = {
    "request_bytes": ("bytes", "send a smaller input"),
    "instances": ("instances", "split the instances over several requests"),
    "pixels": ("pixels", "send a smaller image"),
    "texts": ("texts", "split the texts over several requests"),
    "text_chars": ("characters", "send a shorter text"),
    "rows": ("rows", "split the rows over several requests"),
    "beam_steps": ("beam steps", "send fewer texts per request, or ask for a smaller beam_width or max_length"),
}


@dataclass(frozen=True)
class Budgets:
    """One archive's budgets; a kind its task does not declare is None (not checked)."""

    request_bytes: int
    instances: int | None = None
    pixels: int | None = None
    texts: int | None = None
    text_chars: int | None = None
    rows: int | None = None
    beam_steps: int | None = None

    @classmethod
    def from_manifest(cls, spec: Mapping[str, Any]) -> Budgets:
        section = spec.get("budgets")
        if not isinstance(section, Mapping):
            raise ArchiveError("manifest spec.budgets is missing: this archive predates input budgets; rebuild it "
                               "with ./scripts/build_mar.sh")
        unknown = sorted(set(section) - set(BUDGET_KINDS))
        bad = [key for key, value in section.items() if isinstance(value, bool) or not isinstance(value, int) or value < 1]
        if unknown or bad or "request_bytes" not in section:
            raise ArchiveError(f"manifest spec.budgets is invalid (unknown {unknown}, not a positive integer {bad}, "
                               f"request_bytes required): {dict(section)}")
        return cls(**section)

    def declared(self) -> dict[str, int]:
        """The budgets this archive declares, by kind."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def check(self, kind: str, amount: int, what: str) -> None:
        """413 when ``amount`` of ``what`` (e.g. "texts[3]") is over the budget ``kind``."""
        limit = getattr(self, kind)
        if limit is not None and amount > limit:
            unit, fix = BUDGET_KINDS[kind]
            raise PayloadTooLarge(f"{what}: {amount} {unit}, more than this model's budget of {limit} "
                                  f"(budgets.{kind}); {fix}")

    def check_request(self, payload: Payload) -> None:
        """The request's input fields as received: bytes and text are counted, parsed JSON is not."""
        self.check("request_bytes", input_bytes(payload.fields), "the request's input")


def input_bytes(fields: Mapping[str, Any]) -> int:
    """Bytes of a request's raw fields; a text TorchServe already decoded counts as its UTF-8 (ASCII: its length,
    no copy); JSON it already parsed counts nothing."""
    return sum(_size(value) for value in fields.values() if isinstance(value, (bytes, bytearray, str)))


def _size(value: bytes | bytearray | str) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return len(value)
