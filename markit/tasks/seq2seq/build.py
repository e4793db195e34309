"""Task ``seq2seq``: an encoder-decoder model, its symbol tables and its beam search's settings
(docs/seq2seq.md).

Spec keys: ``symbols`` (the input and output tables, JSON lists, and how a text becomes symbols) and
``search`` (beam_width, num_candidates, max_length, length_penalty, and the ``maxima`` a request may ask
for). The model is a class with ``encode(tokens, lengths) -> states`` and ``decode_step(previous, states)
-> (logits, states)``; a converted format ships each method as its own program, checked against the eager
method on the golden inputs. Manifest entries: ``symbols``, ``search``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from markit.core.errors import ArchiveError
from markit.tasks.seq2seq.beam_search import Search
from markit.tasks.seq2seq.handler import OPTIONS, SequenceGenerator
from markit.tasks.seq2seq.symbols import SPLITS, read_table

from ...builder.errors import SpecError
from ...builder.sections import REQUEST_BYTES, require_methods
from ...builder.spec_reader import Section, read_file
from ...builder.task import ProgramExample, Task

if TYPE_CHECKING:
    from markit.core.handler import Decoded

    from ...builder.spec import ModelSpec, Spec

__all__ = ["TASK", "InputSymbolsSpec", "OutputSymbolsSpec", "Seq2SeqSettings"]

# beam_steps: texts x beam_width x max_length of one request. 16384 is 64 texts at beam 8 to 32 symbols (G2P's
# own defaults for a full request), a quarter of 64 texts at beam 32 to 32 symbols, which held a worker ~100x longer
# than a one-word request
BUDGETS = {"request_bytes": REQUEST_BYTES, "instances": 64, "texts": 64, "text_chars": 64, "beam_steps": 16_384}
MAXIMA = {"beam_width": 64, "num_candidates": 64, "max_length": 512}  # what a spec's search.maxima may declare
INPUT_FILE, OUTPUT_FILE = "symbols/input.json", "symbols/output.json"


@dataclass(frozen=True)
class InputSymbolsSpec:
    file: Path
    table: tuple[str, ...]
    split: str
    lowercase: bool
    pad: str
    end: str | None
    map: dict[str, str]


@dataclass(frozen=True)
class OutputSymbolsSpec:
    file: Path
    table: tuple[str, ...]
    start: str
    end: str
    never: tuple[str, ...]
    join: str


@dataclass(frozen=True)
class Seq2SeqSettings:
    input: InputSymbolsSpec
    output: OutputSymbolsSpec
    search: Search
    maxima: Search


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> Seq2SeqSettings:
    symbols = top.section("symbols")
    symbols.allow({"input", "output"}, set())
    search, maxima = _search(top.section("search"))
    return Seq2SeqSettings(_input(symbols.section("input"), spec_dir, refs), _output(symbols.section("output"), spec_dir, refs),
                           search, maxima)


def _table(section: Section, spec_dir: Path, refs: dict[str, str]) -> tuple[Path, tuple[str, ...]]:
    """The file's symbols, read as a worker reads them (``markit.tasks.seq2seq.symbols.read_table``)."""
    path = read_file(section, "file", spec_dir, refs)
    try:
        return path, tuple(read_table(path))
    except ArchiveError as err:
        raise SpecError(f"{section.key('file')}: {err}") from err


def _member(section: Section, name: str, table: tuple[str, ...]) -> str:
    value = section.string(name)
    if value not in table:
        raise SpecError(f"{section.key(name)}: {value!r} is not in the symbol table {section.key('file')}")
    return value


def _input(section: Section, spec_dir: Path, refs: dict[str, str]) -> InputSymbolsSpec:
    section.allow({"file", "pad"}, {"split", "lowercase", "end", "map"})
    path, table = _table(section, spec_dir, refs)
    mapping = section.optional("map", dict) or {}
    for source, target in mapping.items():
        if not isinstance(source, str) or not source or not isinstance(target, str) or target not in table:
            raise SpecError(f"{section.key('map')}.{source}: map a symbol to one of the table's symbols, got {target!r}")
    lowercase = section.optional("lowercase", bool)
    return InputSymbolsSpec(path, table, section.choice("split", SPLITS, default="characters"), bool(lowercase),
                            _member(section, "pad", table), _member(section, "end", table) if section.data.get("end") is not None else None,
                            dict(mapping))


def _output(section: Section, spec_dir: Path, refs: dict[str, str]) -> OutputSymbolsSpec:
    section.allow({"file", "start", "end"}, {"never", "join"})
    path, table = _table(section, spec_dir, refs)
    never = section.optional("never", list) or []
    unknown = [symbol for symbol in never if symbol not in table]
    if unknown:
        raise SpecError(f"{section.key('never')}: {unknown[0]!r} is not in the symbol table {section.key('file')}")
    join = section.optional("join", str)
    start, end = _member(section, "start", table), _member(section, "end", table)
    if end in never:
        raise SpecError(f"{section.key('never')}: lists the end symbol {end!r}; a search could never finish")
    return OutputSymbolsSpec(path, table, start, end, tuple(never), " " if join is None else join)


