"""Write what ``model.py``'s ``Mtcnn`` is built from, taken from facenet-pytorch 2.6.0 without importing it
(its import pulls in torchvision):

    python examples/faces/weights.py --output examples/faces/build

- ``weights.safetensors``: the package's ``data/pnet.pt``, ``rnet.pt`` and ``onet.pt`` (state dicts, read with
  ``weights_only``), their names prefixed ``pnet.``, ``rnet.``, ``onet.``; checked to load into ``Mtcnn``
  strictly, so a missing or extra tensor fails here rather than in the builder;
- ``cascade.json``: the cascade's constants, facenet-pytorch's ``MTCNN`` defaults;
- ``<photo>.png``: the photos of ``photos.py`` (lossless), as golden inputs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import photos  # noqa: E402
from model import Mtcnn  # noqa: E402

NETWORKS = ("pnet", "rnet", "onet")
# facenet_pytorch.MTCNN's defaults (models/mtcnn.py)
CASCADE = {"min_face_size": 20, "thresholds": [0.6, 0.7, 0.7], "factor": 0.709}


def package_dir() -> Path:
    """Where pip installed facenet_pytorch, found without importing it (find_spec on a top-level package
    does not run its ``__init__``)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("facenet-pytorch is not installed: ./scripts/setup.sh installs it "
                         "(pip install --no-deps facenet-pytorch==2.6.0)")
    return Path(next(iter(spec.submodule_search_locations)))


def state_dict(data: Path) -> dict[str, torch.Tensor]:
    """The three networks' tensors under the module's names (``pnet.conv1.weight``, ...)."""
    state = {}
    for network in NETWORKS:
        for name, tensor in torch.load(data / f"{network}.pt", map_location="cpu", weights_only=True).items():
            state[f"{network}.{name}"] = tensor.contiguous()
    return state


def write(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "cascade.json").write_text(json.dumps(CASCADE, indent=2) + "\n", encoding="utf-8")
    state = state_dict(package_dir() / "data")
    Mtcnn({"cascade": output / "cascade.json"}).load_state_dict(state, strict=True)
    save_file(state, str(output / "weights.safetensors"))
    for name, photo in photos.photos().items():
        photo.save(output / f"{name}.png")
    print(f"wrote {output}: weights.safetensors ({sum(t.numel() for t in state.values()):,} parameters), "
          f"cascade.json, {', '.join(f'{name}.png' for name in photos.photos())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=HERE / "build")
    write(parser.parse_args().output)


if __name__ == "__main__":
    main()
