"""Task ``seq2seq``: a text in, the model's n-best output sequences with their scores out (docs/seq2seq.md).

The model ships as two programs (``encode``, ``decode_step``) or as its eager class with those methods; the
search (``beam_search.py``) and its settings, the symbol tables (``symbols.py``) and the limits travel in
the archive. A request is:

- ``text/plain`` (one text), a JSON string, or a JSON list of strings;
- or a JSON object ``{"text": <string or list>, "beam_width": 8, "num_candidates": 5, "max_length": 30,
  "length_penalty": 0.5}``, any option left out taking the archive's ``search`` default. The same options
  may come as form fields beside the text, and as a KServe v2 request's ``parameters`` (for all its instances).
  Each must lie within the archive's ``search.maxima`` (400 naming the option and its bound), and
  ``num_candidates`` may not exceed ``beam_width``. The request's texts x beam_width x max_length must lie
  within the archive's ``budgets.beam_steps`` (413 naming the budget and the three numbers).

One text answers ``{"input", "candidates": [{"output", "symbols", "log_prob", "score", "finished"}, ...],
"search": {...settings used}, "model"}``, best first; a list answers ``{"results": [{"input", "candidates"},
...], "search", "model"}`` in order. Every text of every request of a TorchServe batch is encoded in one call,
and all their beams advance together, one decoder call per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch

from ...core.declared import Input
from ...core.errors import ArchiveError, BadInput
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import RAW_FIELDS, Payload, decode_json_bytes, text_input
from ...core.unpacked import UnpackedArchive
from ...protocols.typed_outputs import TypedOutput
from .beam_search import Hypothesis, Search, beam_search
from .manifest import Seq2SeqSpec
from .symbols import InputSymbols, OutputSymbols

__all__ = ["OPTIONS", "SearchLimits", "SequenceGenerator"]

TEXT_KEY = "text"
SEARCH_OPTIONS = (  # per request, within the archive's search.maxima; a v2 request gives them as parameters or tensors
    Input("beam_width", "INT32", (), "beams searched, 1 to search.maxima.beam_width", required=False),
    Input("num_candidates", "INT32", (), "candidates answered, 1 to beam_width", required=False),
    Input("max_length", "INT32", (), "most output symbols, 1 to search.maxima.max_length", required=False),
    Input("length_penalty", "FP32", (), "the length penalty, 0 to search.maxima.length_penalty", required=False),
)
OPTIONS = tuple(option.name for option in SEARCH_OPTIONS)
DECIMALS = 6
MAX_ROWS = 1024  # rows of one decoder call (the converted programs' batch limit, markit.builder.convert.MAX_BATCH)


@dataclass(frozen=True)
class SearchLimits:
    """The archive's search settings and the most a request may ask for."""

    default: Search
    maxima: Search

    def resolve(self, options: Mapping[str, Any]) -> Search:
        """The search a request asks for: its options over the defaults, each within the maxima."""
        values = asdict(self.default)
        for name, value in options.items():
            values[name] = _option(name, value, getattr(self.maxima, name))
        return self.checked(Search(**values), "the request", BadInput)

    def checked(self, search: Search, where: str, error: type[Exception]) -> Search:
        if search.num_candidates > search.beam_width:
            raise error(f"{where}: num_candidates {search.num_candidates} is more than beam_width {search.beam_width}; "
                        "a beam search returns at most beam_width candidates (ask for a wider beam too)")
        return search


