"""Write the 1000 ImageNet-1k class names, in class-index order, to build/labels.txt.

Derived, never hand-typed: timm ships the ImageNet-1k synset ids in class order
(``imagenet_synsets.txt``) and their WordNet lemmas (``imagenet_synset_to_lemma.txt``). Only those
data files are read, through the installed distribution's file list: timm itself is never imported
(it would need torchvision). A class is named by its first lemma, e.g. ``tabby``, ``espresso``.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

DATA = "timm/data/_info/"


def imagenet_labels() -> list[str]:
    try:
        timm = metadata.distribution("timm")
    except metadata.PackageNotFoundError:
        sys.exit("timm's data files are needed: pip install --no-deps timm (scripts/setup.sh does this)")
    synsets = timm.locate_file(DATA + "imagenet_synsets.txt").read_text(encoding="utf-8").split()
    lemmas = dict(
        line.split("\t", 1)
        for line in timm.locate_file(DATA + "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines()
        if "\t" in line
    )
    if len(synsets) != 1000:
        sys.exit(f"expected 1000 ImageNet-1k synsets in timm's data, found {len(synsets)}")
    return [lemmas[synset].split(",")[0].strip() for synset in synsets]


def main() -> None:
    target = Path(__file__).resolve().parent / "build" / "labels.txt"
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(imagenet_labels()) + "\n", encoding="utf-8")
    print(f"wrote {target} (1000 ImageNet-1k labels from timm's data files)")


if __name__ == "__main__":
    main()
