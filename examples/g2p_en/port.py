"""Port g2p-en's pretrained GRU encoder-decoder to a torch module, prove it decodes as the original does, measure
it, and build its archive:

    python examples/g2p_en/port.py --output model_store

1. The checkpoint (g2p-en's ``checkpoint20.npz``, read with numpy) becomes ``build/weights.safetensors`` for
   ``model.py``'s ``GruG2P``; g2p-en's own symbol lists become ``build/graphemes.json`` and ``build/phonemes.json``.
2. The archive is built, and greedy decoding through its handler must give g2p-en's own numpy decoder's output
   (``reference.py``) exactly, on every held-out word and a sample of seen ones; otherwise nothing is published.
3. WER/PER, greedy and beam, are measured through the archive (``evaluate.py``), with the n-best of the
   heteronyms read, live and record, and recorded in the manifest's ``metadata.quality`` of the final build.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import evaluate  # noqa: E402
import lexicon  # noqa: E402
import reference  # noqa: E402

from markit.builder import BuildError, build_archive  # noqa: E402
from markit.offline import LocalArchive  # noqa: E402

BUILD = HERE / "build"
# checkpoint array -> GruG2P parameter (the GRU gates are stacked r, z, n in both)
PARAMETERS = {
    "enc_emb.weight": "enc_emb", "encoder.weight_ih_l0": "enc_w_ih", "encoder.weight_hh_l0": "enc_w_hh",
    "encoder.bias_ih_l0": "enc_b_ih", "encoder.bias_hh_l0": "enc_b_hh", "dec_emb.weight": "dec_emb",
    "decoder.weight_ih": "dec_w_ih", "decoder.weight_hh": "dec_w_hh", "decoder.bias_ih": "dec_b_ih",
    "decoder.bias_hh": "dec_b_hh", "fc.weight": "fc_w", "fc.bias": "fc_b",
}
HETERONYMS = ("read", "live", "record")
SEEN_CHECKED = 2000  # seen words whose greedy output is compared with the original's too


def port(original: Any) -> None:
    BUILD.mkdir(exist_ok=True)
    state = {name: torch.from_numpy(np.array(original.variables[array])) for name, array in PARAMETERS.items()}
    save_file(state, str(BUILD / "weights.safetensors"))
    (BUILD / "graphemes.json").write_text(json.dumps(original.graphemes), encoding="utf-8")
    (BUILD / "phonemes.json").write_text(json.dumps(original.phonemes), encoding="utf-8")
    print(f"ported {reference.CHECKPOINT}: {sum(v.numel() for v in state.values()):,} parameters, "
          f"{len(original.graphemes)} graphemes, {len(original.phonemes)} phonemes")


def check_greedy(generate: evaluate.Generate, original: Any) -> int:
    words = lexicon.lexicon()
    old = lexicon.old_words()
    chosen = lexicon.held_out(words, old) + lexicon.seen_sample(words, old, SEEN_CHECKED)
    ours = [found[0] for found in generate(chosen, {"beam_width": 1, "num_candidates": 1})]
    theirs = [" ".join(original.predict(word)) for word in chosen]
    differ = [(word, a, b) for word, a, b in zip(chosen, ours, theirs, strict=True) if a != b]
    if differ:
        word, a, b = differ[0]
        raise SystemExit(f"greedy decoding differs from g2p-en's on {len(differ)} of {len(chosen)} words, e.g. "
                         f"{word!r}: {a!r} vs {b!r}; not publishing the port")
    print(f"greedy decoding through the archive = g2p-en's own numpy decoder on all {len(chosen)} words checked")
    return len(chosen)


def heteronyms(generate: evaluate.Generate) -> dict[str, Any]:
    words = lexicon.lexicon()
    found = generate(list(HETERONYMS), {})
    report = {}
    for word, candidates in zip(HETERONYMS, found, strict=True):
        ranks = {pron: (candidates.index(pron) + 1 if pron in candidates else None) for pron in words[word]}
        print(f"{word}: dictionary pronunciations at n-best rank {ranks}")
        report[word] = ranks
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("model_store"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    original = reference.original()
    port(original)
    with tempfile.TemporaryDirectory(prefix="g2p-port-") as tmp:
        first = _build(Path(tmp), [])
        with LocalArchive(first.path) as archive:
            generate = evaluate.archive_generator(archive)
            checked = check_greedy(generate, original)
            quality = evaluate.evaluate_archive(generate, archive.manifest["spec"]["search"], evaluate.SEEN)
            quality["heteronyms_nbest_rank"] = heteronyms(generate)
    quality["greedy_equals_original_on"] = checked
    result = _build(args.output, [f"metadata.quality={json.dumps(quality)}"])
    print(f"built {result.path} (quality in its manifest's metadata.quality)")


def _build(output: Path, overrides: list[str]) -> Any:
    try:
        return build_archive(HERE / "spec.yaml", output, progress=lambda _: None, overrides=overrides)
    except BuildError as err:
        raise SystemExit(f"building {HERE / 'spec.yaml'} failed: {err}") from err


if __name__ == "__main__":
    main()
