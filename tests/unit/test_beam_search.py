"""The beam search against exhaustive enumeration on a small Markov chain: with a beam wide enough to keep every
hypothesis it finds the true n-best, beam 1 is greedy decoding, and a batch of inputs with different settings
(and decoder calls split in chunks) answers each input exactly as alone."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from markit.tasks.seq2seq.beam_search import Search, beam_search

START, END = 0, 1
SYMBOLS = (2, 3, 4)


def chain(seed: int) -> torch.Tensor:
    """Logits of the next symbol given the previous one (rows: previous symbol)."""
    return torch.randn(5, 5, generator=torch.Generator().manual_seed(seed)) * 2


def stepper(table: torch.Tensor, calls: list[int] | None = None):
    def step(previous: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if calls is not None:
            calls.append(previous.shape[0])
        return table[previous] + states[:, :1] * 0, states  # the state rides along (and must follow its beam)
    return step


def exhaustive(table: torch.Tensor, search: Search) -> list[tuple[tuple[int, ...], float, bool]]:
    """Every finished sequence of at most max_length steps, and the unfinished ones of max_length symbols, ranked."""
    log_probs = torch.log_softmax(table.double(), dim=-1)
    log_probs[:, START] = -math.inf
    found = []
    for length in range(search.max_length + 1):
        for tokens in itertools.product(SYMBOLS, repeat=length):
            path = (START, *tokens)
            total = sum(float(log_probs[a, b]) for a, b in itertools.pairwise(path))
            if length < search.max_length:
                total_end = total + float(log_probs[path[-1], END])
                found.append((tokens, search.score(total_end, length + 1), True))
            else:
                found.append((tokens, search.score(total, length), False))
    finished = sorted((f for f in found if f[2]), key=lambda f: -f[1])
    return finished[:search.num_candidates]


def search_one(table: torch.Tensor, search: Search, **kwargs) -> list:
    [found] = beam_search(torch.zeros(1, 3), [search], stepper(table), START, END, never=(START,), **kwargs)
    return found


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_a_beam_wide_enough_finds_the_exhaustive_n_best(seed, penalty):
    table, search = chain(seed), Search(beam_width=200, num_candidates=5, max_length=4, length_penalty=penalty)
    found = search_one(table, search)
    expected = exhaustive(table, search)
    assert [h.tokens for h in found] == [tokens for tokens, _, _ in expected]
    assert [h.score for h in found] == pytest.approx([score for _, score, _ in expected], abs=1e-5)
    assert all(h.finished for h in found)
    assert [h.score for h in found] == sorted((h.score for h in found), reverse=True)


@pytest.mark.parametrize("seed", range(10))
def test_beam_1_is_greedy_decoding(seed):
    table = chain(seed)
    tokens, previous = [], START
    for _ in range(6):
        scores = table[previous].clone()
        scores[START] = -math.inf
        previous = int(scores.argmax())
        if previous == END:
            break
        tokens.append(previous)
    [found] = search_one(table, Search(1, 1, 6, 0.0))
    assert found.tokens == tuple(tokens)
    assert found.finished == (len(tokens) < 6 or previous == END)


def test_a_search_that_reaches_max_length_returns_unfinished_candidates():
    table = torch.full((5, 5), -9.0)
    table[:, 2] = 9.0  # symbol 2 forever: the end is never likely
    found = search_one(table, Search(2, 2, 3, 0.0))
    assert found[0].tokens == (2, 2, 2) and found[0].finished is False


def test_inputs_with_different_settings_in_one_batch_answer_as_alone_and_decoder_calls_are_chunked():
    tables = chain(3)
    searches = [Search(1, 1, 5, 0.0), Search(4, 3, 5, 0.0), Search(8, 8, 3, 1.0), Search(3, 2, 5, 0.5)]
    alone = [search_one(tables, search) for search in searches]
    calls: list[int] = []
    together = beam_search(torch.zeros(len(searches), 3), searches, stepper(tables, calls), START, END, never=(START,), max_rows=3)
    assert together == alone
    assert max(calls) <= 3 and len(calls) > 5  # every step's rows went through in chunks of at most 3


@pytest.mark.parametrize("seed", range(4))
def test_the_state_follows_its_beam(seed):
    """A second-order chain whose step reads the symbol before the previous one from its state: the search finds the
    exhaustive n-best only when every row's state is its own hypothesis's after the beams are reordered."""
    table = torch.randn(5, 5, 5, generator=torch.Generator().manual_seed(seed)) * 2

    def step(previous: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return table[states.argmax(dim=1), previous], torch.nn.functional.one_hot(previous, 5).float()

    search = Search(beam_width=200, num_candidates=4, max_length=4, length_penalty=0.0)
    start_state = torch.nn.functional.one_hot(torch.tensor([START]), 5).float()
    [found] = beam_search(start_state, [search], step, START, END, never=(START,))
    log_probs = torch.log_softmax(table.double(), dim=-1)
    log_probs[..., START] = -math.inf
    ranked = []
    for length in range(search.max_length):
        for tokens in itertools.product(SYMBOLS, repeat=length):
            path = (START, START, *tokens, END)
            ranked.append((sum(float(log_probs[a, b, c]) for a, b, c in zip(path, path[1:], path[2:], strict=False)), tokens))
    ranked.sort(key=lambda item: -item[0])
    assert [h.tokens for h in found] == [tokens for _, tokens in ranked[:4]]
    assert [h.log_prob for h in found] == pytest.approx([value for value, _ in ranked[:4]], abs=1e-5)
