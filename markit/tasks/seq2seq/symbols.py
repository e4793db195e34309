"""A sequence model's own symbol tables (``seq2seq``): text -> input ids, output ids -> symbols.

Each table is a JSON list of symbols shipped in the archive (``symbols/input.json``, ``symbols/output.json``);
a symbol's id is its position. The manifest's ``spec.symbols`` says how a text becomes symbols:

- ``split``: ``characters`` (each character is a symbol, as spelling for G2P) or ``spaces`` (symbols
  separated by whitespace);
- ``lowercase``: lowercase the text first;
- ``map``: a declared replacement for symbols outside the table (g2p-en feeds ``<unk>`` for an apostrophe);
- ``end``: the symbol appended to every input; ``pad``: the one padding a batch.

Any other symbol outside the table is a 400 naming it, never a silent ``<unk>``. On the output side,
``start`` is fed first, ``end`` stops a hypothesis and ``never`` lists symbols the search may not produce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...core.errors import ArchiveError, BadInput

__all__ = ["SPLITS", "InputSymbols", "OutputSymbols", "read_table"]

SPLITS = ("characters", "spaces")
SHOWN = 5  # unknown symbols named in one message


def read_table(path: Path) -> list[str]:
    """A symbol table file: a JSON list of distinct, non-empty strings."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArchiveError(f"symbol table {path.name} cannot be read: {err}") from err
    if not isinstance(table, list) or not table or not all(isinstance(s, str) and s for s in table):
        raise ArchiveError(f"symbol table {path.name}: expected a JSON list of non-empty strings")
    if len(set(table)) != len(table):
        repeated = sorted({s for s in table if table.count(s) > 1})
        raise ArchiveError(f"symbol table {path.name}: symbol {repeated[0]!r} appears more than once")
    return table


def _id(ids: Mapping[str, int], symbol: str, key: str) -> int:
    if symbol not in ids:
        raise ArchiveError(f"manifest spec.symbols.{key}: {symbol!r} is not in the symbol table")
    return ids[symbol]


@dataclass(frozen=True)
class InputSymbols:
    """How a text becomes the encoder's ids."""

    table: tuple[str, ...]
    index: Mapping[str, int]  # symbol -> id
    split: str
    lowercase: bool
    mapping: Mapping[str, str]
    end: int | None
    pad: int

    @classmethod
    def from_manifest(cls, directory: Path, section: Mapping[str, Any]) -> InputSymbols:
        try:
            table = read_table(directory / section["file"])
            ids = {symbol: index for index, symbol in enumerate(table)}
            mapping = dict(section.get("map") or {})
            for source, target in mapping.items():
                _id(ids, target, f"input.map.{source}")
            if section["split"] not in SPLITS:
                raise ArchiveError(f"manifest spec.symbols.input.split {section['split']!r} is not one of {list(SPLITS)}")
            end = _id(ids, section["end"], "input.end") if section.get("end") else None
            return cls(tuple(table), ids, section["split"], bool(section["lowercase"]), mapping, end,
                       _id(ids, section["pad"], "input.pad"))
        except (KeyError, TypeError) as err:
            raise ArchiveError(f"manifest spec.symbols.input is invalid: {err!r}") from err

    def symbols_of(self, text: str) -> list[str]:
        text = text.lower() if self.lowercase else text
        return list(text) if self.split == "characters" else text.split()

    def encode(self, text: str, where: str) -> tuple[int, ...]:
        """The ids of ``text`` (and the end symbol); 400 naming the symbols outside the table (``where``: which text)."""
        ids = self.index
        symbols = [self.mapping.get(symbol, symbol) for symbol in self.symbols_of(text)]
        unknown = sorted({symbol for symbol in symbols if symbol not in ids})
        if unknown:
            shown = ", ".join(repr(symbol) for symbol in unknown[:SHOWN]) + (" ..." if len(unknown) > SHOWN else "")
            accepted = "".join(s for s in self.table if len(s) == 1) if self.split == "characters" else ""
            hint = f"; this model reads only {accepted!r}" if accepted else "; send symbols from the model's input table"
            raise BadInput(f"{where}: {len(unknown)} symbol(s) outside this model's input symbols: {shown}{hint}")
        return tuple(ids[symbol] for symbol in symbols) + ((self.end,) if self.end is not None else ())

    def batch(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Id sequences -> (ids padded on the right with ``pad`` to the longest, and at least 2 wide, as an exported
        encoder's dynamic length requires; lengths)."""
        longest = max(2, *(len(ids) for ids in sequences))
        tokens = torch.full((len(sequences), longest), self.pad, dtype=torch.long)
        for row, ids in enumerate(sequences):
            tokens[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return tokens, torch.tensor([len(ids) for ids in sequences], dtype=torch.long)


@dataclass(frozen=True)
class OutputSymbols:
    """The decoder's vocabulary: what starts and ends a hypothesis, what it may never produce, how it is joined."""

    table: tuple[str, ...]
    start: int
    end: int
    never: tuple[int, ...]
    join: str

    @classmethod
    def from_manifest(cls, directory: Path, section: Mapping[str, Any]) -> OutputSymbols:
        try:
            table = read_table(directory / section["file"])
            ids = {symbol: index for index, symbol in enumerate(table)}
            never = tuple(_id(ids, symbol, "output.never") for symbol in section.get("never") or ())
            return cls(tuple(table), _id(ids, section["start"], "output.start"), _id(ids, section["end"], "output.end"),
                       never, str(section["join"]))
        except (KeyError, TypeError) as err:
            raise ArchiveError(f"manifest spec.symbols.output is invalid: {err!r}") from err

    def symbols(self, ids: Sequence[int]) -> list[str]:
        return [self.table[i] for i in ids]
