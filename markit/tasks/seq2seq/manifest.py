"""Task ``seq2seq``'s part of the manifest: the model's symbol tables and the beam search's settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...core.manifest_types import EagerModel, ProgramModel, SpecBase
from ...core.section import Section
from .beam_search import Search

__all__ = ["SPEC", "InputSymbolsSection", "OutputSymbolsSection", "SearchMaxima", "SearchSection", "Seq2SeqSpec", "Split", "Symbols"]

Split = Literal["characters", "spaces"]
Positive = Annotated[int, Field(ge=1)]


class InputSymbolsSection(Section):
    """How a text becomes the encoder's symbols (``symbols.py``); the table is a JSON list, id = position."""

    keeps_none = frozenset({"end"})  # written as null: no end symbol
    file: str
    size: Positive
    split: Split = "characters"
    lowercase: bool = False
    pad: str
    end: str | None = Field(None, description="appended to every input; null: none")
    map: dict[str, str] = Field({}, description="declared replacements for symbols outside the table")


class OutputSymbolsSection(Section):
    """The decoder's vocabulary: what starts and ends a hypothesis, what it never produces, how it is joined."""

    file: str
    size: Annotated[int, Field(ge=2)]
    start: str
    end: str
    never: tuple[str, ...] = Field((), description="symbols the search never produces")
    join: str = Field(" ", description="between output symbols in an answer's text")


class Symbols(Section):
    """The model's own input and output symbol tables and how a text becomes symbols."""

    input: InputSymbolsSection
    output: OutputSymbolsSection


class SearchMaxima(Section):
    """The most a request may ask for."""

    beam_width: Positive
    num_candidates: Positive
    max_length: Positive
    length_penalty: Annotated[float, Field(ge=0)] = 2.0

    def settings(self) -> Search:
        return Search(self.beam_width, self.num_candidates, self.max_length, self.length_penalty)

    @model_validator(mode="after")
    def _candidates_within_beam(self) -> SearchMaxima:
        if self.num_candidates > self.beam_width:
            raise ValueError(f"num_candidates {self.num_candidates} is more than beam_width {self.beam_width}; a beam "
                             "search returns at most beam_width candidates")
        return self


class SearchSection(SearchMaxima):
    """The beam search's settings (``beam_search.py``): a request's defaults, and the maxima it may ask for."""

    length_penalty: Annotated[float, Field(ge=0)] = 0.0
    maxima: SearchMaxima

    @model_validator(mode="after")
    def _within_maxima(self) -> SearchSection:
        over = [name for name in ("beam_width", "num_candidates", "max_length", "length_penalty")
                if getattr(self, name) > getattr(self.maxima, name)]
        if over:
            raise ValueError(f"{over[0]} {getattr(self, over[0])} is more than maxima.{over[0]} {getattr(self.maxima, over[0])}")
        return self


class Seq2SeqSpec(SpecBase):
    task: Literal["seq2seq"]
    symbols: Symbols
    search: SearchSection

    @model_validator(mode="after")
    def _methods_shipped(self) -> Seq2SeqSpec:
        model = self.model
        if not isinstance(model, EagerModel) and not (isinstance(model, ProgramModel) and model.programs):
            raise ValueError("seq2seq calls encode and decode_step: spec.model is the eager class, or one program per method")
        return self


SPEC = Seq2SeqSpec