def _search(section: Section) -> tuple[Search, Search]:
    section.allow({"beam_width", "num_candidates", "max_length", "maxima"}, {"length_penalty"})
    limits = section.section("maxima")
    limits.allow(set(OPTIONS) - {"length_penalty"}, {"length_penalty"})
    maxima = Search(*(limits.integer(name, default=1, low=1, high=MAXIMA[name]) for name in ("beam_width", "num_candidates", "max_length")),
                    _penalty(limits, 2.0))
    search = Search(*(section.integer(name, default=1, low=1, high=int(getattr(maxima, name)))
                      for name in ("beam_width", "num_candidates", "max_length")), _penalty(section, 0.0))
    if search.length_penalty > maxima.length_penalty:
        raise SpecError(f"{section.key('length_penalty')}: {search.length_penalty:g} is more than maxima.length_penalty "
                        f"{maxima.length_penalty:g}")
    for settings, where in ((search, section.prefix), (maxima, limits.prefix)):
        if settings.num_candidates > settings.beam_width:
            raise SpecError(f"{where}.num_candidates: {settings.num_candidates} is more than {where}.beam_width "
                            f"{settings.beam_width}; a beam search returns at most beam_width candidates")
    return search, maxima


def _penalty(section: Section, default: float) -> float:
    value = section.number("length_penalty", default=default)
    if value < 0:
        raise SpecError(f"{section.key('length_penalty')}: must be >= 0 (0 ranks by log-probability alone), got {value:g}")
    return value


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    settings: Seq2SeqSettings = spec.settings
    _check_work_budget(settings.search, spec.budgets["beam_steps"])
    (root / "symbols").mkdir()
    for symbols, file in ((settings.input, INPUT_FILE), (settings.output, OUTPUT_FILE)):
        (root / file).write_text(json.dumps(list(symbols.table), ensure_ascii=False, indent=0), encoding="utf-8")
    source, target = settings.input, settings.output
    return {
        "symbols": {
            "input": {"file": INPUT_FILE, "size": len(source.table), "split": source.split, "lowercase": source.lowercase,
                      "pad": source.pad, "end": source.end, "map": dict(source.map)},
            "output": {"file": OUTPUT_FILE, "size": len(target.table), "start": target.start, "end": target.end,
                       "never": list(target.never), "join": target.join},
        },
        "search": {**asdict(settings.search), "maxima": asdict(settings.maxima)},
    }


def _check_work_budget(search: Search, budget: int) -> None:
    """The archive must answer one text at its own default search within ``budgets.beam_steps``."""
    steps = search.beam_width * search.max_length
    if steps > budget:
        raise SpecError(f"budgets.beam_steps: {budget} is less than one text at the default search (search.beam_width "
                        f"{search.beam_width} x search.max_length {search.max_length} = {steps}); raise budgets.beam_steps "
                        "or lower the search's defaults")


def check_model(model: ModelSpec) -> None:
    if model.source is None:
        raise SpecError("model.source: the seq2seq task calls the class's encode and decode_step, so it needs source + class + "
                        "weights (a converted format ships each method as its own program)")


def check_staged(_spec: Spec, staging: Path, model: Mapping[str, Any]) -> None:
    require_methods(staging, model, SequenceGenerator.program_methods, "the seq2seq task calls encode(tokens, lengths) -> "
                    "states once per batch and decode_step(previous, states) -> (logits, states) per step (docs/seq2seq.md)")


class _Encode(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.encode(tokens, lengths)


class _DecodeStep(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, previous: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.decode_step(previous, states)


def program_examples(spec: Spec, handler: SequenceGenerator, items: list[Decoded]) -> dict[str, ProgramExample]:
    """Each method's module, inputs and dynamic dimensions, from the golden texts as the handler encodes them:
    ``encode`` on the padded batch (any batch, any length up to budgets.text_chars + the end symbol),
    ``decode_step`` on the first step of the search (any number of beams)."""
    ids = [sequence for item in items for sequence in item.detail.ids]
    tokens, lengths = handler.inputs.batch(ids)
    with torch.no_grad():
        states = handler.encode(tokens, lengths)
    batch, rows = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("beams", min=1, max=1024)
    sequence = torch.export.Dim("sequence", min=2, max=max(spec.budgets["text_chars"] + 1, 3))
    previous = torch.full((len(ids),), handler.outputs.start, dtype=torch.long)
    return {
        "encode": ProgramExample(_Encode(handler.instance), (tokens, lengths), ({0: batch, 1: sequence}, {0: batch})),
        "decode_step": ProgramExample(_DecodeStep(handler.instance), (previous, states),
                                      ({0: rows}, {0: rows})),
    }


TASK = Task(
    name="seq2seq",
    handler=SequenceGenerator,
    required_keys=frozenset({"symbols", "search"}),
    optional_keys=frozenset(),
    manifest_keys=("symbols", "search"),
    budgets=BUDGETS,
    parse=parse,
    stage=stage,
    hint="give the symbol tables under symbols and the beam search's settings under search",
    check_model=check_model,
    check_staged=check_staged,
    program_examples=program_examples,
)
