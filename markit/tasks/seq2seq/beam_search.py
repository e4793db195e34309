"""Beam search over a decoder step, for every input of a batch at once (``seq2seq``; docs/seq2seq.md).

Each input (a word, for G2P) has its own ``Search`` settings. Per step, the hypotheses still alive for
every input of the batch go through ONE call of the decoder step (in chunks of at most ``max_rows``
rows, the program's batch limit); each input then keeps its own best ``beam_width`` continuations.

- A hypothesis's ``log_prob`` is the sum of its symbols' log-probabilities (log-softmax of the step's
  logits, the ``end`` symbol included when it finished); its ``score`` is ``log_prob / steps **
  length_penalty`` (``steps``: symbols generated, ``end`` included), so 0 ranks by log-probability alone
  and larger values favour longer outputs. Candidates are returned best score first.
- A continuation ending with ``end`` finishes only when it ranks within the input's best ``beam_width``
  continuations of that step; the input's search stops when ``beam_width`` hypotheses have finished, when
  no hypothesis alive can still score above its ``num_candidates``-th finished one, or after
  ``max_length`` steps (the hypotheses then alive are candidates too, with ``finished: false``).
- ``beam_width`` 1 is greedy decoding: the most probable symbol at every step, stopping at ``end``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["Hypothesis", "Search", "beam_search"]

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Search:
    beam_width: int
    num_candidates: int
    max_length: int
    length_penalty: float

    def score(self, log_prob: float, steps: int) -> float:
        return log_prob / steps ** self.length_penalty if self.length_penalty else log_prob

    def best_possible(self, log_prob: float) -> float:
        """The highest score any continuation of an alive hypothesis can reach (log-probabilities only fall;
        with a length penalty, the longest allowed length divides the most)."""
        return log_prob / self.max_length ** self.length_penalty if self.length_penalty else log_prob


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated symbols, without the start and end symbols
    log_prob: float
    score: float
    finished: bool


@dataclass
class _Input:
    """The search of one input: its settings, alive hypotheses (tokens, log-prob), finished ones."""

    search: Search
    alive: list[tuple[tuple[int, ...], float]]
    finished: list[Hypothesis]
    done: bool = False

    def candidates(self) -> list[Hypothesis]:
        steps = [Hypothesis(tokens, lp, self.search.score(lp, max(len(tokens), 1)), False) for tokens, lp in self.alive]
        ranked = sorted(self.finished, key=lambda h: -h.score)
        if len(ranked) < self.search.num_candidates:
            ranked += sorted(steps, key=lambda h: -h.score)
        return ranked[:self.search.num_candidates]

    def settled(self) -> bool:
        search, finished = self.search, sorted(h.score for h in self.finished)
        if len(finished) >= search.beam_width or not self.alive:
            return True
        if len(finished) < search.num_candidates:
            return False
        best_alive = max(search.best_possible(lp) for _, lp in self.alive)
        return best_alive <= finished[-search.num_candidates]


def beam_search(states: torch.Tensor, searches: Sequence[Search], step: Step, start: int, end: int,
                never: Sequence[int] = (), max_rows: int = 1024) -> list[list[Hypothesis]]:
    """Candidates for each input: ``states`` holds one encoder state row per input (``searches[i]`` is its
    settings); ``step(previous symbols, states) -> (logits, states)`` is the decoder step."""
    inputs = [_Input(search, [((), 0.0)], []) for search in searches]
    rows = states
    previous = torch.full((len(inputs),), start, dtype=torch.long)
    length = 0
    while any(not item.done for item in inputs):
        length += 1
        logits, rows = _step(step, previous, rows, max_rows)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        if never:
            log_probs[:, list(never)] = -math.inf
        sources, symbols, offset = [], [], 0
        for item in inputs:
            if item.done:
                continue
            count = len(item.alive)
            chosen = _advance(item, log_probs[offset:offset + count], end, length)
            sources += [offset + source for source, _ in chosen]
            symbols += [symbol for _, symbol in chosen]
            offset += count
        if not sources:
            break
        index = torch.tensor(sources, dtype=torch.long)
        rows, previous = rows.index_select(0, index), torch.tensor(symbols, dtype=torch.long)
    return [item.candidates() for item in inputs]


def _step(step: Step, previous: torch.Tensor, rows: torch.Tensor, max_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    if previous.shape[0] <= max_rows:
        return step(previous, rows)
    parts = [step(previous[i:i + max_rows], rows[i:i + max_rows]) for i in range(0, previous.shape[0], max_rows)]
    return torch.cat([logits for logits, _ in parts]), torch.cat([state for _, state in parts])


def _advance(item: _Input, log_probs: torch.Tensor, end: int, length: int) -> list[tuple[int, int]]:
    """One step of one input: its new alive hypotheses (returned as (source row, symbol) pairs, in order),
    finished ones recorded; marks it done when it stops."""
    search = item.search
    totals = torch.tensor([lp for _, lp in item.alive]).unsqueeze(1) + log_probs
    vocabulary = totals.shape[1]
    flat = totals.reshape(-1)
    best = torch.topk(flat, min(2 * search.beam_width, flat.numel()))
    alive: list[tuple[tuple[int, ...], float]] = []
    chosen: list[tuple[int, int]] = []
    for rank, (value, index) in enumerate(zip(best.values.tolist(), best.indices.tolist(), strict=True)):
        if value == -math.inf or len(alive) == search.beam_width:
            break
        source, symbol = divmod(index, vocabulary)
        tokens = item.alive[source][0]
        if symbol == end:
            if rank < search.beam_width:
                item.finished.append(Hypothesis(tokens, value, search.score(value, length), True))
            continue
        alive.append(((*tokens, symbol), value))
        chosen.append((source, symbol))
    item.alive = alive
    if length >= search.max_length or item.settled():
        item.done = True
        return []
    return chosen