def _option(name: str, value: Any, most: float) -> int | float:
    """A request's option (JSON, or a form field's text) within [1, most] (length_penalty: [0, most])."""
    given = value
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = float(value.strip()) if name == "length_penalty" else int(value.strip())
        except ValueError:
            value = None
    if name == "length_penalty":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
            raise BadInput(f"length_penalty must be a number from 0 to {most:g} (this model's search.maxima), got {given!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise BadInput(f"{name} must be a whole number from 1 to {most:g} (this model's search.maxima.{name}), got {given!r}")
    return value


@dataclass(frozen=True)
class _Texts:
    """What a request asked: its texts' symbol ids and the search they get."""

    texts: tuple[str, ...]
    ids: tuple[tuple[int, ...], ...]
    search: Search


class SequenceGenerator(TaskHandler):
    task = "seq2seq"
    input_kind = "text"
    answer_fields: ClassVar[Mapping[str, str]] = {"input": "text", "candidates": "json", "search": "json", "model": "json"}
    takes = (Input(TEXT_KEY, "BYTES", (), "one text, UTF-8"), *SEARCH_OPTIONS)
    work_budget = "beam_steps"
    program_methods = ("encode", "decode_step")

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: Seq2SeqSpec = archive.spec
        self.inputs = InputSymbols.load(archive.directory, spec.symbols.input)
        self.outputs = OutputSymbols.load(archive.directory, spec.symbols.output)
        self.limits = SearchLimits(spec.search.settings(), spec.search.maxima.settings())
        self.encode, self.decode_step = model.programs["encode"], model.programs["decode_step"]

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[_Texts]:
        body, options = _split(payload)
        texts, single = text_input(body, self.budgets)
        search = self.limits.resolve(options)
        work = len(texts) * search.beam_width * search.max_length
        self.budgets.check("beam_steps", work, f"the request ({_count(len(texts), 'text')} x beam_width {search.beam_width} "
                                               f"x max_length {search.max_length})")
        ids = tuple(self.inputs.encode(text, "the text" if single else f"texts[{index}]") for index, text in enumerate(texts))
        return Decoded(detail=_Texts(tuple(texts), ids, search), rows=None if single else len(texts), work=work)

    def forward(self, items: list[Decoded[_Texts]]) -> list[list[Hypothesis]]:
        """Every text of the batch encoded at once; every beam advanced together (one decoder call per step)."""
        ids = [sequence for item in items for sequence in item.detail.ids]
        searches = [item.detail.search for item in items for _ in item.detail.ids]
        with torch.inference_mode():
            states = self.encode(*self.inputs.batch(ids))
            if not isinstance(states, torch.Tensor) or states.ndim == 0 or states.shape[0] != len(ids):
                raise ArchiveError(f"the encoder returned {_shape(states)} for {len(ids)} texts; expected one state row per text")
            return beam_search(states, searches, self._step, self.outputs.start, self.outputs.end, self.outputs.never, MAX_ROWS)

    def _step(self, previous: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = self.decode_step(previous, states)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ArchiveError(f"decode_step returned {_shape(result)}; expected (logits, states)")
        logits, states = result
        if logits.ndim != 2 or logits.shape != (previous.shape[0], len(self.outputs.table)):
            raise ArchiveError(f"decode_step returned logits {_shape(logits)} for {previous.shape[0]} beams; expected "
                               f"(beams, {len(self.outputs.table)}), one per output symbol")
        return logits, states

    def postprocess(self, output: Sequence[Any], item: Decoded[_Texts]) -> dict[str, Any]:
        found = [output] if item.rows is None else list(output)
        results = [{"input": text, "candidates": [self._candidate(h) for h in hypotheses]}
                   for text, hypotheses in zip(item.detail.texts, found, strict=True)]
        settings = asdict(item.detail.search)
        if item.rows is None:
            return {**results[0], "search": settings, "model": self.archive.summary}
        return {"results": results, "search": settings, "model": self.archive.summary}

    def _candidate(self, hypothesis: Hypothesis) -> dict[str, Any]:
        symbols = self.outputs.symbols(hypothesis.tokens)
        return {"output": self.outputs.join.join(symbols), "symbols": symbols, "log_prob": round(hypothesis.log_prob, DECIMALS),
                "score": round(hypothesis.score, DECIMALS), "finished": hypothesis.finished}

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        """``output`` BYTES [-1, n] (each text's candidates, best first) and ``score`` FP32 [-1, n]."""
        return (TypedOutput("output", "BYTES", (-1,), lambda answer: [c["output"] for c in answer["candidates"]]),
                TypedOutput("score", "FP32", (-1,), lambda answer: [c["score"] for c in answer["candidates"]]))


def _split(payload: Payload) -> tuple[Payload, dict[str, Any]]:
    """The request's text (as a payload ``text_input`` reads) and its search options, from a JSON object
    ``{"text": ..., options}`` or from form fields beside the body."""
    options = {name: value for name, value in payload.fields.items() if name in OPTIONS}
    fields = {name: value for name, value in payload.fields.items() if name not in OPTIONS}
    types = {name: kind for name, kind in payload.content_types.items() if name in fields}
    if TEXT_KEY in fields and not any(name in fields for name in RAW_FIELDS):  # a form field named text
        fields = {"body": fields.pop(TEXT_KEY), **fields}
        types = {"body": types.pop(TEXT_KEY, ""), **types}
    names = [name for name in RAW_FIELDS if name in fields]
    if len(names) == 1:
        name = names[0]
        value = decode_json_bytes(name, fields[name], types.get(name, ""))
        if isinstance(value, dict):
            unknown = sorted(set(value) - {TEXT_KEY, *OPTIONS})
            if unknown:
                raise BadInput(f"unknown JSON key {unknown[0]!r}; expected {TEXT_KEY!r} (a string or a list of strings) "
                               f"and options {list(OPTIONS)}")
            if TEXT_KEY not in value:
                raise BadInput(f"the JSON object needs {TEXT_KEY!r}: the text, or a list of texts")
            options.update({key: value[key] for key in OPTIONS if key in value})
            fields[name], types[name] = value[TEXT_KEY], "application/json"
    return Payload(fields, types), options


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _shape(value: Any) -> Any:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


HANDLER = SequenceGenerator  # the task's one handler class, found by markit.tasks.handler_class
