"""A sequence model's symbol tables (markit.tasks.seq2seq.symbols): texts become the model's own ids or a 400 naming the
symbols outside them; a broken table is the archive's fault (500), named."""

from __future__ import annotations

import json

import pytest
import torch

from markit.core.errors import ArchiveError, BadInput
from markit.tasks.seq2seq.symbols import InputSymbols, OutputSymbols


def table(tmp_path, name, symbols):
    (tmp_path / name).write_text(json.dumps(symbols))
    return name


def inputs(tmp_path, **section):
    file = table(tmp_path, "in.json", ["<pad>", "</s>", "a", "b", "c", "<unk>", "hello", "world"])
    return InputSymbols.from_manifest(tmp_path, {"file": file, "split": "characters", "lowercase": False, "pad": "<pad>",
                                                 "end": "</s>", "map": {}, **section})


def test_characters_become_ids_with_the_end_symbol_lowercased_and_mapped(tmp_path):
    symbols = inputs(tmp_path, lowercase=True, map={"'": "<unk>"})
    assert symbols.encode("Ab'c", "the text") == (2, 3, 5, 4, 1)


def test_space_separated_symbols_and_no_end_symbol(tmp_path):
    symbols = inputs(tmp_path, split="spaces", end=None)
    assert symbols.encode("  hello world a ", "the text") == (6, 7, 2)


def test_symbols_outside_the_table_are_named_once_each_five_at_most(tmp_path):
    with pytest.raises(BadInput, match=r"^texts\[2\]: 7 symbol\(s\) outside this model's input symbols: "
                                       r"'d', 'e', 'f', 'g', 'h' \.\.\.; this model reads only 'abc'$"):
        inputs(tmp_path).encode("abcdefghijdd", "texts[2]")
    with pytest.raises(BadInput, match="'A'"):  # not lowercased unless declared
        inputs(tmp_path).encode("A", "the text")


def test_a_batch_is_padded_on_the_right_with_lengths(tmp_path):
    tokens, lengths = inputs(tmp_path).batch([(2, 1), (2, 3, 4, 1)])
    assert tokens.tolist() == [[2, 1, 0, 0], [2, 3, 4, 1]] and lengths.tolist() == [2, 4]
    assert tokens.dtype == lengths.dtype == torch.long
    assert inputs(tmp_path).batch([(2,)])[0].tolist() == [[2, 0]]  # an exported encoder takes no length below 2


@pytest.mark.parametrize(("symbols", "message"), [
    (["a", "a"], "symbol 'a' appears more than once"),
    ([], "expected a JSON list of non-empty strings"),
    (["a", ""], "expected a JSON list of non-empty strings"),
])
def test_a_broken_table_is_the_archives_fault(tmp_path, symbols, message):
    file = table(tmp_path, "out.json", symbols)
    with pytest.raises(ArchiveError, match=message):
        OutputSymbols.from_manifest(tmp_path, {"file": file, "start": "a", "end": "a", "never": [], "join": " "})


def test_a_special_symbol_outside_the_table_is_named(tmp_path):
    file = table(tmp_path, "out.json", ["<s>", "</s>", "A"])
    with pytest.raises(ArchiveError, match=r"spec.symbols.output.never: '<pad>' is not in the symbol table"):
        OutputSymbols.from_manifest(tmp_path, {"file": file, "start": "<s>", "end": "</s>", "never": ["<pad>"], "join": " "})
    output = OutputSymbols.from_manifest(tmp_path, {"file": file, "start": "<s>", "end": "</s>", "never": ["<s>"], "join": "-"})
    assert (output.start, output.end, output.never, output.symbols([2, 2])) == (0, 1, (0,), ["A", "A"])
